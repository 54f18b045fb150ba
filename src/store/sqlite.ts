import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { type KeyRow, keyFromRow } from './rows.js';
import { refuseUnusable, type SchemaState, unmigratedStore } from './schema-tables.js';
import { sqliteSchemaState } from './schema-version.js';
import { sqliteAdminSessions } from './sqlite-admin-sessions.js';
import { sqliteAudit } from './sqlite-audit.js';
import { sqliteConversations } from './sqlite-conversations.js';
import { sqliteInstances, sqliteLiveInstances } from './sqlite-instances.js';
import { sqliteSessions } from './sqlite-sessions.js';
import { sqliteTemplates } from './sqlite-templates.js';
import { sqliteTokens } from './sqlite-tokens.js';
import { sqliteUsage } from './sqlite-usage.js';
import { walWipe } from './sqlite-wal-wipe.js';
import type { BeforeMigrate, ProviderKeyRecord, Store } from './types.js';

/**
 * The schema the database holds; refuses one written by a newer Keyward, one missing tables its
 * recorded version has, and one holding tables a migration would create. Writes nothing.
 */
function usableSchema(db: Database.Database): SchemaState {
  const state = sqliteSchemaState(db);
  refuseUnusable(state);
  return state;
}

/**
 * Brings a usable schema found at `state` up to the newest version, one migration per transaction.
 * Each takes the write lock first (`BEGIN IMMEDIATE`) and reads the version again under it: two
 * starts that both found the store behind took turns, and the second ran the first's `ALTER TABLE`
 * again ("duplicate column name"). `from` is the version this call migrated from, the version
 * found when another process migrated it meanwhile.
 */
function migrate(db: Database.Database, state: SchemaState): { from: number; to: number } {
  const latest = SQLITE_MIGRATIONS.length;
  let from: number | undefined;
  const step = db.transaction((): boolean => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version >= latest) return false;
    from ??= version;
    db.exec(SQLITE_MIGRATIONS[version] as string);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  if (state.version < latest) while (step.immediate());
  const to = Math.max(state.version, latest);
  return { from: from ?? to, to };
}

/** Bytes per page of a new database file. */
export const PAGE_SIZE = 8192;

/**
 * Each connection's page cache, in KiB (SQLite's default is 2,000). The gateway reads through
 * caches of its own and mostly appends, and a page SQLite no longer holds is still in the OS's
 * cache. Storing Responses at c=50, in turns against the default: 512 KiB kept RSS 12 MB lower at
 * 1.02× the throughput; 256 KiB 9–12 MB lower, but the writer thread's CPU per response rose
 * 3–13 % (docs/decisions.md, "Hot path").
 */
const CACHE_KIB = 512;

/**
 * Creates the database file 0600 before SQLite opens it, so there is no moment when the umask's
 * mode applies; an existing file is not opened. Closing any descriptor of a file drops every POSIX
 * lock the process holds on it: opening and closing the file here when the writer thread opened
 * its connection took the main connection's lock away, and the next other process to close the
 * database (`keyward keys disable`, the sqlite3 shell, a backup) took itself for its last user,
 * checkpointed and deleted the WAL under the gateway, which then wrote to a deleted file that no
 * other process read (`test/integration/sqlite-locks.test.ts`).
 */
function createOwnerOnly(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  closeSync(fd);
}

/** The database file, created owner-only if absent, with this connection's settings. */
/** How long an open tries to make the file WAL while other processes opening it hold it. */
const WAL_SWITCH_MS = 5_000;

/**
 * Puts the file in WAL mode. Processes opening one new file at once (a fresh data directory, two
 * containers started together) contend for the switch, and SQLite refuses a contender at once
 * (SQLITE_BUSY: waiting could deadlock, so the busy handler is not called): one of eight such
 * starts failed with "database is locked". The switch is tried again, ten milliseconds apart.
 */
function enterWal(db: Database.Database): void {
  const until = Date.now() + WAL_SWITCH_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= until) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

