import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { childrenOf } from '../support/proc.js';
import {
  freshDataDir,
  type RunningGateway,
  runCli,
  startWorkers,
  writeTempConfig,
} from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';

const KEY_A = 'sk-worker-key-a-0123456789abcdef';
const KEY_B = 'sk-worker-key-b-0123456789abcdef';

async function until(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

describe('keyward start --workers 2 with the memory backend', () => {
  let fake: FakeProvider;
  let pair: FakeProvider;
  let kw: RunningGateway;
  // A connection per request, so that the cluster spreads them over both workers.
  const fresh = new Agent({ pipelining: 0, keepAliveTimeout: 1, headersTimeout: 5000, bodyTimeout: 5000 });

  const chat = async (token: string, extra: Record<string, unknown> = {}): Promise<number> => {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: fresh,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], ...extra }),
    });
    await res.body.dump();
    return res.statusCode;
  };
  const token = async (spec: Record<string, unknown>) =>
    (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'w', ...spec })).json as {
      token: string;
      id: string;
    };

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    pair = await startFakeProvider('openai', { keys: [KEY_A, KEY_B] });
    // Port 0: the cluster gives every worker the same free port, so no other test can take it
    // between choosing and listening.
    const config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      providers: [
        { id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } },
        { id: 'ob', type: 'openai', baseUrl: pair.baseUrl, keys: { env: 'P_KEYS' } },
      ],
      models: [
        { name: 'fast', provider: 'oa', model: 'gpt-4o-mini' },
        { name: 'pair', provider: 'ob', model: 'gpt-4o-mini' },
      ],
      alerts: { authFailuresPerMinute: 8 },
    });
    kw = await startWorkers(config, {
      P_KEY: PROVIDER_KEY,
      P_KEYS: `${KEY_A},${KEY_B}`,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
    });
  });
  afterAll(async () => {
    await kw?.stop();
    await fresh.close();
    await fake?.close();
    await pair?.close();
  });

  it('runs two workers on the same ports', () => {
    expect(childrenOf(kw.child.pid!)).toHaveLength(2);
  });

  it('raises one auth-failure burst alert for failures spread over both workers', async () => {
    // Nine wrong credentials, half to each worker: more than the 8 a minute only counted together.
    const statuses = await Promise.all(Array.from({ length: 9 }, () => chat('kw_wrong_credential')));
    expect(statuses.every((s) => s === 401)).toBe(true);
    const bursts = async () =>
      (await adminCall(kw.adminUrl, 'GET', '/admin/alerts')).json.alerts.filter(
        (alert: { kind: string }) => alert.kind === 'auth_failure_burst',
      );
    await expect.poll(async () => (await bursts()).length, { timeout: 2000 }).toBe(1);
    expect((await bursts())[0].detail).toEqual({ failures: 9, threshold: 8 });
    // The burst is only an alert: a valid credential still works on both workers.
    const { token: valid } = await token({});
    expect(await Promise.all(Array.from({ length: 4 }, () => chat(valid)))).toEqual([200, 200, 200, 200]);
  });

  it("admits exactly a token's requests per minute across both workers", async () => {
    const { token: limited } = await token({ limits: { rpm: 20 } });
    const statuses = await Promise.all(Array.from({ length: 60 }, () => chat(limited)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.filter((s) => s === 429)).toHaveLength(40);
  });

  it('never lets 200 concurrent requests overrun a budget', async () => {
    // Each answer costs what its reservation held: 1,000 output tokens of gpt-4o-mini, $0.0006.
    fake.script({ blocks: [{ type: 'text', text: 'ok' }], stop: 'end', usage: { input: 5, output: 1000 } });
    const { token: capped, id } = await token({ budget: { usd: 0.003, period: 'day' } });
    const statuses = await Promise.all(Array.from({ length: 200 }, () => chat(capped, { max_tokens: 1000 })));
    const admitted = statuses.filter((s) => s === 200).length;
    expect(admitted).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429 || s === 402)).toBe(true);
    // Each worker writes its usage once a second; the usage answer has every worker write first.
    const usage = await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${id}`);
    expect(usage.json.rows[0]?.requests).toBe(admitted);
    expect(usage.json.rows[0].costMicros).toBeLessThanOrEqual(3000);
    fake.script({ blocks: [{ type: 'text', text: 'ok' }], stop: 'end', usage: { input: 5, output: 5 } });
  });

  it('keeps every worker off a key the provider rate-limited through one of them', async () => {
    const { token: user } = await token({});
    const ok = {
      blocks: [{ type: 'text' as const, text: 'ok' }],
      stop: 'end' as const,
      usage: { input: 5, output: 5 },
    };
    pair.script({ ...ok, fault: { kind: 'status', status: 429, retryAfterSeconds: 60 } }, ok);
    const before = pair.requests.length;
    expect(await chat(user, { model: 'pair' })).toBe(200);
    const throttled = pair.requests[before]!.headers.authorization;
    const statuses = await Promise.all(Array.from({ length: 20 }, () => chat(user, { model: 'pair' })));
    expect(statuses.every((s) => s === 200)).toBe(true);
    const later = pair.requests.slice(before + 2).map((r) => r.headers.authorization);
    expect(later).toHaveLength(20);
    expect(later).not.toContain(throttled);
  });

  it('refuses a revoked token on every worker within a second', async () => {
    const { token: doomed, id } = await token({});
    expect(await chat(doomed)).toBe(200);
    await adminCall(kw.adminUrl, 'DELETE', `/admin/tokens/${id}`);
    const refusedEverywhere = async () =>
      (await Promise.all(Array.from({ length: 10 }, () => chat(doomed)))).every((s) => s === 401);
    expect(await until(refusedEverywhere, 1000)).toBe(true);
  });

  it('answers every scrape and dashboard call with all workers counted, whichever worker takes it', async () => {
    const { token: counted, id } = await token({});
    const admin = async (path: string) => {
      const res = await request(`${kw.adminUrl}${path}`, {
        dispatcher: fresh,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, connection: 'close' },
      });
      return res.body.text();
    };
    const requestsTotal = async () =>
      (await admin('/metrics'))
        .split('\n')
        .filter((line) => line.startsWith('keyward_requests_total{'))
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    const liveTotal = async () =>
      (
        JSON.parse(await admin('/admin/stats/live')) as { seconds: Array<{ requests: number }> }
      ).seconds.reduce((sum, second) => sum + second.requests, 0);
    const keyRequests = async () =>
      (
        JSON.parse(await admin('/admin/keys')) as {
          providers: Array<{ provider: string; keys: Array<{ requests: number }> }>;
        }
      ).providers
        .find((pool) => pool.provider === 'oa')!
        .keys.reduce((sum, key) => sum + key.requests, 0);
    const [before, liveBefore, keysBefore] = [await requestsTotal(), await liveTotal(), await keyRequests()];
    const statuses = await Promise.all(Array.from({ length: 12 }, () => chat(counted)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Each worker writes its usage once a second; the usage answer has every worker write first.
    const usage = JSON.parse(await admin(`/admin/usage?by=token&tokenId=${id}`)) as {
      rows: Array<{ requests: number }>;
    };
    expect(usage.rows[0]?.requests).toBe(12);
    // Each worker counts its own requests; four calls in a row reach both workers.
    for (let i = 0; i < 4; i++) {
      expect(await requestsTotal()).toBe(before + 12);
      expect(await liveTotal()).toBe(liveBefore + 12);
      expect(await keyRequests()).toBe(keysBefore + 12);
    }
    // The audit queue's series, one per worker, come out once: summed.
    const scraped = await admin('/metrics');
    expect(scraped.match(/^keyward_audit_pending_entries \d+$/gm)).toHaveLength(1);
    expect(scraped.match(/^keyward_audit_dropped_total 0$/gm)).toHaveLength(1);
  });

  it('keeps a dashboard login on every worker, and ends it on every worker at logout or revocation', async () => {
    const admin = async (method: string, path: string, headers: Record<string, string>, body?: string) => {
      const res = await request(`${kw.adminUrl}${path}`, {
        method: method as 'GET' | 'POST',
        dispatcher: fresh,
        headers: { connection: 'close', ...headers },
        body,
      });
      await res.body.dump();
      return res;
    };
    const login = async (credential: string) => {
      const res = await admin(
        'POST',
        '/admin/ui/login',
        { 'content-type': 'application/json' },
        JSON.stringify({ credential }),
      );
      expect(res.statusCode).toBe(200);
      return String(res.headers['set-cookie']).split(';')[0]!;
    };
    const everywhere = async (cookie: string, path: string) =>
      Promise.all(Array.from({ length: 10 }, async () => (await admin('GET', path, { cookie })).statusCode));

    const byKey = await login(ADMIN_KEY);
    expect(await everywhere(byKey, '/admin/keys')).toEqual(Array(10).fill(200));
    const origin = kw.adminUrl;
    const out = await admin(
      'POST',
      '/admin/ui/logout',
      { cookie: byKey, origin, 'content-type': 'application/json' },
      '{}',
    );
    expect(out.statusCode).toBe(200);
    expect(await everywhere(byKey, '/admin/keys')).toEqual(Array(10).fill(401));

    // A token minted through one worker after both started opens the dashboard on both.
    const minted = await token({ scopes: ['admin'] });
    const byToken = await login(minted.token);
    expect(await everywhere(byToken, '/admin/tokens')).toEqual(Array(10).fill(200));
    await adminCall(kw.adminUrl, 'DELETE', `/admin/tokens/${minted.id}`);
    expect(await everywhere(byToken, '/admin/tokens')).toEqual(Array(10).fill(401));
  });

  it('replaces a worker that dies, and keeps serving meanwhile', async () => {
    const { token: steady } = await token({});
    const [victim] = childrenOf(kw.child.pid!);
    process.kill(victim!, 'SIGKILL');
    expect(await until(() => !childrenOf(kw.child.pid!).includes(victim!), 5000)).toBe(true);
    expect(await chat(steady)).toBe(200);
    const replaced = () => {
      const now = childrenOf(kw.child.pid!);
      return now.length === 2 && !now.includes(victim!);
    };
    expect(await until(replaced, 10_000)).toBe(true);
    const statuses = await Promise.all(Array.from({ length: 20 }, () => chat(steady)));
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('keeps one verifiable audit chain with both workers appending', async () => {
    const verdict = await adminCall(kw.adminUrl, 'POST', '/admin/audit/verify');
    expect(verdict.json).toMatchObject({ ok: true });
    expect(verdict.json.checked).toBeGreaterThan(100);
  });

  it('drains and exits on SIGTERM, workers included', async () => {
    const workers = childrenOf(kw.child.pid!);
    kw.child.kill('SIGTERM');
    expect(await kw.exited).toBe(0);
    expect(
      workers.filter((pid) => childrenOf(1).includes(pid) || readdirSync('/proc').includes(String(pid))),
    ).toEqual([]);
  });
});

describe('keyward start --workers 2 that cannot start', () => {
  it('stops and exits 1 with the reason when its workers cannot listen, as one process does', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as AddressInfo).port;
    try {
      const config = writeTempConfig({
        server: { port },
        admin: { port: 0 },
        providers: [{ id: 'oa', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      });
      // Made and migrated already: the primary tries the ports only before a migration
      // (refused-start-schema.test.ts); here the workers find the port taken.
      const env = { P_KEY: PROVIDER_KEY, KEYWARD_DATA_DIR: freshDataDir() };
      expect((await runCli(['init', '--config', config], { env })).code).toBe(0);
      const run = await runCli(['start', '--config', config, '--workers', '2'], { env });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
      expect(run.stdout).toContain('could not start; stopping');
    } finally {
      taken.close();
    }
  });
});
