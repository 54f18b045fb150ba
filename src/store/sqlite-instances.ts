import type Database from 'better-sqlite3';
import { type InstanceRow, instanceFromRow } from './rows.js';
import { withShortBusyWait } from './sqlite-busy.js';
import type { InstanceRecord, InstanceStore } from './types.js';

/** How long a heartbeat may wait for the write lock. */
const BEAT_BUSY_WAIT_MS = 50;

/** The instances that beat within the last `liveMs`: a query every schema with the table answers. */
export function sqliteLiveInstances(db: Database.Database): InstanceStore['live'] {
  const live = db.prepare<[number], InstanceRow>(
    'SELECT * FROM instances WHERE seen_at >= ? ORDER BY started_at',
  );
  return async (liveMs) => live.all(Date.now() - liveMs).map(instanceFromRow);
}

export function sqliteInstances(db: Database.Database): InstanceStore {
  const insert = db.prepare(
    `INSERT INTO instances (id, host, pid, limits, started_at, seen_at, master_key_id)
     VALUES (@id, @host, @pid, @limits, @startedAt, @seenAt, @masterKeyId)`,
  );
  const live = db.prepare<[number, string], InstanceRow>(
    'SELECT * FROM instances WHERE seen_at >= ? AND id != ? ORDER BY started_at',
  );
  // Rows nobody has beaten for a day are crashed instances: no reason to keep them.
  const prune = db.prepare('DELETE FROM instances WHERE seen_at < ?');
  const beat = db.prepare('UPDATE instances SET seen_at = ?, master_key_id = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM instances WHERE id = ?');
  // The file is on this host (SQLite is not shared across hosts), so every instance on it reads one clock.
  const join = db.transaction((self: InstanceRecord, liveMs: number) => {
    const now = Date.now();
    prune.run(now - 86_400_000);
    const others = live.all(now - liveMs, self.id).map(instanceFromRow);
    insert.run({ ...self, seenAt: now, masterKeyId: self.masterKeyId ?? null });
    return others;
  });
  return {
    async join(self, liveMs) {
      // IMMEDIATE: the write lock is taken before the read, so two starts cannot both miss each other.
      return join.immediate(self, liveMs);
    },
    live: sqliteLiveInstances(db),
    async beat(id, masterKeyId) {
      // From a timer on the event loop; a beat missed while another process holds the write lock
      // is made up by the next one, well within the liveness window.
      withShortBusyWait(db, BEAT_BUSY_WAIT_MS, () => beat.run(Date.now(), masterKeyId ?? null, id));
    },
    async leave(id) {
      remove.run(id);
    },
  };
}
