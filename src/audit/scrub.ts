/**
 * What may be kept of an event's data: audit records never hold a secret. Fields named like a
 * credential are dropped whatever their value (a mask would still say a secret was there and how
 * long it was), every other string is redacted, and the result is plain JSON, so it seals the same
 * before and after its round trip through the store.
 */

/** Normalised names (lower case, letters and digits only) that are dropped outright. */
const SECRET_NAMES = new Set(['value', 'auth', 'bearer', 'cookie', 'setcookie', 'signature', 'salt']);
/** Suffixes that mark a credential: `apiKey`, `x-api-key`, `accessToken`, `clientSecret`, … */
const SECRET_SUFFIXES = [
  'key',
  'token',
  'secret',
  'password',
  'passwd',
  'passphrase',
  'authorization',
  'credential',
  'credentials',
  'ciphertext',
  'plaintext',
];
/** Data nested deeper than this is an accident; cutting it also ends any cycle. */
const MAX_DEPTH = 8;
const TOO_DEEP = '[too deep]';
const BINARY = '[binary]';

export function isSecretName(name: string): boolean {
  const normalised = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_NAMES.has(normalised) || SECRET_SUFFIXES.some((suffix) => normalised.endsWith(suffix));
}

/**
 * Field names repeat from event to event (they come from the gateway's own code), so the verdict
 * and the redacted form of each are remembered; bounded, in case some event carries a map.
 */
const MAX_REMEMBERED_NAMES = 1_000;
const rememberedNames = new Map<string, string | null>();

function keptName(name: string, redact: (text: string) => string): string | null {
  let kept = rememberedNames.get(name);
  if (kept === undefined) {
    kept = isSecretName(name) ? null : redact(name);
    if (rememberedNames.size < MAX_REMEMBERED_NAMES) rememberedNames.set(name, kept);
  }
  return kept;
}

/** Shorter strings cannot hold a key (the redactor refuses to know secrets this short). */
const MIN_REDACTED_LENGTH = 8;

export function scrubData(
  data: Record<string, unknown>,
  redact: (text: string) => string,
): Record<string, unknown> {
  return scrubObject(data, redact, 0);
}

function scrubObject(
  source: Record<string, unknown>,
  redact: (text: string) => string,
  depth: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(source)) {
    // A secret can be a field name too (a map keyed by token, say): names are redacted as well.
    const kept = keptName(name, redact);
    if (kept === null) continue;
    const value = scrubValue(source[name], redact, depth + 1);
    if (value !== undefined) out[kept] = value;
  }
  return out;
}

function scrubValue(value: unknown, redact: (text: string) => string, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return value.length < MIN_REDACTED_LENGTH ? value : redact(value);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'object':
      break;
    default:
      // undefined, functions and symbols have no JSON form.
      return undefined;
  }
  if (value === null) return null;
  if (depth > MAX_DEPTH) return TOO_DEEP;
  // Raw bytes may be key material; their indices would otherwise become fields.
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return BINARY;
  // Whatever an object chose to show of itself (a SecretString its fingerprint, a Date its ISO form).
  const { toJSON } = value as { toJSON?: unknown };
  if (typeof toJSON === 'function') return scrubValue(toJSON.call(value), redact, depth + 1);
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, redact, depth + 1) ?? null);
  if (value instanceof Error) return redact(`${value.name}: ${value.message}`);
  return scrubObject(value as Record<string, unknown>, redact, depth);
}
