/** Edits (insert, delete, replace, swap of neighbours) turning `a` into `b`. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let cost = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        cost = Math.min(cost, before[j - 2]! + 1);
      row.push(cost);
    }
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The name a mistyped one most likely meant (a command-line flag, a configuration key): one it
 * begins, or one a slip or two away; undefined when none is that close.
 */
export function closeSpelling(name: string, names: readonly string[]): string | undefined {
  const allowed = Math.min(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of names) {
    const score = name.length >= 3 && candidate.startsWith(name) ? 0 : editDistance(name, candidate);
    if (score <= allowed && score < bestScore) [best, bestScore] = [candidate, score];
  }
  return best;
}
