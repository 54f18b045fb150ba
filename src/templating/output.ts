import { z } from 'zod';

/**
 * The output schema as a validator. Only local `$ref`s exist for it, so defining a schema can
 * never make the gateway fetch anything. Throws for a schema it cannot enforce.
 */
export function outputValidator(schema: Record<string, unknown>): z.ZodType {
  return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
}
