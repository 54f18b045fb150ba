/**
 * The tokens an attempt at inputs `from` to `to` of `input` that got no answer is charged, of an
 * estimate of `tokens` for the whole request: their bytes' share of all the inputs', each end
 * rounded up (`shareOf` in request accounting, `embeddingParts` in the forwarder).
 */
export function shareOf(tokens: number, input: readonly string[], from: number, to: number): number {
  const bytes = (items: readonly string[]) =>
    items.reduce((sum, item) => sum + Buffer.byteLength(JSON.stringify(item)), 0);
  const total = bytes(input);
  const at = (end: number) => Math.ceil(tokens * (bytes(input.slice(0, end)) / total));
  return at(to) - at(from);
}
