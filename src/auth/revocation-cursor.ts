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

  /** The time to read revocations since, for a look taken now. */
  next(): number {
    const now = this.now();
    let since = this.checkedAt - OVERLAP_MS;
    if (this.reconcile && now - this.fullAt >= FULL_EVERY_MS) {
      since = 0;
      this.fullAt = now;
    }
    this.checkedAt = now;
    return since;
  }

  /** A full read was just taken (at start). */
  reset(): void {
    this.checkedAt = this.now();
    this.fullAt = this.checkedAt;
  }
}
