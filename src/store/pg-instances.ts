import type { Pool } from 'pg';
import { inTransaction } from './pg-transaction.js';
import type { InstanceRecord, InstanceStore } from './types.js';

interface InstanceRow {
  id: string;
  host: string;
  pid: number;
  limits: 'memory' | 'redis';
  started_at: number;
  seen_at: number;
}

/** Serialises joins across instances, as SQLite's write lock does: of two starting at once, one sees the other. */
const JOIN_LOCK = 0x6b77_6931;

const toRecord = (row: InstanceRow): InstanceRecord => ({
  id: row.id,
  host: row.host,
  pid: row.pid,
  limits: row.limits,
  startedAt: row.started_at,
  seenAt: row.seen_at,
});

export function pgInstances(pool: Pool): InstanceStore {
  return {
    async join(self, liveSince) {
      return inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [JOIN_LOCK]);
        // Rows nobody has beaten for a day are crashed instances: no reason to keep them.
        await client.query('DELETE FROM instances WHERE seen_at < $1', [self.startedAt - 86_400_000]);
        const { rows } = await client.query<InstanceRow>(
          'SELECT * FROM instances WHERE seen_at >= $1 AND id != $2 ORDER BY started_at',
          [liveSince, self.id],
        );
        await client.query(
          `INSERT INTO instances (id, host, pid, limits, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6)`,
          [self.id, self.host, self.pid, self.limits, self.startedAt, self.seenAt],
        );
        return rows.map(toRecord);
      });
    },
    async beat(id, now) {
      await pool.query('UPDATE instances SET seen_at = $1 WHERE id = $2', [now, id]);
    },
    async leave(id) {
      await pool.query('DELETE FROM instances WHERE id = $1', [id]);
    },
  };
}
