import type { Pool } from 'pg';
import { inTransaction } from './pg-transaction.js';
import { type InstanceRow, instanceFromRow } from './rows.js';
import type { InstanceStore } from './types.js';

/** Serialises joins across instances, as SQLite's write lock does: of two starting at once, one sees the other. */
const JOIN_LOCK = 0x6b77_6931;

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
        return rows.map(instanceFromRow);
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
