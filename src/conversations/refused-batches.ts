import { setTimeout as sleep } from 'node:timers/promises';
import type { ResponseEntry } from './response-entries.js';

/** A refused batch is written again after this, doubling up to RETRY_MAX_MS between attempts, */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;
/** for at most this long: a store refusing it all that time loses it (and each response says so). */
const RETRY_FOR_MS = 10 * 60_000;
/** Responses held for another attempt at most: a batch refused past it is given up at once. */
const MAX_HELD = 10_000;

const ignore = (): void => undefined;

/**
 * Batches of stored responses the store refused, written again until it takes them. Each response
 * was answered as stored, its id in the client's hands: a store down for a moment (a Postgres
 * restart, a full disk being cleared) must not lose them, as it does not lose usage or audit
 * records. What is held is bounded in count and time, and a deletion of a held response (by id, by
 * conversation, by owner, by age) removes it here as it removes it from the store: one written
 * after its deletion would bring it back.
 */
export class RefusedBatches {
  private readonly held = new Set<ResponseEntry[]>();
  private count = 0;
  private readonly stopping = new AbortController();
  /** Responses given up because the gateway was shutting down: `close` names them. */
  lostAtStop = 0;

  constructor(
    private readonly write: (entries: readonly ResponseEntry[]) => Promise<void>,
    /** Removes a stored response: one deleted while an attempt that held it was under way. */
    private readonly remove: (id: string) => Promise<unknown>,
  ) {}

  /**
   * Writes `entries` again until the store takes them: settles once written (or every one of
   * them was deleted meanwhile), and rejects with the store's last error once given up.
   */
  async retry(entries: ResponseEntry[], error: unknown): Promise<void> {
    if (this.count + entries.length > MAX_HELD || this.stopping.signal.aborted)
      throw this.lose(entries, error);
    const batch = [...entries];
    this.held.add(batch);
    this.count += batch.length;
    let last = error;
    try {
      const until = Date.now() + RETRY_FOR_MS;
      for (let wait = RETRY_FIRST_MS; Date.now() < until; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
        await sleep(wait, undefined, { signal: this.stopping.signal }).catch(ignore);
        if (batch.length === 0) return;
        const attempt = [...batch];
        try {
          await this.write(attempt);
        } catch (refused) {
          last = refused;
          if (this.stopping.signal.aborted) break;
          continue;
        }
        // Deleted while the attempt was under way: it landed all the same.
        for (const entry of attempt) if (!batch.includes(entry)) await this.remove(entry.id);
        return;
      }
      throw this.lose(batch, last);
    } finally {
      this.held.delete(batch);
      this.count -= batch.length;
    }
  }

  /** Drops the held responses `match` picks (they were deleted); how many went. */
  forget(match: (entry: ResponseEntry) => boolean): number {
    let forgotten = 0;
    for (const batch of this.held) {
      for (let i = batch.length - 1; i >= 0; i--) {
        if (!match(batch[i]!)) continue;
        batch.splice(i, 1);
        forgotten++;
      }
    }
    this.count -= forgotten;
    return forgotten;
  }

  /** Each batch held makes one last attempt now, and is given up if refused again. */
  stop(): void {
    this.stopping.abort();
  }

  private lose(entries: readonly ResponseEntry[], error: unknown): unknown {
    if (this.stopping.signal.aborted) this.lostAtStop += entries.length;
    return error;
  }
}
