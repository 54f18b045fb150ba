import { z } from 'zod';

/** The kinds of value a template parameter takes. */
export const PARAM_TYPES = ['string', 'number', 'integer', 'boolean', 'enum'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

/** Longest string a parameter takes when its definition sets no `maxLength`. */
export const DEFAULT_MAX_LENGTH = 1_000;

const scalar = z.union([z.string().max(100_000), z.number(), z.boolean()]);

export const paramSchema = z
  .strictObject({
    type: z.enum(PARAM_TYPES),
    description: z.string().max(1_000).optional(),
    /** Strings: the longest value accepted (default 1000 characters). */
    maxLength: z.number().int().min(1).max(100_000).optional(),
    /** Numbers and integers: the accepted range. */
    min: z.number().optional(),
    max: z.number().optional(),
    /** Enums: the accepted values. */
    values: z.array(z.string().min(1).max(256)).min(1).max(256).optional(),
    /** Default true; a parameter with a `default` is never required. */
    required: z.boolean().optional(),
    default: scalar.optional(),
  })
  .superRefine((param, ctx) => {
    const only = (field: keyof typeof param, types: readonly ParamType[]) => {
      if (param[field] !== undefined && !types.includes(param.type))
        ctx.addIssue({ code: 'custom', path: [field], message: `only for type ${types.join(' or ')}` });
    };
    only('maxLength', ['string']);
    only('min', ['number', 'integer']);
    only('max', ['number', 'integer']);
    only('values', ['enum']);
    if (param.type === 'enum' && !param.values)
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'required for type enum' });
    if (param.min !== undefined && param.max !== undefined && param.min > param.max)
      ctx.addIssue({ code: 'custom', path: ['min'], message: 'must not exceed max' });
  });
export type ParamDefinition = z.output<typeof paramSchema>;

/** A value a slot can take once validated. */
export type ParamValue = string | number | boolean;

/** Why a parameter value was refused; the message names the parameter, never echoes the value. */
export interface ParamProblem {
  param: string;
  code:
    | 'unknown_param'
    | 'missing_param'
    | 'invalid_param_type'
    | 'param_too_long'
    | 'param_out_of_range'
    | 'invalid_param_value';
  message: string;
}

/** What is wrong with `value` for the parameter `name`, or undefined when it fits. */
export function checkParam(name: string, def: ParamDefinition, value: unknown): ParamProblem | undefined {
  const wrongType = (expected: string): ParamProblem => ({
    param: name,
    code: 'invalid_param_type',
    message: `The param '${name}' must be ${expected}`,
  });
  switch (def.type) {
    case 'string': {
      if (typeof value !== 'string') return wrongType('a string');
      const max = def.maxLength ?? DEFAULT_MAX_LENGTH;
      if (longerThan(value, max))
        return {
          param: name,
          code: 'param_too_long',
          message: `The param '${name}' is longer than ${max} characters`,
        };
      return;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : wrongType('true or false');
    case 'enum':
      if (typeof value !== 'string' || !def.values?.includes(value)) {
        return {
          param: name,
          code: 'invalid_param_value',
          message: `The param '${name}' must be one of: ${def.values?.join(', ')}`,
        };
      }
      return;
    default: {
      const integer = def.type === 'integer';
      if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
        return wrongType(integer ? 'an integer' : 'a number');
      if ((def.min !== undefined && value < def.min) || (def.max !== undefined && value > def.max)) {
        return {
          param: name,
          code: 'param_out_of_range',
          message: `The param '${name}' must be between ${def.min ?? '-∞'} and ${def.max ?? '∞'}`,
        };
      }
      return;
    }
  }
}

/**
 * The values for every declared parameter, defaults filled in; or the first problem. Only own
 * properties of a plain object count: nothing is looked up through a prototype.
 */
export function resolveParams(
  defs: Readonly<Record<string, ParamDefinition>>,
  given: unknown,
): { values: Map<string, ParamValue> } | { problem: ParamProblem } {
  if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given))) {
    return {
      problem: { param: 'params', code: 'invalid_param_type', message: "'params' must be an object" },
    };
  }
  const input = (given ?? {}) as Record<string, unknown>;
  for (const name of Object.keys(input)) {
    if (!Object.hasOwn(defs, name)) {
      return {
        problem: {
          param: name.slice(0, 64),
          code: 'unknown_param',
          message: `The param '${name.slice(0, 64)}' is not declared by this template`,
        },
      };
    }
  }
  const values = new Map<string, ParamValue>();
  for (const [name, def] of Object.entries(defs)) {
    const value = Object.hasOwn(input, name) ? input[name] : def.default;
    if (value === undefined || value === null) {
      if (def.required === false || def.default !== undefined) continue;
      return { problem: { param: name, code: 'missing_param', message: `The param '${name}' is required` } };
    }
    const problem = checkParam(name, def, value);
    if (problem) return { problem };
    values.set(name, value as ParamValue);
  }
  return { values };
}

/**
 * Whether `value` has more than `max` characters as JSON Schema counts them (code points): 64
 * emoji are 64 characters, not the 128 UTF-16 units JavaScript's `length` gives.
 */
function longerThan(value: string, max: number): boolean {
  if (value.length <= max) return false;
  if (value.length > 2 * max) return true;
  let count = 0;
  for (const _ of value) if (++count > max) return true;
  return false;
}
