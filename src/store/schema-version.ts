import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { type SchemaState, schemaState } from './schema-tables.js';

/**
 * A SQLite database's recorded schema version and which of its tables exist, read in one
 * transaction: read apart, another process's migration could land between them, and a store
 * migrating under a start looked damaged ("records schema version 4 but table(s) … are missing").
 */
export function sqliteSchemaState(db: Database.Database): SchemaState {
  return db.transaction(() => {
    const tables = db
      .prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .pluck()
      .all();
    return schemaState(
      SQLITE_MIGRATIONS,
      db.pragma('user_version', { simple: true }) as number,
      new Set(tables),
    );
  })();
}

/**
 * A SQLite store's schema, read on a read-only connection (nothing is migrated), beside the one
 * this Keyward writes: what `keyward doctor` reports without changing the file.
 */
export function sqliteSchemaVersion(path: string): SchemaState {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return sqliteSchemaState(db);
  } finally {
    db.close();
  }
}
