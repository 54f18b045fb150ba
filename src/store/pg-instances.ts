import type { Pool } from 'pg';
import { inTransaction } from './pg-transaction.js';
import { type InstanceRow, instanceFromRow } from './rows.js';
import type { InstanceStore } from './types.js';

/** Serialises joins across instances, as SQLite's write lock does: of two starting at once, one sees the other. */
const JOIN_LOCK = 0x6b77_6931;
/**
 * The database server's time in ms: the one clock every instance shares. Each host's own would
 * let a host running behind by more than the liveness window look gone to the others.
 */
const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/** The instances that beat within the last `liveMs`: a query every schema with the table answers. */
export function pgLiveInstances(client: Pick<Pool, 'query'>): InstanceStore['live'] {
  return async (liveMs) => {
    const { rows } = await client.query<InstanceRow>(
      `SELECT * FROM instances WHERE seen_at >= ${NOW_MS} - $1 ORDER BY started_at`,
      [liveMs],
    );
    return rows.map(instanceFromRow);
  };
}

export function pgInstances(pool: Pool): InstanceStore {
  return {
    async join(self, liveMs) {
      return inTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [JOIN_LOCK]);
        // Rows nobody has beaten for a day are crashed instances: no reason to keep them.
        await client.query(`DELETE FROM instances WHERE seen_at < ${NOW_MS} - 86400000`);
        const { rows } = await client.query<InstanceRow>(
          `SELECT * FROM instances WHERE seen_at >= ${NOW_MS} - $1 AND id != $2 ORDER BY started_at`,
          [liveMs, self.id],
        );
        await client.query(
          `INSERT INTO instances (id, host, pid, limits, started_at, seen_at, master_key_id) VALUES ($1, $2, $3, $4, $5, ${NOW_MS}, $6)`,
          [self.id, self.host, self.pid, self.limits, self.startedAt, self.masterKeyId ?? null],
        );
        return rows.map(instanceFromRow);
      });
    },
    live: pgLiveInstances(pool),
    async beat(id, masterKeyId) {
      await pool.query(`UPDATE instances SET seen_at = ${NOW_MS}, master_key_id = $2 WHERE id = $1`, [
        id,
        masterKeyId ?? null,
      ]);
    },
    async leave(id) {
      await pool.query('DELETE FROM instances WHERE id = $1', [id]);
    },
  };
}