function openDatabase(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  createOwnerOnly(path);
  chmodSync(path, 0o600);
  const db = new Database(path);
  try {
    // Takes effect only while the file is still empty: a database made with 4 KiB pages keeps them.
    // A stored response (about 2 KB sealed) costs a third less with 8 KiB pages: fewer WAL frames
    // to write and copy back per commit (decisions.md, "SQLite pages").
    db.pragma(`page_size = ${PAGE_SIZE}`);
    enterWal(db);
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma(`cache_size = -${CACHE_KIB}`);
    db.pragma('foreign_keys = ON');
    // Per connection (the writer thread opens its own through here): a deleted row's bytes are
    // zeroed, not left in free page space where the master key beside the file would open them.
    db.pragma('secure_delete = ON');
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** The embedded store: one SQLite file in WAL mode, readable only by its owner, migrated on open. */
export function openSqliteStore(path: string): Store {
  const db = openDatabase(path);
  let schema: { from: number; to: number };
  try {
    schema = migrate(db, usableSchema(db));
  } catch (error) {
    db.close();
    throw error;
  }
  return sqliteStore(db, schema);
}

/**
 * As openSqliteStore, but a pending migration is applied only once `beforeMigrate` has looked at
 * the store as found: a start it refuses leaves the file at the version an older Keyward reads.
 */
export async function openSqliteStoreChecked(path: string, beforeMigrate: BeforeMigrate): Promise<Store> {
  const db = openDatabase(path);
  let schema: { from: number; to: number };
  try {
    const found = usableSchema(db);
    if (found.version < found.latest)
      await beforeMigrate(unmigratedStore(SQLITE_MIGRATIONS, found, () => sqliteLiveInstances(db)));
    // Read again: another start may have migrated it while this one looked.
    schema = migrate(db, usableSchema(db));
  } catch (error) {
    db.close();
    throw error;
  }
  return sqliteStore(db, schema);
}

function sqliteStore(db: Database.Database, schema: { from: number; to: number }): Store {
  const listAll = db.prepare<[], KeyRow>('SELECT * FROM provider_keys ORDER BY created_at, id');
  const listByProvider = db.prepare<[string], KeyRow>(
    'SELECT * FROM provider_keys WHERE provider = ? ORDER BY created_at, id',
  );
  const getOne = db.prepare<[string], KeyRow>('SELECT * FROM provider_keys WHERE id = ?');
  const insert = db.prepare(
    `INSERT INTO provider_keys (id, provider, ciphertext, fingerprint, status, weight, created_at, updated_at)
     VALUES (@id, @provider, @ciphertext, @fingerprint, @status, @weight, @createdAt, @updatedAt)`,
  );
  const sameValue = db.prepare<[string, string], KeyRow>(
    'SELECT * FROM provider_keys WHERE provider = ? AND fingerprint = ? ORDER BY created_at, id LIMIT 1',
  );
  const setStatus = db.prepare('UPDATE provider_keys SET status = ?, updated_at = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM provider_keys WHERE id = ?');
  const setCiphertext = db.prepare('UPDATE provider_keys SET ciphertext = ?, updated_at = ? WHERE id = ?');
  const getMeta = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE name = ?');
  const insertMeta = db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)');
  const deleteMetaIf = db.prepare('DELETE FROM meta WHERE name = ? AND value = ?');
  const upsertMeta = db.prepare(
    'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
  );

  const wipe = walWipe(db);

  const insertUnlessStored = db.transaction((record: ProviderKeyRecord) => {
    const stored = sameValue.get(record.provider, record.fingerprint);
    if (stored) return keyFromRow(stored);
    insert.run(record);
    return undefined;
  });
  const rewrap = db.transaction((ciphertexts: ReadonlyMap<string, string>, now: number) => {
    for (const [id, ciphertext] of ciphertexts) {
      if (setCiphertext.run(ciphertext, now, id).changes !== 1)
        throw new Error(`key ${id} vanished during rewrap`);
    }
  });

  return {
    kind: 'sqlite',
    schema,
    providerKeys: {
      async list(provider) {
        return (provider === undefined ? listAll.all() : listByProvider.all(provider)).map(keyFromRow);
      },
      async get(id) {
        const row = getOne.get(id);
        return row && keyFromRow(row);
      },
      async insert(record) {
        // IMMEDIATE: the write lock is taken before the look, so another process cannot add the value between.
        return insertUnlessStored.immediate(record);
      },
      async setStatus(id, status, now) {
        return setStatus.run(status, now, id).changes === 1;
      },
      async remove(id) {
        return remove.run(id).changes === 1;
      },
      async rewrap(ciphertexts, now) {
        rewrap(ciphertexts, now);
      },
    },
    instances: sqliteInstances(db),
    tokens: sqliteTokens(db),
    conversations: sqliteConversations(db, wipe.soon),
    usage: sqliteUsage(db),
    audit: sqliteAudit(db),
    sessions: sqliteSessions(db),
    adminSessions: sqliteAdminSessions(db),
    templates: sqliteTemplates(db),
    meta: {
      async get(name) {
        return getMeta.get(name)?.value;
      },
      async set(name, value) {
        upsertMeta.run(name, value);
      },
      async setIfAbsent(name, value) {
        insertMeta.run(name, value);
        return getMeta.get(name)!.value;
      },
      async deleteIf(name, value) {
        return deleteMetaIf.run(name, value).changes === 1;
      },
    },
    async ping() {
      db.pragma('data_version', { simple: true });
    },
    async changeMarker() {
      return db.pragma('data_version', { simple: true }) as number;
    },
    async signalChange(what) {
      // Any commit moves the other connections' data_version; this one says what and when.
      upsertMeta.run('last_signal', `${what} ${Date.now()}`);
    },
    async close() {
      wipe.close();
      db.close();
    },
  };
}
