import { bodyField, withBodyField } from '../canonical/body-field.js';
import type { RouteParams } from './router.js';

/**
 * An alias's parameter defaults applied to a validated body: what the client left out. Output
 * limits (the alias's `maxTokens.default` and `max`) are applied with every other ceiling, in
 * `limits/ceilings.ts`. `temperatureField` is where the surface's bodies hold the temperature
 * (`generationConfig.temperature` on Gemini's), `a.b` naming a field inside `a`.
 */
export function applyRouteParams<B extends Record<string, unknown>>(
  body: B,
  params: RouteParams | undefined,
  temperatureField = 'temperature',
): B {
  const temperature = params?.temperature;
  if (!temperature || !fillsTemperature(body, params, temperatureField)) return body;
  return withBodyField(body, temperatureField, temperature.default);
}

/** Whether the alias's default temperature is what `body` is sent with: the client named none. */
export function fillsTemperature(
  body: Record<string, unknown>,
  params: RouteParams | undefined,
  temperatureField = 'temperature',
): boolean {
  if (!params?.temperature) return false;
  const asked = bodyField(body, temperatureField);
  return asked === undefined || asked === null;
}
