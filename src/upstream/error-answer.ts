import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamBody } from './response-body.js';

/** An error body is short: past this many bytes an answer is not read for one. */
const MAX_ERROR_BODY = 16 * 1024;
/** JSON, not NDJSON: a stream's body is never held back to be looked at. */
const JSON_TYPE = /^\s*application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;
/** Inside a JSON string a quote is escaped, so only a key reads `"error":`. */
const ERROR_KEY = /"error"\s*:/;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An HTTP error status, from a number or a status-like string (`"429"`). */
export function httpErrorStatus(code: unknown): number | undefined {
  const status = typeof code === 'string' && /^\d{3}$/.test(code) ? Number(code) : code;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599
    ? status
    : undefined;
}

/**
 * The status of a 2xx answer whose body is an error: OpenRouter (and gateways like it) answer 200
 * once a model's own provider has taken the request, and a failure after that comes as
 * `{"error":{"code":429,"message":…,"metadata":…}}` without `choices`. Passed on as a success, its
 * message and metadata (which name the provider behind it) reached the client and no key cooled.
 * The error's `code` is the status when it is one, else the provider failed (500). Undefined for
 * an answer that is what its status says. Only a short JSON body is read, with `peek`, which
 * leaves it for the answer's reader.
 */
export async function statusInBody(
  headers: IncomingHttpHeaders,
  body: UpstreamBody,
): Promise<number | undefined> {
  const type = headers['content-type'];
  if (typeof type !== 'string' || !JSON_TYPE.test(type)) return undefined;
  const text = await body.peek(MAX_ERROR_BODY);
  if (!ERROR_KEY.test(text)) return undefined;
  let payload: unknown;
  try {
    // A body longer than the peek does not parse: it is no error body.
    payload = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(payload) || !isObject(payload.error) || 'choices' in payload) return undefined;
  return httpErrorStatus(payload.error.code) ?? 500;
}
