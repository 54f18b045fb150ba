import type { z } from 'zod';
import { withoutLooserBounds } from '../config/issue-bounds.js';

/**
 * Turns a zod issue into a client-facing error: the field's path and what was expected. Shared by
 * every surface (OpenAI, Anthropic), so nothing here knows a surface's field names.
 *
 * Values are never echoed: a client may have pasted a key into the wrong field. Only paths (field
 * names the client chose) and the schema's own expectations appear in messages.
 */

export interface IssueDescription {
  message: string;
  /** The request field, as `messages[0].content[1].image_url.url`; null for the body itself. */
  param: string | null;
  code: 'unknown_field' | 'missing_field' | 'invalid_type' | 'invalid_value';
}

/**
 * Pass these to `safeParse`: `describeIssue` tells a missing field from a wrong one by the
 * issue's `input`, which zod keeps only when asked. Costs nothing on the success path.
 */
export const PARSE_OPTIONS = Object.freeze({ reportInput: true });

/**
 * The issue a 400 names, of all a failed parse found: the first, a bound at its tightest (see
 * `withoutLooserBounds`).
 */
export const leadingIssue = (issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue =>
  withoutLooserBounds(issues)[0]!;

/** Field names longer than this are cut in messages: a real field name is never that long. */
const MAX_SEGMENT = 64;

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') {
      out += `[${part}]`;
      continue;
    }
    let name = String(part);
    if (name.length > MAX_SEGMENT) name = `${name.slice(0, MAX_SEGMENT)}…`;
    out += out ? `.${name}` : name;
  }
  return out;
}

/** The JSON type of a value, as a client would name it. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  // A query's `abc` or `1e400` coerced to a number: "expected number, received number" said nothing.
  if (typeof value === 'number' && !Number.isFinite(value)) return 'not a finite number';
  return typeof value;
}

/** zod's internal type names, as a client would name them. */
function expectedType(expected: string): string {
  if (expected === 'record') return 'object';
  if (expected === 'int') return 'integer';
  return expected;
}

function oneOf(values: readonly unknown[]): string {
  const list = values.map(String);
  return list.length === 1 ? list[0]! : `one of ${list.join(', ')}`;
}

function count(n: number | bigint, noun: string): string {
  return `${n} ${noun}${n === 1 || n === 1n ? '' : 's'}`;
}

/** "at most 2", "at most 4 items", "at least 1 character long": the bound a size issue broke. */
function bound(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const big = issue.code === 'too_big';
  const limit = big ? issue.maximum : issue.minimum;
  const side = issue.exact
    ? 'exactly'
    : big
      ? issue.inclusive === false
        ? 'less than'
        : 'at most'
      : issue.inclusive === false
        ? 'greater than'
        : 'at least';
  switch (issue.origin) {
    case 'string':
      return `be ${side} ${count(limit, 'character')} long`;
    case 'array':
    case 'set':
      return `have ${side} ${count(limit, 'item')}`;
    default:
      return `be ${side} ${String(limit)}`;
  }
}

const missing = (where: string): IssueDescription => ({
  message: `Missing required field '${where}'`,
  param: where,
  code: 'missing_field',
});

/**
 * The JSON type a branch wanted, when its issue at the union's own level shows the value was of
 * another type altogether: a type error, or an enum of strings given an object.
 */
function mismatchedType(issue: z.core.$ZodIssue): string | undefined {
  if (issue.path.length !== 0) return undefined;
  if (issue.code === 'invalid_type') return expectedType(issue.expected);
  if (issue.code === 'invalid_value' && issue.values.length > 0) {
    const wanted = jsonType(issue.values[0]);
    if (issue.values.every((value) => jsonType(value) !== jsonType(issue.input))) return wanted;
  }
  return undefined;
}

/**
 * For a union that failed in every branch, the branch the value came closest to explains it best:
 * among the branches whose type matched, the one with the fewest issues. Ties go to the earlier
 * branch, so the answer is deterministic.
 */
function closestBranch(issue: z.core.$ZodIssueInvalidUnion): z.core.$ZodIssue | undefined {
  let best: z.core.$ZodIssue[] | undefined;
  for (const branch of issue.errors) {
    if (branch.some((inner) => mismatchedType(inner) !== undefined)) continue;
    if (!best || branch.length < best.length) best = branch;
  }
  return best && leadingIssue(best);
}

