import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/store/pg-transaction.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * A connection checked out of the pool has no error listener of the pool's: one that Postgres ends
 * while a transaction holds it (a restart, a failover, an administrator's command) emitted an
 * `error` nobody listened to, which ended the gateway's process. The transaction now fails with
 * the error, and the connection is thrown away rather than given back.
 */
describe.skipIf(!hasPostgres())('a transaction whose connection Postgres ends', () => {
  const postgres = usePostgres();
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: postgres.server.url, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
  });

  it('fails with the error, and the pool serves the next transaction', async () => {
    const ended = inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const admin = new pg.Client({ connectionString: postgres.server.url });
      await admin.connect();
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await admin.end();
      // The server's notice of the end arrives while the transaction is between statements.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await client.query('SELECT 1');
    });
    await expect(ended).rejects.toThrow(/terminat|Connection/i);
    await expect(inTransaction(pool, (client) => client.query('SELECT 1 AS one'))).resolves.toMatchObject({
      rows: [{ one: 1 }],
    });
  });
});
