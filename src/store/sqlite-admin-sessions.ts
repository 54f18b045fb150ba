import type Database from 'better-sqlite3';
import { type AdminSessionRow, adminSessionFromRow } from './rows.js';
import type { AdminSessionRecord, AdminSessionStore } from './types.js';

/** Dashboard logins in the embedded store. */
export function sqliteAdminSessions(db: Database.Database): AdminSessionStore {
  const insert = db.prepare(
    'INSERT INTO admin_sessions (hash, actor, created_at, expires_at) VALUES (?, ?, ?, ?)',
  );
  const dropOver = db.prepare('DELETE FROM admin_sessions WHERE expires_at <= ?');
  const dropOldest = db.prepare(
    `DELETE FROM admin_sessions WHERE hash IN
       (SELECT hash FROM admin_sessions WHERE actor = ? ORDER BY created_at DESC, hash LIMIT -1 OFFSET ?)`,
  );
  const get = db.prepare<[string, number], AdminSessionRow>(
    'SELECT * FROM admin_sessions WHERE hash = ? AND expires_at > ?',
  );
  const remove = db.prepare('DELETE FROM admin_sessions WHERE hash = ?');
  const removeFor = db.prepare('DELETE FROM admin_sessions WHERE actor = ?');
  const dropOldestOfAll = db.prepare(
    `DELETE FROM admin_sessions WHERE hash IN
       (SELECT hash FROM admin_sessions WHERE substr(actor, 1, length(@spared)) <> @spared
        ORDER BY created_at DESC, hash LIMIT -1 OFFSET @keep)`,
  );
  const create = db.transaction(
    (session: AdminSessionRecord, limit: Parameters<AdminSessionStore['create']>[1]) => {
      dropOver.run(limit.now);
      dropOldest.run(session.actor, limit.perActor - 1);
      dropOldestOfAll.run({ spared: limit.spared, keep: limit.total - 1 });
      insert.run(session.hash, session.actor, session.createdAt, session.expiresAt);
    },
  );

  return {
    async create(session, limit) {
      create(session, limit);
    },
    async get(hash, now) {
      const row = get.get(hash, now);
      return row && adminSessionFromRow(row);
    },
    async remove(hash) {
      remove.run(hash);
    },
    async removeFor(actor) {
      removeFor.run(actor);
    },
  };
}
