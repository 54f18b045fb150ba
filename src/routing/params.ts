import type { RouteParams } from './router.js';

/**
 * An alias's parameter policy applied to a validated body: defaults for what the client left out,
 * and `maxTokens.max` lowering a larger ask. `maxTokensFields` are the surface's names for the
 * output limit, preferred first (OpenAI has two; a client may send either).
 */
export function applyRouteParams<B extends Record<string, unknown>>(
  body: B,
  params: RouteParams | undefined,
  maxTokensFields: readonly string[],
): B {
  if (!params) return body;
  let out: Record<string, unknown> = body;
  const set = (field: string, value: unknown) => {
    if (out === body) out = { ...body };
    out[field] = value;
  };
  const limit = params.maxTokens;
  if (limit) {
    const asked = maxTokensFields.filter((field) => typeof body[field] === 'number');
    if (asked.length === 0 && limit.default !== undefined) set(maxTokensFields[0]!, limit.default);
    for (const field of asked) {
      if (limit.max !== undefined && (body[field] as number) > limit.max) set(field, limit.max);
    }
  }
  const temperature = params.temperature;
  if (temperature && (body.temperature === undefined || body.temperature === null)) {
    set('temperature', temperature.default);
  }
  return out as B;
}
