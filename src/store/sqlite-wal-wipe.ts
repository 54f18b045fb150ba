import type Database from 'better-sqlite3';
import { withShortBusyWait } from './sqlite-busy.js';

/**
 * How long after a deletion the WAL is checkpointed and truncated: deletions close together (a
 * purge, a client deleting a conversation item by item) share one checkpoint.
 */
export const WAL_WIPE_DELAY_MS = 1000;

export interface WalWipe {
  /** Asks for a checkpoint soon: content was deleted, and the WAL still holds earlier copies of it. */
  soon(): void;
  /** Runs an asked-for checkpoint now, once, and stops the timer: the store is closing. */
  close(): void;
}

/**
 * Takes deleted content out of the WAL. `secure_delete` zeroes what a deletion frees, but the WAL
 * keeps the frames written before it (the content as it was inserted) until a checkpoint lets it
 * start over, which under a steady trickle of writes may be long after. `wal_checkpoint(TRUNCATE)`
 * copies the zeroed pages into the database file and empties the WAL. It runs from a timer, never
 * in the request that deleted, without waiting for locks: the writer thread or another process
 * busy with the file makes it try again later rather than stall the event loop.
 */
export function walWipe(db: Database.Database, delayMs = WAL_WIPE_DELAY_MS): WalWipe {
  let timer: NodeJS.Timeout | undefined;
  const checkpoint = (): boolean => {
    try {
      const [result] = withShortBusyWait(db, 0, () => db.pragma('wal_checkpoint(TRUNCATE)')) as Array<{
        busy: number;
      }>;
      return result?.busy === 0;
    } catch {
      // SQLITE_BUSY or LOCKED (a writer holds the file), or an I/O error: the next try may pass.
      return false;
    }
  };
  const run = () => {
    timer = undefined;
    if (!checkpoint()) soon();
  };
  const soon = () => {
    timer ??= setTimeout(run, delayMs).unref();
  };
  return {
    soon,
    close() {
      if (timer === undefined) return;
      clearTimeout(timer);
      timer = undefined;
      checkpoint();
    },
  };
}
