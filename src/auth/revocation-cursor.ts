/**
 * A revocation is stamped by the clock of the instance that made it, and committed a little later:
 * another instance asking "what was revoked since my last look" by its own clock misses one whose
 * stamp is behind that look by more than the overlap. Dropping a revoked entry from a cache twice
 * costs nothing, so the overlap is wide; and where a missed one would never be noticed (a gateway
 * token, a JWT: cached until revoked), the whole list is read again every few minutes.
 */
const OVERLAP_MS = 30_000;
const FULL_EVERY_MS = 300_000;

/** From when the next look at the store's revocations asks. */
export class RevocationCursor {
  private checkedAt: number;
  private fullAt: number;

  constructor(
    private readonly now: () => number,
    /** Read the whole list again every few minutes. */
    private readonly reconcile: boolean,
  ) {
    this.checkedAt = now();
    this.fullAt = this.checkedAt;
  }

  /**
   * Reads the revocations since the time a look taken now asks from, with `look`; the cursor moves
   * on only once it has succeeded, so a failed read is asked again, from as far back, next time.
   */
  async read<T>(look: (since: number) => Promise<T>): Promise<T> {
    const now = this.now();
    // A clock gone back past the last look (one stepped ahead, then corrected): revocations stamped
    // meanwhile by a correct clock are behind every look since, and the five minutes would count
    // from a time the clock reaches only after the step's length. Everything is read again.
    const stepped = now < this.checkedAt;
    const full = stepped || (this.reconcile && now - this.fullAt >= FULL_EVERY_MS);
    const found = await look(full ? 0 : this.checkedAt - OVERLAP_MS);
    if (full) this.fullAt = now;
    this.checkedAt = now;
    return found;
  }

  /** A full read was just taken (at start). */
  reset(): void {
    this.checkedAt = this.now();
    this.fullAt = this.checkedAt;
  }
}
