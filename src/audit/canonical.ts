/**
 * JSON with the keys of every object sorted, so that a value encodes the same after a round trip
 * through the database whatever order its keys come back in. Everything else follows
 * `JSON.stringify` (undefined dropped, `toJSON` applied, non-finite numbers as null), so a value and
 * its parsed JSON always encode alike. Written out rather than as a `JSON.stringify` replacer: a
 * replacer function costs several times more, and this runs for every audit record.
 */
export function canonicalJson(value: unknown): string {
  return encode(value) ?? 'null';
}

function encode(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    case 'bigint':
      // As JSON.stringify does: a bigint has no JSON form.
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      return undefined;
  }
  if (value === null) return 'null';
  const { toJSON } = value as { toJSON?: unknown };
  if (typeof toJSON === 'function') return encode(toJSON.call(value));
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += `${i > 0 ? ',' : ''}${encode(value[i]) ?? 'null'}`;
    return `${out}]`;
  }
  const source = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(source).sort()) {
    const encoded = encode(source[key]);
    if (encoded !== undefined) out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${encoded}`;
  }
  return `${out}}`;
}
