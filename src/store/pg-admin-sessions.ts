import type { Pool } from 'pg';
import { inTransaction } from './pg-transaction.js';
import { type AdminSessionRow, adminSessionFromRow } from './rows.js';
import type { AdminSessionStore } from './types.js';

/** Dashboard logins in Postgres, shared by every instance. */
export function pgAdminSessions(pool: Pool): AdminSessionStore {
  return {
    async create(session, { now, perActor, total, spared }) {
      await inTransaction(pool, async (client) => {
        await client.query('DELETE FROM admin_sessions WHERE expires_at <= $1', [now]);
        await client.query(
          `DELETE FROM admin_sessions WHERE hash IN
             (SELECT hash FROM admin_sessions WHERE actor = $1 ORDER BY created_at DESC, hash OFFSET $2)`,
          [session.actor, perActor - 1],
        );
        await client.query(
          `DELETE FROM admin_sessions WHERE hash IN
             (SELECT hash FROM admin_sessions WHERE left(actor, length($1)) <> $1
              ORDER BY created_at DESC, hash OFFSET $2)`,
          [spared, total - 1],
        );
        await client.query(
          'INSERT INTO admin_sessions (hash, actor, created_at, expires_at) VALUES ($1, $2, $3, $4)',
          [session.hash, session.actor, session.createdAt, session.expiresAt],
        );
      });
    },
    async get(hash, now) {
      const { rows } = await pool.query<AdminSessionRow>(
        'SELECT * FROM admin_sessions WHERE hash = $1 AND expires_at > $2',
        [hash, now],
      );
      const row = rows[0];
      return row && adminSessionFromRow(row);
    },
    async remove(hash) {
      await pool.query('DELETE FROM admin_sessions WHERE hash = $1', [hash]);
    },
    async removeFor(actor) {
      await pool.query('DELETE FROM admin_sessions WHERE actor = $1', [actor]);
    },
  };
}
