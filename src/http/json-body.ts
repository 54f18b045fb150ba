import { badRequest } from '../errors/gateway-error.js';
import { formatPath } from '../surfaces/zod-issue.js';

export interface JsonLimits {
  /** Deepest nesting of objects and arrays. */
  depth: number;
  /** Longest array anywhere in the document. */
  arrayItems: number;
  /** Most values (object members and array items together) in the whole document. */
  values: number;
}

/** A container met on the walk, with the way back to the root for naming its path on a refusal. */
interface Visit {
  value: object;
  depth: number;
  parent: Visit | undefined;
  key: string | number;
}

/** The path of `key` under `at`, as the surfaces name fields (`tools[0].input_schema.properties`). */
function pathOf(at: Visit, key: string | number): string {
  const parts: Array<string | number> = [key];
  for (let visit: Visit | undefined = at; visit?.parent; visit = visit.parent) parts.push(visit.key);
  return formatPath(parts.reverse());
}

/**
 * Walks a parsed JSON document once, iteratively (a deep document must not overflow the stack),
 * and refuses excessive depth, oversized arrays and the two shapes that reach `Object.prototype`
 * when a body is merged into another object: a `__proto__` key, and a `constructor` object with a
 * `prototype` key (the rule of Fastify's secure-json-parse). `constructor` or `prototype` alone is
 * a legitimate name (a tool parameter, a metadata key) and passes.
 */
export function assertSafeJson(root: unknown, limits: JsonLimits): void {
  if (typeof root !== 'object' || root === null) return;
  const stack: Visit[] = [{ value: root, depth: 1, parent: undefined, key: '' }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { value, depth } = visit;
    if (depth > limits.depth) {
      throw badRequest(
        `Request body is nested deeper than ${limits.depth} levels; nest less, or the operator raises limits.jsonDepth`,
        { code: 'json_too_deep' },
      );
    }
    if (Array.isArray(value)) {
      if (value.length > limits.arrayItems) {
        const path = visit.parent ? pathOf(visit.parent, visit.key) : null;
        throw badRequest(
          `Request body has an array longer than ${limits.arrayItems} items${path ? ` at ${path}` : ''}; send fewer, or the operator raises limits.arrayItems`,
          { code: 'json_array_too_long', param: path },
        );
      }
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null)
          stack.push({ value: item, depth: depth + 1, parent: visit, key: i });
      }
      continue;
    }
    for (const key in value) {
      // Whatever its value: nothing legitimate is named so.
      if (key === '__proto__') refuse(visit, key);
      const child = (value as Record<string, unknown>)[key];
      if (typeof child !== 'object' || child === null) continue;
      if (key === 'constructor' && Object.hasOwn(child, 'prototype')) refuse(visit, key);
      stack.push({ value: child, depth: depth + 1, parent: visit, key });
    }
  }
}

function refuse(at: Visit, key: '__proto__' | 'constructor'): never {
  const path = pathOf(at, key);
  const what = key === '__proto__' ? "the key '__proto__'" : "a 'constructor' object with a 'prototype' key";
  throw badRequest(
    `Request body has ${what} at ${path}, which can alter objects' prototypes; rename or remove it`,
    { code: 'forbidden_key', param: path },
  );
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;

/**
 * Whether `text` may hold more than `max` values, counted before it is parsed: every comma,
 * opening bracket and brace outside strings opens one (an empty container is counted too, which
 * errs on the side of refusing). Strings are skipped with `indexOf`, so a long string costs little.
 */
function holdsMoreValues(text: string, max: number): boolean {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && escaped(text, end)) end = text.indexOf('"', end + 1);
      // An unterminated string is malformed: JSON.parse says so.
      if (end === -1) return false;
      i = end;
    } else if ((c === COMMA || c === OPEN_BRACKET || c === OPEN_BRACE) && ++count > max) {
      return true;
    }
  }
  return false;
}

/** Whether the quote at `at` is escaped: an odd run of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let run = 0;
  while (text.charCodeAt(at - 1 - run) === BACKSLASH) run++;
  return run % 2 === 1;
}

/**
 * JSON.parse + `assertSafeJson`, with a client-facing message for malformed input. A body that
 * may hold more than `limits.values` values is refused before it is parsed: parsing and checking
 * a 10 MB body of hundreds of thousands of small members held the event loop for seconds, for
 * every client. Each value takes two characters at least, so a body of fewer than twice that many
 * characters is not scanned: the requests of every day are never looked at twice.
 */
export function parseJsonBody(text: string, limits: JsonLimits): unknown {
  if (text.length > 2 * limits.values && holdsMoreValues(text, limits.values)) {
    throw badRequest(
      `Request body holds more than ${limits.values} values (object members and array items); send less, or the operator raises limits.jsonValues`,
      { code: 'json_too_many_values' },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('Request body is not valid JSON', { code: 'invalid_json' });
  }
  assertSafeJson(value, limits);
  return value;
}
