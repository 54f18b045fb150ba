/**
 * Smooth weighted round-robin (nginx's): over any window of sum(weights) picks, each item is
 * chosen exactly its weight's number of times, spread out rather than in runs, and with no
 * randomness for tests to fight.
 */
export class WeightedRotation<T> {
  private readonly items: ReadonlyArray<{ item: T; weight: number }>;
  private readonly current: number[];
  private readonly total: number;

  constructor(items: ReadonlyArray<{ item: T; weight: number }>) {
    if (items.length === 0) throw new Error('a rotation needs at least one item');
    this.items = items;
    this.current = items.map(() => 0);
    this.total = items.reduce((sum, { weight }) => sum + weight, 0);
  }

  /** The configured first item (for listings). */
  first(): T {
    return this.items[0]!.item;
  }

  /** Every item once, in the configured order, without taking a turn (for lookups). */
  all(): T[] {
    return this.items.map(({ item }) => item);
  }

  /** Every item once: this turn's pick first, then the others by descending weight. */
  order(): T[] {
    if (this.items.length === 1) return [this.items[0]!.item];
    let best = 0;
    for (let i = 0; i < this.items.length; i++) {
      this.current[i]! += this.items[i]!.weight;
      if (this.current[i]! > this.current[best]!) best = i;
    }
    this.current[best]! -= this.total;
    const rest = this.items.filter((_, i) => i !== best).sort((a, b) => b.weight - a.weight);
    return [this.items[best]!.item, ...rest.map(({ item }) => item)];
  }
}
