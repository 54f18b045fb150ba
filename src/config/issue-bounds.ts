import type { z } from 'zod';

type Bound = z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall;

const isBound = (issue: z.core.$ZodIssue): issue is Bound =>
  issue.code === 'too_big' || issue.code === 'too_small';

const samePath = (a: readonly PropertyKey[], b: readonly PropertyKey[]): boolean =>
  a.length === b.length && a.every((part, i) => part === b[i]);

/** Whether `other` holds its path to a tighter bound on the same side than `issue` does. */
function tighter(other: Bound, issue: Bound): boolean {
  if (!samePath(other.path, issue.path)) return false;
  if (other.code === 'too_big' && issue.code === 'too_big')
    return Number(other.maximum) < Number(issue.maximum);
  if (other.code === 'too_small' && issue.code === 'too_small')
    return Number(other.minimum) > Number(issue.minimum);
  return false;
}

/**
 * The issues without the bounds another issue at the same path tightens. zod 4's `.int()` holds
 * every integer to the safe range and reports that first: `weight: 1e16` said "at most
 * 9007199254740991" where the schema allows 1000. Shared by the configuration's messages and the
 * API's (surfaces/zod-issue.ts), so that no message names a bound looser than the real one.
 */
export function withoutLooserBounds(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const bounds = issues.filter(isBound);
  if (bounds.length < 2) return [...issues];
  return issues.filter((issue) => !isBound(issue) || !bounds.some((other) => tighter(other, issue)));
}
