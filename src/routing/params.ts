import type { RouteParams } from './router.js';

/**
 * An alias's parameter defaults applied to a validated body: what the client left out. Output
 * limits (the alias's `maxTokens.default` and `max`) are applied with every other ceiling, in
 * `limits/ceilings.ts`.
 */
export function applyRouteParams<B extends Record<string, unknown>>(
  body: B,
  params: RouteParams | undefined,
): B {
  const temperature = params?.temperature;
  if (!temperature || (body.temperature !== undefined && body.temperature !== null)) return body;
  return { ...body, temperature: temperature.default };
}
