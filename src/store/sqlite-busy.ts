import type Database from 'better-sqlite3';

/**
 * Runs a write with a short wait for the write lock instead of the connection's `busy_timeout`.
 * For writes made from a timer on the event loop that serves requests (usage flushes, the instance
 * heartbeat): waiting out another process's lock there stalls every request for seconds. Such a
 * write waits only as long as the audit thread's batches take, then fails with SQLITE_BUSY, and
 * its caller tries again on its next tick.
 */
export function withShortBusyWait<T>(db: Database.Database, waitMs: number, write: () => T): T {
  const wait = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma(`busy_timeout = ${waitMs}`);
  try {
    return write();
  } finally {
    db.pragma(`busy_timeout = ${wait}`);
  }
}
