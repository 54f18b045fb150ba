import type { Pool } from 'pg';
import { inTransactionOnce } from './pg-transaction.js';
import { type CodeRow, codeFromRow, type SessionRow, sessionFromRow } from './rows.js';
import type { JwtRevocation, SessionStore } from './types.js';

const INSERT_REFRESH =
  'INSERT INTO refresh_tokens (session_id, generation, hash, retired_at) VALUES ($1, $2, $3, NULL)';

/** Login codes, sessions, refresh-token generations and JWT revocations in Postgres. */
export function pgSessions(pool: Pool): SessionStore {
  return {
    async insertCode(record) {
      await pool.query(
        'INSERT INTO login_codes (hash, grant_json, created_by, expires_at) VALUES ($1, $2, $3, $4)',
        [record.hash, JSON.stringify(record.grant), record.createdBy, record.expiresAt],
      );
    },
    async takeCode(hash, now) {
      const { rows } = await pool.query<CodeRow>('DELETE FROM login_codes WHERE hash = $1 RETURNING *', [
        hash,
      ]);
      const row = rows[0];
      return row && row.expires_at > now ? codeFromRow(row) : undefined;
    },
    async create(s, refreshHash) {
      // Once: a session that committed with its answer lost failed its login, and the login code
      // it was exchanged for had been spent, so the user could not sign in with it again.
      await inTransactionOnce(pool, async (client) => {
        await client.query(
          `INSERT INTO sessions (id, user_id, guest, grant_json, created_by, created_at, expires_at, refreshed_at,
             access_hash, access_expires_at, generation, revoked_at, revoked_reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)`,
          [
            s.id,
            s.userId,
            s.guest,
            JSON.stringify(s.grant),
            s.createdBy,
            s.createdAt,
            s.expiresAt,
            s.refreshedAt,
            s.accessHash,
            s.accessExpiresAt,
            s.generation,
          ],
        );
        await client.query(INSERT_REFRESH, [s.id, s.generation, refreshHash]);
      });
    },
    async get(id) {
      const row = (await pool.query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id])).rows[0];
      return row && sessionFromRow(row);
    },
    async refreshToken(sessionId, generation) {
      const row = (
        await pool.query<{ session_id: string; generation: number; hash: string; retired_at: number | null }>(
          'SELECT * FROM refresh_tokens WHERE session_id = $1 AND generation = $2',
          [sessionId, generation],
        )
      ).rows[0];
      return (
        row && {
          sessionId: row.session_id,
          generation: row.generation,
          hash: row.hash,
          retiredAt: row.retired_at,
        }
      );
    },
    async rotate(sessionId, r) {
      // Once: a rotation that committed with its answer lost left the browser the generation it
      // had retired, and its next refresh past the grace revoked the login as a replay.
      return inTransactionOnce(pool, async (client) => {
        // The conditional update is the compare-and-set: of two rotations from one generation, one wins.
        const advanced = await client.query(
          `UPDATE sessions SET generation = $1, access_hash = $2, access_expires_at = $3, refreshed_at = $4
           WHERE id = $5 AND generation = $6 AND revoked_at IS NULL`,
          [r.generation, r.accessHash, r.accessExpiresAt, r.at, sessionId, r.from],
        );
        if (advanced.rowCount !== 1) return false;
        await client.query(
          'UPDATE refresh_tokens SET retired_at = $1 WHERE session_id = $2 AND generation = $3 AND retired_at IS NULL',
          [r.at, sessionId, r.from],
        );
        await client.query(INSERT_REFRESH, [sessionId, r.generation, r.refreshHash]);
        return true;
      });
    },
    async list(filter) {
      const conditions: string[] = [];
      const values: Array<string | number> = [];
      if (filter?.userId !== undefined) {
        values.push(filter.userId);
        conditions.push(`user_id = $${values.length}`);
      }
      if (!filter?.includeRevoked) conditions.push('revoked_at IS NULL');
      if (filter?.after) {
        values.push(filter.after.createdAt, filter.after.id);
        conditions.push(`(created_at, id) > ($${values.length - 1}, $${values.length})`);
      }
      const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
      const limit = filter?.limit === undefined ? '' : `LIMIT ${Math.floor(filter.limit)}`;
      const { rows } = await pool.query<SessionRow>(
        `SELECT * FROM sessions ${where} ORDER BY created_at, id ${limit}`,
        values,
      );
      return rows.map(sessionFromRow);
    },
    async revoke(id, at, reason) {
      const result = await pool.query(
        'UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL',
        [at, reason, id],
      );
      return result.rowCount === 1;
    },
    async revokeUser(userId, at, reason) {
      // One statement, so the codes go with the sessions: a code handed out before the revocation
      // would sign the user in again afterwards. A code carries its user only inside the grant.
      const { rows } = await pool.query<{ id: string }>(
        `WITH codes AS (DELETE FROM login_codes WHERE grant_json::jsonb ->> 'userId' = $3)
         UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL
         RETURNING id`,
        [at, reason, userId],
      );
      return rows.map((row) => row.id);
    },
    async revokeGuests(at, reason) {
      const result = await pool.query(
        'UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE guest AND revoked_at IS NULL',
        [at, reason],
      );
      return result.rowCount ?? 0;
    },
    async revokedSince(since) {
      const { rows } = await pool.query<{ id: string }>('SELECT id FROM sessions WHERE revoked_at >= $1', [
        since,
      ]);
      return rows.map((row) => row.id);
    },
    async prune(before, idleBefore) {
      await pool.query('DELETE FROM login_codes WHERE expires_at < $1', [before]);
      await pool.query('DELETE FROM sessions WHERE expires_at < $1 OR refreshed_at < $2', [
        before,
        idleBefore,
      ]);
    },
    async revokeJwt(r) {
      await pool.query(
        `INSERT INTO jwt_revocations (claim, value, issuer, revoked_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (claim, value, issuer) DO UPDATE SET revoked_at = excluded.revoked_at`,
        [r.claim, r.value, r.issuer, r.revokedAt],
      );
    },
    async jwtRevocationsSince(since) {
      const { rows } = await pool.query<{
        claim: JwtRevocation['claim'];
        value: string;
        issuer: string;
        revoked_at: number;
      }>('SELECT * FROM jwt_revocations WHERE revoked_at >= $1', [since]);
      return rows.map((row) => ({
        claim: row.claim,
        value: row.value,
        issuer: row.issuer,
        revokedAt: row.revoked_at,
      }));
    },
  };
}
