import Database from 'better-sqlite3';
import pg from 'pg';
import { migratePostgres } from './pg-migrations.js';
import { inTransaction } from './pg-transaction.js';

/**
 * The tables copied, parents before children. `instances` is left out: it lists the processes
 * running on the source, which are not running on the target. So is `admin_sessions`: operators
 * log in to the dashboard again on the new store.
 */
const TABLES = [
  'meta',
  'provider_keys',
  'tokens',
  'usage',
  'audit',
  'login_codes',
  'sessions',
  'refresh_tokens',
  'jwt_revocations',
  'templates',
  'template_usage',
  'conversations',
  'conversation_items',
] as const;

/** What must be empty on the target: copying over live data would mix two stores' chains and keys. */
const MUST_BE_EMPTY = ['meta', 'provider_keys', 'tokens', 'audit'] as const;

const ROWS_PER_STATEMENT = 1_000;

export interface CopyResult {
  /** Rows copied, by table. */
  rows: Record<string, number>;
}

/**
 * Copies every row of a SQLite store into a Postgres database, in one transaction: the target is
 * migrated first and must hold no store yet. Rows move as they are: sealed keys stay sealed under
 * the same master key, and the audit chain keeps its seqs and macs, so it verifies on the target.
 * The source is opened read-only; stop the gateways writing to it first, or the copy misses what
 * they write afterwards.
 */
export async function copySqliteToPostgres(
  sqlitePath: string,
  target: { url: string; ssl?: pg.PoolConfig['ssl'] },
): Promise<CopyResult> {
  const source = new Database(sqlitePath, { readonly: true, fileMustExist: true });
  const pool = new pg.Pool({ connectionString: target.url, ssl: target.ssl, max: 2 });
  try {
    await migratePostgres(pool);
    const rows: Record<string, number> = {};
    // One read transaction on the source: every table is copied as of the same moment.
    source.exec('BEGIN');
    await inTransaction(pool, async (client) => {
      // Checked under a lock held to the commit: a second copy (or a gateway creating its store)
      // waits here, then finds this one's rows, where it found the target empty and failed on a
      // duplicate key. Plain reads go on.
      await client.query('LOCK TABLE meta IN EXCLUSIVE MODE');
      for (const table of MUST_BE_EMPTY) {
        const { rows: found } = await client.query(`SELECT 1 FROM ${table} LIMIT 1`);
        if (found.length > 0)
          throw new Error(`the target already holds a store (table ${table} is not empty)`);
      }
      for (const table of TABLES) {
        rows[table] = 0;
        for (const batch of batches(source, table)) {
          await client.query(
            `INSERT INTO ${table} ${table === 'conversation_items' ? 'OVERRIDING SYSTEM VALUE' : ''}
             SELECT * FROM json_populate_recordset(NULL::${table}, $1)`,
            [JSON.stringify(batch.map((row) => toPostgres(table, row)))],
          );
          rows[table] += batch.length;
        }
      }
      // Items added on the target continue after the copied ones.
      await client.query(
        `SELECT setval(pg_get_serial_sequence('conversation_items', 'seq'),
           GREATEST((SELECT MAX(seq) FROM conversation_items), 1))`,
      );
    });
    return { rows };
  } finally {
    if (source.inTransaction) source.exec('COMMIT');
    source.close();
    await pool.end();
  }
}

/** A table's rows in rowid order, a statement's worth at a time (never the whole table in memory). */
function* batches(source: Database.Database, table: string): Generator<Record<string, unknown>[]> {
  const page = source.prepare<[number, number], Record<string, unknown> & { _rowid: number }>(
    `SELECT rowid AS _rowid, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`,
  );
  let after = 0;
  for (;;) {
    // json_populate_recordset ignores _rowid: it names no column of the target.
    const batch = page.all(after, ROWS_PER_STATEMENT);
    if (batch.length === 0) return;
    yield batch;
    after = batch[batch.length - 1]!._rowid;
  }
}

/** The one column whose type differs: SQLite keeps booleans as 0 and 1. */
function toPostgres(table: string, row: Record<string, unknown>): Record<string, unknown> {
  return table === 'sessions' ? { ...row, guest: row.guest === 1 } : row;
}
