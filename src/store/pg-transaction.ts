import type { Pool, PoolClient } from 'pg';

/**
 * Runs `work` on one connection checked out of the pool, given back after it (thrown away when it
 * failed). A checked-out connection has no error listener of the pool's: one that Postgres ended
 * while it was held (a restart, a failover, an administrator's command) emitted an `error` that
 * nothing listened to, and that ended the process. Its error now fails `work`'s next query instead.
 */
export async function withClient<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost = error;
  };
  client.on('error', onError);
  try {
    return await work(client);
  } finally {
    client.removeListener('error', onError);
    client.release(lost);
  }
}

/** Runs `work` in one transaction on one pooled connection: committed if it returns, rolled back if it throws. */
export function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  });
}
