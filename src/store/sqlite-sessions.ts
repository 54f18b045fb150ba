import type Database from 'better-sqlite3';
import { type CodeRow, codeFromRow, type SessionRow, sessionFromRow } from './rows.js';
import type { JwtRevocation, LoginCodeRecord, SessionRecord, SessionStore } from './types.js';

/** Login codes, sessions, refresh-token generations and JWT revocations in the embedded store. */
export function sqliteSessions(db: Database.Database): SessionStore {
  const insertCode = db.prepare(
    'INSERT INTO login_codes (hash, grant_json, created_by, expires_at) VALUES (?, ?, ?, ?)',
  );
  const takeCode = db.prepare<[string], CodeRow>('DELETE FROM login_codes WHERE hash = ? RETURNING *');
  const insertSession = db.prepare(
    `INSERT INTO sessions (id, user_id, guest, grant_json, created_by, created_at, expires_at, refreshed_at,
       access_hash, access_expires_at, generation, revoked_at, revoked_reason)
     VALUES (@id, @userId, @guest, @grant, @createdBy, @createdAt, @expiresAt, @refreshedAt,
       @accessHash, @accessExpiresAt, @generation, NULL, NULL)`,
  );
  const insertRefresh = db.prepare(
    'INSERT INTO refresh_tokens (session_id, generation, hash, retired_at) VALUES (?, ?, ?, NULL)',
  );
  const getSession = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?');
  const getRefresh = db.prepare<
    [string, number],
    { session_id: string; generation: number; hash: string; retired_at: number | null }
  >('SELECT * FROM refresh_tokens WHERE session_id = ? AND generation = ?');
  const advance = db.prepare(
    `UPDATE sessions SET generation = @generation, access_hash = @accessHash,
       access_expires_at = @accessExpiresAt, refreshed_at = @at
     WHERE id = @id AND generation = @from AND revoked_at IS NULL`,
  );
  const retire = db.prepare(
    'UPDATE refresh_tokens SET retired_at = ? WHERE session_id = ? AND generation = ? AND retired_at IS NULL',
  );
  const revoke = db.prepare(
    'UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL',
  );
  const revokeUserSessions = db.prepare<[number, string, string], { id: string }>(
    'UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id',
  );
  // A code carries its user only inside the grant; codes live a minute, so the scan stays small.
  const dropUserCodes = db.prepare("DELETE FROM login_codes WHERE json_extract(grant_json, '$.userId') = ?");
  // No index on `guest`: a scan of the table, once, for an operator's action.
  const revokeGuests = db.prepare(
    'UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE guest = 1 AND revoked_at IS NULL',
  );
  const revokedSince = db.prepare<[number], { id: string }>('SELECT id FROM sessions WHERE revoked_at >= ?');
  const pruneCodes = db.prepare('DELETE FROM login_codes WHERE expires_at < ?');
  const pruneSessions = db.prepare('DELETE FROM sessions WHERE expires_at < ? OR refreshed_at < ?');
  const revokeJwt = db.prepare(
    `INSERT INTO jwt_revocations (claim, value, issuer, revoked_at) VALUES (@claim, @value, @issuer, @revokedAt)
     ON CONFLICT (claim, value, issuer) DO UPDATE SET revoked_at = excluded.revoked_at`,
  );
  const jwtSince = db.prepare<[number], { claim: string; value: string; issuer: string; revoked_at: number }>(
    'SELECT * FROM jwt_revocations WHERE revoked_at >= ?',
  );

  const create = db.transaction((session: SessionRecord, refreshHash: string) => {
    insertSession.run({ ...session, guest: session.guest ? 1 : 0, grant: JSON.stringify(session.grant) });
    insertRefresh.run(session.id, session.generation, refreshHash);
  });
  // A code handed out before the revocation would sign the user in again afterwards.
  const revokeUser = db.transaction((userId: string, at: number, reason: string) => {
    dropUserCodes.run(userId);
    return revokeUserSessions.all(at, reason, userId).map((row) => row.id);
  });
  const rotate = db.transaction((id: string, r: Parameters<SessionStore['rotate']>[1]) => {
    if (advance.run({ id, ...r }).changes !== 1) return false;
    retire.run(r.at, id, r.from);
    insertRefresh.run(id, r.generation, r.refreshHash);
    return true;
  });

  return {
    async insertCode(record: LoginCodeRecord) {
      insertCode.run(record.hash, JSON.stringify(record.grant), record.createdBy, record.expiresAt);
    },
    async takeCode(hash, now) {
      const row = takeCode.get(hash);
      return row && row.expires_at > now ? codeFromRow(row) : undefined;
    },
    async create(session, refreshHash) {
      create(session, refreshHash);
    },
    async get(id) {
      const row = getSession.get(id);
      return row && sessionFromRow(row);
    },
    async refreshToken(sessionId, generation) {
      const row = getRefresh.get(sessionId, generation);
      return (
        row && {
          sessionId: row.session_id,
          generation: row.generation,
          hash: row.hash,
          retiredAt: row.retired_at,
        }
      );
    },
    async rotate(sessionId, rotation) {
      return rotate(sessionId, rotation);
    },
    async list(filter) {
      const conditions: string[] = [];
      const values: Record<string, string | number> = {};
      if (filter?.userId !== undefined) {
        conditions.push('user_id = @userId');
        values.userId = filter.userId;
      }
      if (!filter?.includeRevoked) conditions.push('revoked_at IS NULL');
      if (filter?.after) {
        conditions.push('(created_at, id) > (@afterAt, @afterId)');
        values.afterAt = filter.after.createdAt;
        values.afterId = filter.after.id;
      }
      const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
      const limit = filter?.limit === undefined ? '' : `LIMIT ${Math.floor(filter.limit)}`;
      const rows = db
        .prepare<Record<string, string | number>, SessionRow>(
          `SELECT * FROM sessions ${where} ORDER BY created_at, id ${limit}`,
        )
        .all(values);
      return rows.map(sessionFromRow);
    },
    async revoke(id, at, reason) {
      return revoke.run(at, reason, id).changes === 1;
    },
    async revokeUser(userId, at, reason) {
      return revokeUser(userId, at, reason);
    },
    async revokeGuests(at, reason) {
      return revokeGuests.run(at, reason).changes;
    },
    async revokedSince(since) {
      return revokedSince.all(since).map((row) => row.id);
    },
    async prune(before, idleBefore) {
      pruneCodes.run(before);
      pruneSessions.run(before, idleBefore);
    },
    async revokeJwt(revocation) {
      revokeJwt.run(revocation);
    },
    async jwtRevocationsSince(since) {
      return jwtSince.all(since).map(
        (row): JwtRevocation => ({
          claim: row.claim as JwtRevocation['claim'],
          value: row.value,
          issuer: row.issuer,
          revokedAt: row.revoked_at,
        }),
      );
    },
  };
}
