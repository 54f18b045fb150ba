import { setTimeout as sleep } from 'node:timers/promises';
import { storeFault } from '../store/index.js';
import type { ResponseEntry } from './response-entries.js';

/** A batch the store refused is written again after this, doubling up to RETRY_MAX_MS between attempts, */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;
/** for at most this long: a store refusing it all that time loses it (and each response says so). */
const RETRY_FOR_MS = 10 * 60_000;
/** Responses held at most: a batch refused while more are held is given up at once. */
const MAX_HELD = 10_000;

const ignore = (): void => undefined;

/** A batch from its first attempt until it landed or was given up. */
interface Batch {
  entries: ResponseEntry[];
  /** Whether an attempt is under way: it writes the entries it was handed, deleted since or not. */
  writing: boolean;
  /** Entries deleted while an attempt was under way: removed again if it lands. */
  deletedMeanwhile: ResponseEntry[];
}

/**
 * The batches of stored responses on their way to the store, written again while the store
 * refuses them for a fault of its own (`store/faults.ts`: down, restarting, full, locked). Each
 * response was answered as stored, its id in the client's hands: a store down for a moment must not
 * lose them, as it does not lose usage or audit records. Any other failure (a constraint, a bug) is
 * not retried. What is held is bounded in count and time, and a deletion of a response on its way
 * (by id, conversation, owner or age) removes it here, and from the store again if an attempt under
 * way lands it: a write after its deletion would bring it back.
 */
export class ResponseBatches {
  private readonly held = new Set<Batch>();
  private count = 0;
  private readonly stopping = new AbortController();
  /** Responses given up because the gateway was shutting down: `close` names them. */
  lostAtStop = 0;

  constructor(
    /** Writes the entries in one transaction; reads them before it returns (they may change after). */
    private readonly write: (entries: readonly ResponseEntry[]) => Promise<void>,
    private readonly remove: (id: string) => Promise<unknown>,
  ) {}

  /**
   * Writes `entries` (handed over: this class may change the array), and again while the store
   * refuses them for a fault of its own. Settles once written (or every one was deleted meanwhile);
   * rejects with the store's error when not a fault, or once given up.
   */
  async add(entries: ResponseEntry[]): Promise<void> {
    const batch: Batch = { entries, writing: false, deletedMeanwhile: [] };
    this.held.add(batch);
    this.count += entries.length;
    try {
      const until = Date.now() + RETRY_FOR_MS;
      for (let wait = RETRY_FIRST_MS; ; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
        const refused = await this.attempt(batch);
        if (refused === undefined) return;
        const { error } = refused;
        const stopped = this.stopping.signal.aborted;
        if (storeFault(error) === undefined || this.count > MAX_HELD || stopped || Date.now() >= until) {
          if (stopped) this.lostAtStop += batch.entries.length;
          throw error;
        }
        await sleep(wait, undefined, { signal: this.stopping.signal }).catch(ignore);
        if (batch.entries.length === 0) return;
      }
    } finally {
      this.held.delete(batch);
      this.count -= batch.entries.length;
    }
  }

  /** Drops the responses on their way that `match` picks (they were deleted); how many went. */
  forget(match: (entry: ResponseEntry) => boolean): number {
    let forgotten = 0;
    for (const batch of this.held) {
      for (let i = batch.entries.length - 1; i >= 0; i--) {
        const entry = batch.entries[i]!;
        if (!match(entry)) continue;
        batch.entries.splice(i, 1);
        if (batch.writing) batch.deletedMeanwhile.push(entry);
        forgotten++;
      }
    }
    this.count -= forgotten;
    return forgotten;
  }

  /** Whether a response is still on its way. */
  holds(match: (entry: ResponseEntry) => boolean): boolean {
    for (const batch of this.held) if (batch.entries.some(match)) return true;
    return false;
  }

  /** Each batch refused from now on is given up: the gateway is shutting down. */
  stop(): void {
    this.stopping.abort();
  }

  /** One attempt: undefined once written, else what the store refused it with. */
  private async attempt(batch: Batch): Promise<{ error: unknown } | undefined> {
    batch.writing = true;
    try {
      await this.write(batch.entries);
    } catch (error) {
      return { error };
    } finally {
      batch.writing = false;
    }
    // Deleted while the attempt was under way: it landed all the same.
    for (const entry of batch.deletedMeanwhile.splice(0)) await this.remove(entry.id);
    return undefined;
  }
}
