import { z } from 'zod';

/** A value of each JSON type: a schema that refers to itself before it nests loops on every one. */
const PROBES: readonly unknown[] = [null, 0, '', true, [], {}];

/**
 * The output schema as a validator. Only local `$ref`s exist for it, so defining a schema can
 * never make the gateway fetch anything. Throws for a schema it cannot enforce, one whose `$ref`s
 * come back to where they started without nesting (`{"$ref": "#"}`) among them: zod builds it, and
 * then overflows the stack checking any answer.
 */
export function outputValidator(schema: Record<string, unknown>): z.ZodType {
  const validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  for (const probe of PROBES) {
    if (matchesOutput(validator, probe) === undefined)
      throw new Error(
        'its $ref refers back to itself without nesting, so nothing can ever be checked against it',
      );
  }
  return validator;
}

/**
 * Whether `value` passes the validator; undefined when checking it overflowed the stack, as a
 * recursive schema does on an answer nested deeper than the stack goes.
 */
export function matchesOutput(validator: z.ZodType, value: unknown): boolean | undefined {
  try {
    return validator.safeParse(value).success;
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}
