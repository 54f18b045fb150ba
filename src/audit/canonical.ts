/**
 * JSON with the keys of every object sorted, so that a value encodes the same after a round trip
 * through the database whatever order its keys come back in. Everything else follows
 * `JSON.stringify` (undefined dropped, `toJSON` applied, non-finite numbers as null), so a value and
 * its parsed JSON always encode alike.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, sortKeys) ?? 'null';
}

function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const source = value as Record<string, unknown>;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(source).sort()) sorted[key] = source[key];
  return sorted;
}
