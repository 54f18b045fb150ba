import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from './migrations.js';

/**
 * A SQLite store's schema version, read on a read-only connection (nothing is migrated), beside
 * the one this Keyward writes: what `keyward doctor` reports without changing the file.
 */
export function sqliteSchemaVersion(path: string): { version: number; latest: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return {
      version: db.pragma('user_version', { simple: true }) as number,
      latest: SQLITE_MIGRATIONS.length,
    };
  } finally {
    db.close();
  }
}
