import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { hasPostgres } from '../support/postgres.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { lockStore, type StoreLock } from '../support/store-lock.js';
import { usePostgres } from '../support/use-postgres.js';

const REQUESTS = 5;

/**
 * SIGTERM while the store refuses writes (another process holds SQLite's write lock): the usage
 * and the audit records still in memory are written if the store comes back within the shutdown
 * grace period, and named as lost when it does not.
 */
describe('keyward start stopped while its store is unwritable', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
  let kw: RunningGateway | undefined;
  let locker: StoreLock | undefined;

  const release = async () => {
    await locker?.release();
  };
  afterEach(async () => {
    await release();
    if (kw && kw.child.exitCode === null && kw.child.signalCode === null) {
      kw.child.kill('SIGKILL');
      await kw.exited;
    }
    await fake?.close();
  });

  /** A gateway whose store is locked after a token was minted, with `REQUESTS` served since. */
  const serveWhileLocked = async (graceMs: number) => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const dataDir = freshDataDir();
    const config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      providers: [{ id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      audit: { requests: true, intervalMs: 50 },
      shutdown: { graceMs },
    });
    kw = await startGatewayProcess(config, {
      P_KEY: PROVIDER_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      KEYWARD_DATA_DIR: dataDir,
    });
    const { token, id } = (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'term' })).json as {
      token: string;
      id: string;
    };
    const database = join(dataDir, 'keyward.db');
    locker = await lockStore(database);
    for (let i = 0; i < REQUESTS; i++) {
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }),
      });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
    }
    // Long enough for the usage timer (1 s) and the audit interval to have tried and failed.
    await sleep(1200);
    /** What the store holds for the token, read once the gateway is gone and the lock released. */
    const stored = () => {
      const db = new Database(database, { readonly: true });
      try {
        const usage = db.prepare('SELECT SUM(requests) AS n FROM usage WHERE token_id = ?').get(id) as {
          n: number | null;
        };
        const audit = db
          .prepare("SELECT COUNT(*) AS n FROM audit WHERE type = 'request' AND actor = ?")
          .get(id) as { n: number };
        return { usage: usage.n ?? 0, audit: audit.n };
      } finally {
        db.close();
      }
    };
    return { gateway: kw, stored };
  };

  it('writes every usage count and audit record once the store is back within the grace period', async () => {
    const { gateway, stored } = await serveWhileLocked(20_000);
    gateway.child.kill('SIGTERM');
    await sleep(1500);
    expect(gateway.child.exitCode).toBeNull();
    await release();
    expect(await gateway.exited).toBe(0);
    expect(stored()).toEqual({ usage: REQUESTS, audit: REQUESTS });
    expect(gateway.lines.at(-1)).toContain('keyward stopped');
  }, 40_000);

  it('names the usage and audit records it drops when the store stays unwritable past the grace period', async () => {
    const { gateway, stored } = await serveWhileLocked(1000);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(1);
    await release();
    expect(stored()).toEqual({ usage: 0, audit: 0 });
    const log = gateway.lines.map((line) => JSON.parse(line) as { msg?: string; err?: { message: string } });
    expect(log.some((line) => line.msg?.startsWith('shutting down'))).toBe(true);
    const failure = log.find((line) => line.msg === 'error during shutdown');
    expect(failure?.err?.message).toContain(`usage of ${REQUESTS} requests`);
    // The requests' records, and the token's creation if it was still queued when the lock came.
    const dropped = log
      .map((line) => /^(\d+) audit records were never written/.exec(line.err?.message ?? '')?.[1])
      .find(Boolean);
    expect(Number(dropped)).toBeGreaterThanOrEqual(REQUESTS);
  }, 40_000);
});

describe.skipIf(!hasPostgres())(
  'keyward start stopped while its Postgres is down (needs the Debian package postgresql)',
  () => {
    const postgres = usePostgres();
    let fake: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
    let kw: RunningGateway | undefined;
    afterEach(async () => {
      if (kw && kw.child.exitCode === null && kw.child.signalCode === null) {
        kw.child.kill('SIGKILL');
        await kw.exited;
      }
      await fake?.close();
    });

    it('writes every usage count and audit record once Postgres is back within the grace period', async () => {
      const url = await postgres.database();
      fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
      const config = writeTempConfig({
        server: { port: 0 },
        admin: { port: 0 },
        storage: { postgres: { url } },
        providers: [{ id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
        audit: { requests: true, intervalMs: 50 },
        shutdown: { graceMs: 20_000 },
      });
      kw = await startGatewayProcess(config, { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY });
      const gateway = kw;
      const { token, id } = (await adminCall(gateway.adminUrl, 'POST', '/admin/tokens', { name: 'pg' }))
        .json as {
        token: string;
        id: string;
      };
      // Stopped once the token's audit record is written: a server shutting down while a pooled
      // connection is checked out for a transaction crashes the gateway (an unheard 'error' on it),
      // a fault of its own.
      await sleep(500);
      postgres.server.down();
      for (let i = 0; i < REQUESTS; i++) {
        const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'fast',
            messages: [{ role: 'user', content: 'hi' }],
            max_tokens: 10,
          }),
        });
        await res.body.dump();
        expect(res.statusCode).toBe(200);
      }
      await sleep(1200);
      gateway.child.kill('SIGTERM');
      await sleep(1000);
      const stoppedEarly = gateway.child.exitCode !== null;
      postgres.server.up();
      const code = await gateway.exited;

      const { default: pg } = await import('pg');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const usage = await client.query('SELECT SUM(requests)::int AS n FROM usage WHERE token_id = $1', [
          id,
        ]);
        const audit = await client.query(
          "SELECT COUNT(*)::int AS n FROM audit WHERE type = 'request' AND actor = $1",
          [id],
        );
        expect({ usage: usage.rows[0].n, audit: audit.rows[0].n }).toEqual({
          usage: REQUESTS,
          audit: REQUESTS,
        });
      } finally {
        await client.end();
      }
      expect({ stoppedEarly, code }).toEqual({ stoppedEarly: false, code: 0 });
      expect(gateway.lines.at(-1)).toContain('keyward stopped');
    }, 60_000);
  },
);
