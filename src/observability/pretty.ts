/**
 * The readable form of a log line, for a person at a terminal: `time LEVEL message key=value …`,
 * a request as `status METHOD route model → provider ms`, and a record marked `banner` as one
 * field per line. It reads the JSON line pino wrote (already redacted), so it sees exactly what
 * the JSON form would have said. Chosen only with `logging.format: pretty` or a terminal.
 */

/** Fields every line has, or that the request layout already shows. */
const SHOWN = new Set(['time', 'level', 'msg', 'service', 'pid', 'hostname', 'banner']);
const REQUEST = new Set([...SHOWN, 'method', 'route', 'status', 'model', 'provider', 'ms']);

/**
 * C0 and C1 controls, the Unicode line separators and the bidirectional overrides and isolates: a
 * client's text must not end a line, drive the terminal or reorder what it shows.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const escaped = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

const text = (value: unknown): string =>
  Array.isArray(value)
    ? value.map(text).join(', ')
    : typeof value === 'object' && value !== null
      ? JSON.stringify(value).replace(CONTROL, escaped)
      : String(value).replace(CONTROL, escaped);

function fields(record: Record<string, unknown>, skip: ReadonlySet<string>): string {
  return Object.entries(record)
    .filter(([key, value]) => !skip.has(key) && value !== undefined)
    .map(([key, value]) => ` ${key}=${text(value)}`)
    .join('');
}

export function prettyLine(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const head = `${time} ${String(record.level ?? '')
    .toUpperCase()
    .padEnd(5)}`;
  if (record.banner === true) {
    const rest = Object.entries(record).filter(([key]) => !SHOWN.has(key));
    return `${head} ${text(record.msg)}\n${rest.map(([key, value]) => `    ${key.padEnd(12)} ${text(value)}`).join('\n')}\n`;
  }
  if (typeof record.status === 'number' && typeof record.route === 'string') {
    const target = record.provider ? ` → ${text(record.provider)}` : '';
    const model = record.model === undefined ? '' : ` ${text(record.model)}${target}`;
    return `${head} ${record.status} ${text(record.method)} ${text(record.route)}${model} ${text(record.ms)}ms${fields(record, REQUEST)}\n`;
  }
  return `${head} ${text(record.msg)}${fields(record, SHOWN)}\n`;
}
