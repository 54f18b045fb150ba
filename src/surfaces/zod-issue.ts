import type { z } from 'zod';

export interface IssueDescription {
  message: string;
  /** The request field, as `messages[0].content[1].image_url.url`. */
  param: string | null;
  code: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** zod's names for JSON types, as a client would say them. */
function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * For a union that failed everywhere, the branch the value was closest to explains it best: among
 * the branches whose type matched (no type error at the union's own level), the one with the
 * fewest issues.
 */
function closestUnionIssue(issue: z.core.$ZodIssueInvalidUnion): z.core.$ZodIssue | undefined {
  let best: z.core.$ZodIssue[] | undefined;
  for (const branch of issue.errors) {
    if (branch.some((candidate) => candidate.code === 'invalid_type' && candidate.path.length === 0))
      continue;
    if (!best || branch.length < best.length) best = branch;
  }
  return best?.[0];
}

/**
 * Turns the first zod issue into a client-facing message that names the field and what was
 * expected. Values are never echoed: a client may have pasted a key into the wrong field.
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  input: unknown,
  prefix: readonly PropertyKey[] = [],
): IssueDescription {
  const path = [...prefix, ...issue.path];
  const where = formatPath(path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const field = formatPath([...path, issue.keys[0] ?? '']);
      return { message: `Unrecognized request field '${field}'`, param: field, code: 'unknown_field' };
    }
    case 'invalid_type': {
      const value = valueAt(input, path);
      if (value === undefined) {
        return { message: `Missing required field '${where}'`, param: where, code: 'missing_field' };
      }
      return {
        message: `Invalid type for '${where}': expected ${issue.expected}, received ${typeName(value)}`,
        param: where,
        code: 'invalid_type',
      };
    }
    case 'invalid_value':
      return {
        message: `Invalid value for '${where}': expected one of ${issue.values.map(String).join(', ')}`,
        param: where,
        code: 'invalid_value',
      };
    case 'too_big':
    case 'too_small': {
      const bound = issue.code === 'too_big' ? 'at most' : 'at least';
      const limit = String(issue.code === 'too_big' ? issue.maximum : issue.minimum);
      const what =
        issue.origin === 'string'
          ? `${limit} characters long`
          : issue.origin === 'array' || issue.origin === 'set'
            ? `${limit} items long`
            : limit;
      return { message: `'${where}' must be ${bound} ${what}`, param: where, code: 'invalid_value' };
    }
    case 'invalid_union': {
      const options = (issue as { options?: unknown[] }).options;
      if (options) {
        const value = valueAt(input, path);
        if (value === undefined)
          return { message: `Missing required field '${where}'`, param: where, code: 'missing_field' };
        return {
          message: `Invalid value for '${where}': expected one of ${options.map(String).join(', ')}`,
          param: where,
          code: 'invalid_value',
        };
      }
      const inner = closestUnionIssue(issue);
      if (inner) return describeIssue(inner, input, path);
      const expected = issue.errors.flatMap((branch) =>
        branch.flatMap((candidate) => (candidate.code === 'invalid_type' ? [candidate.expected] : [])),
      );
      const value = valueAt(input, path);
      if (value === undefined)
        return { message: `Missing required field '${where}'`, param: where, code: 'missing_field' };
      return {
        message: `Invalid type for '${where}': expected ${[...new Set(expected)].join(' or ')}, received ${typeName(value)}`,
        param: where,
        code: 'invalid_type',
      };
    }
    case 'invalid_format':
      return {
        message: `Invalid format for '${where}': expected ${issue.format}`,
        param: where,
        code: 'invalid_value',
      };
    default:
      return {
        message: `Invalid value for '${where}': ${issue.message}`,
        param: where,
        code: 'invalid_value',
      };
  }
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}
