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

/**
 * The most a transaction whose COMMIT went unanswered spends asking whether it committed, every
 * try included: as long as a connection to an unreachable server takes to fail, what a write
 * took before it asked anything. Writes wait on one another, and shutdown on the one under way.
 */
const ASK_COMMITTED_MS = 5_000;
/** Between tries, while Postgres cannot say (a restart takes seconds). */
const ASK_AGAIN_MS = 250;

/**
 * Whether transaction `xid` committed, asked on another connection (`txid_status`, Postgres 10+):
 * `undefined` when Postgres cannot say within ASK_COMMITTED_MS (unreachable, or still committing).
 */
async function committed(pool: Pool, xid: string): Promise<boolean | undefined> {
  const until = performance.now() + ASK_COMMITTED_MS;
  for (let left = ASK_COMMITTED_MS; left > 0; left = until - performance.now()) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), left);
    });
    const asked = pool
      .query<{ status: string | null }>('SELECT txid_status($1::bigint) AS status', [xid])
      .then(({ rows }) => rows[0]?.status ?? null)
      // Unreachable for now: asked again while there is time.
      .catch(() => undefined);
    const status = await Promise.race([asked, late]).finally(() => clearTimeout(timer));
    if (status === 'committed') return true;
    if (status !== undefined && status !== 'in progress') return false;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(ASK_AGAIN_MS, Math.max(0, until - performance.now()))),
    );
  }
  return undefined;
}

/**
 * `inTransaction` for work that must not be done twice (increments): when the connection is lost
 * once COMMIT is sent, the transaction may have committed with its answer lost, and a caller that
 * tries again counts it twice. Such a transaction's fate is asked of Postgres: committed, it
 * resolves as if answered; it rejects only when Postgres says it did not commit or cannot say.
 * After a failover to an asynchronous standby the id is asked of the new primary, which may have
 * given it to another transaction: the work is then taken as committed and lost with the rest of
 * what the old primary committed and the standby never received.
 */
export async function inTransactionOnce<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  // Set once `work` is done: only then is COMMIT sent.
  let sent: { xid: string; result: T } | undefined;
  try {
    return await inTransaction(pool, async (client) => {
      const { rows } = await client.query<{ xid: string }>('SELECT txid_current()::text AS xid');
      const result = await work(client);
      sent = { xid: rows[0]!.xid, result };
      return result;
    });
  } catch (error) {
    if (sent && (await committed(pool, sent.xid))) return sent.result;
    throw error;
  }
}
