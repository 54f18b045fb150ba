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

/** How long, and how often, a transaction whose COMMIT went unanswered asks whether it was committed. */
const ASK_COMMITTED_MS = [100, 200, 500, 1000, 2000, 2000];

/**
 * Whether transaction `xid` committed, asked on another connection (`txid_status`, Postgres 10+):
 * `undefined` while Postgres cannot say (unreachable, or still committing it).
 */
async function committed(pool: Pool, xid: string): Promise<boolean | undefined> {
  for (const wait of ASK_COMMITTED_MS) {
    try {
      const { rows } = await pool.query<{ status: string | null }>(
        'SELECT txid_status($1::bigint) AS status',
        [xid],
      );
      const status = rows[0]?.status;
      if (status === 'committed') return true;
      if (status !== 'in progress') return false;
    } catch {
      // Unreachable for now: a restart or a failover takes seconds.
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return undefined;
}

/**
 * `inTransaction` for work that must not be done twice (increments): when the connection is lost
 * once COMMIT is sent, the transaction may have committed with its answer lost, and a caller that
 * tries again counts it twice. Such a transaction's fate is asked of Postgres: committed, it
 * resolves as if answered; it rejects only when Postgres says it did not commit or cannot say.
 */
export async function inTransactionOnce<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  let sent: { xid: string; result: T } | undefined;
  try {
    return await withClient(pool, async (client) => {
      let result: T;
      let xid: string;
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ xid: string }>('SELECT txid_current()::text AS xid');
        xid = rows[0]!.xid;
        result = await work(client);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
      sent = { xid, result };
      await client.query('COMMIT');
      return result;
    });
  } catch (error) {
    if (sent && (await committed(pool, sent.xid))) return sent.result;
    throw error;
  }
}