function describeUnion(
  issue: z.core.$ZodIssueInvalidUnion,
  path: readonly PropertyKey[],
  where: string,
): IssueDescription {
  // A discriminated union: zod already points the path at the discriminator, but `input` is the
  // object that holds it.
  if ('options' in issue && issue.options && issue.discriminator !== undefined) {
    const holder = issue.input;
    const value =
      holder !== null && typeof holder === 'object'
        ? (holder as Record<string, unknown>)[issue.discriminator]
        : undefined;
    if (value === undefined) return missing(where);
    return {
      message: `Invalid value for '${where}': expected ${oneOf(issue.options)}`,
      param: where,
      code: 'invalid_value',
    };
  }
  const inner = closestBranch(issue);
  if (inner) return describeIssue(inner, path);
  if (issue.input === undefined) return missing(where);
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const candidate of branch) {
      const wanted = mismatchedType(candidate);
      if (wanted) expected.add(wanted);
    }
  }
  return {
    message: `Invalid type for '${where}': expected ${[...expected].join(' or ')}, received ${jsonType(issue.input)}`,
    param: where,
    code: 'invalid_type',
  };
}

/** A record key that failed its own schema; the key itself is client data and stays out. */
function describeKey(issue: z.core.$ZodIssueInvalidKey, path: readonly PropertyKey[]): IssueDescription {
  const owner = formatPath(path.slice(0, -1));
  const inner = issue.issues[0];
  let rule = 'must be valid';
  if (inner?.code === 'too_big' || inner?.code === 'too_small') rule = `must ${bound(inner)}`;
  else if (inner?.code === 'invalid_format' && inner.pattern) rule = `must match ${inner.pattern}`;
  // Written in the schema as "must …", as for any custom check.
  else if (inner?.code === 'custom') rule = inner.message;
  return { message: `Keys of '${owner}' ${rule}`, param: owner, code: 'invalid_value' };
}

/**
 * Describes one issue. The parse must have used `PARSE_OPTIONS` (see there). `prefix` is the path
 * of the union an issue was found under, since zod reports a branch's issues relative to it.
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  prefix: readonly PropertyKey[] = [],
): IssueDescription {
  const path = prefix.length === 0 ? issue.path : [...prefix, ...issue.path];
  const where = formatPath(path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const field = formatPath([...path, issue.keys[0] ?? '']);
      return { message: `Unrecognized request field '${field}'`, param: field, code: 'unknown_field' };
    }
    case 'invalid_type':
      if (issue.input === undefined) return missing(where);
      return {
        message: `Invalid type for '${where}': expected ${expectedType(issue.expected)}, received ${jsonType(issue.input)}`,
        param: where,
        code: 'invalid_type',
      };
    case 'invalid_value':
      return {
        message: `Invalid value for '${where}': expected ${oneOf(issue.values)}`,
        param: where,
        code: 'invalid_value',
      };
    case 'too_big':
    case 'too_small':
      return { message: `'${where}' must ${bound(issue)}`, param: where, code: 'invalid_value' };
    case 'invalid_union':
      return describeUnion(issue, path, where);
    case 'invalid_key':
      return describeKey(issue, path);
    case 'invalid_format': {
      // A schema's own words for its pattern ("a key id such as pk_…") say more than the pattern;
      // zod's default ("Invalid string: …") says less. Either is written in the schema, never the value.
      const own = issue.format === 'regex' && !issue.message.startsWith('Invalid string');
      const expected = own
        ? issue.message
        : issue.format === 'regex' && issue.pattern
          ? `a string matching ${issue.pattern}`
          : issue.format;
      return {
        message: `Invalid format for '${where}': expected ${expected}`,
        param: where,
        code: 'invalid_value',
      };
    }
    case 'not_multiple_of':
      return {
        message: `'${where}' must be a multiple of ${issue.divisor}`,
        param: where,
        code: 'invalid_value',
      };
    case 'custom':
      // Messages of custom checks are written in the schemas as "must …", never from the value.
      return { message: `'${where}' ${issue.message}`, param: where, code: 'invalid_value' };
    default:
      return { message: `Invalid value for '${where}'`, param: where, code: 'invalid_value' };
  }
}
