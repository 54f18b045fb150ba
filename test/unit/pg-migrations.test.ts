import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migratePostgres, POSTGRES_MIGRATIONS } from '../../src/store/pg-migrations.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

describe.skipIf(!hasPostgres())('Postgres migrations', () => {
  const postgres = usePostgres();

  async function freshPool(size = 4): Promise<pg.Pool> {
    return new pg.Pool({ connectionString: await postgres.database(), max: size });
  }

  async function versions(pool: pg.Pool): Promise<number[]> {
    const { rows } = await pool.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    return rows.map((row) => row.version);
  }

  it('migrates an empty database to the newest version, then finds nothing to do', async () => {
    const pool = await freshPool();
    try {
      expect(await migratePostgres(pool)).toEqual({ from: 0, to: POSTGRES_MIGRATIONS.length });
      expect(await migratePostgres(pool)).toEqual({
        from: POSTGRES_MIGRATIONS.length,
        to: POSTGRES_MIGRATIONS.length,
      });
      expect(await versions(pool)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
      const { rows } = await pool.query("SELECT to_regclass('public.audit') AS audit");
      expect(rows[0].audit).toBe('audit');
    } finally {
      await pool.end();
    }
  });

  it('applies each version once when several instances start at the same moment', async () => {
    const first = await freshPool();
    const url = first.options.connectionString;
    const all = [first, ...[1, 2, 3].map(() => new pg.Pool({ connectionString: url, max: 2 }))];
    try {
      // Without the lock, two would each run CREATE TABLE and one would fail on "already exists".
      const results = await Promise.all(all.map((pool) => migratePostgres(pool)));
      expect(results.filter((result) => result.from === 0)).toHaveLength(1);
      expect(await versions(first)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
    } finally {
      await Promise.all(all.map((pool) => pool.end()));
    }
  });

  it('refuses a database from a newer Keyward, naming both versions and saying to upgrade', async () => {
    const pool = await freshPool();
    try {
      await migratePostgres(pool);
      const newer = POSTGRES_MIGRATIONS.length + 1;
      await pool.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [newer]);
      await expect(migratePostgres(pool)).rejects.toThrow(
        `schema version ${newer}, newer than this Keyward (${POSTGRES_MIGRATIONS.length}); upgrade Keyward`,
      );
      expect(await versions(pool)).toContain(newer);
    } finally {
      await pool.end();
    }
  });

  it('refuses a database missing tables its recorded version has, naming them and what to do', async () => {
    const pool = await freshPool();
    try {
      await migratePostgres(pool);
      await pool.query('DROP TABLE usage; DROP TABLE conversation_items');
      // schema_migrations alone said "nothing to do", and a gateway served while every usage flush failed.
      await expect(migratePostgres(pool)).rejects.toThrow(
        /damaged: .*table\(s\) usage, conversation_items are missing; restore the store from a backup/,
      );
    } finally {
      await pool.end();
    }
  });

  it('refuses a database holding a table Keyward would create, and leaves it as it was', async () => {
    const pool = await freshPool();
    try {
      await pool.query('CREATE TABLE meta (x INTEGER)');
      await expect(migratePostgres(pool)).rejects.toThrow(/table\(s\) meta that Keyward would create/);
      const { rows } = await pool.query("SELECT to_regclass('schema_migrations') AS recorded");
      expect(rows[0].recorded).toBeNull();
    } finally {
      await pool.end();
    }
  });
});
