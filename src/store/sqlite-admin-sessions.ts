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
  const create = db.transaction((session: AdminSessionRecord, now: number, perActor: number) => {
    dropOver.run(now);
    dropOldest.run(session.actor, perActor - 1);
    insert.run(session.hash, session.actor, session.createdAt, session.expiresAt);
  });

  return {
    async create(session, { now, perActor }) {
      create(session, now, perActor);
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
