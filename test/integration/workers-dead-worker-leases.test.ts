import { once } from 'node:events';
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { childrenOf, holderOf } from '../support/proc.js';
import { type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';

const OK: Script = { blocks: [{ type: 'text', text: 'ok' }], stop: 'end', usage: { input: 5, output: 5 } };
const BODY = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 });

/**
 * A worker killed mid-request: the primary holds that request's lease, and no settle can come for
 * it any more. Its concurrency slot must not stay taken for the lease time (the request timeout
 * plus a minute), and its budget reservation is charged, as for any request never answered.
 */
describe('keyward start --workers 2 when a worker dies with a request in flight', () => {
  let fake: FakeProvider;
  let kw: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    });
    kw = await startWorkers(config, { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    await kw?.stop();
    await fake?.close();
  });

  it("frees the dead worker's concurrency slot and charges its reservation", async () => {
    const { token } = (
      await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name: 'one-at-a-time',
        limits: { concurrency: 1 },
        budget: { usd: 10, period: 'day' },
      })
    ).json as { token: string };
    const chat = async () => {
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          connection: 'close',
        },
        body: BODY,
      });
      await res.body.dump();
      return res.statusCode;
    };
    /** What the primary holds for the token: its one slot's use, and its budget. */
    const held = async () => {
      const res = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
        headers: { authorization: `Bearer ${token}`, connection: 'close' },
      });
      const status = (await res.body.json()) as {
        concurrency: Array<{ inUse: number }>;
        budgets: Array<{ spentUsd: number; reservedUsd: number }>;
      };
      const { spentUsd, reservedUsd } = status.budgets[0]!;
      return { inUse: status.concurrency[0]!.inUse, spentUsd, reservedUsd };
    };

    // The provider holds its answer to the first request; the worker serving it is then killed.
    fake.script({ ...OK, fault: { kind: 'hang' } }, OK);
    const upstream = fake.requests.length;
    const data = new URL(kw.dataUrl);
    const socket = connect(Number(data.port), data.hostname);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${data.host}\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`,
    );
    await expect.poll(() => fake.requests.length, { timeout: 5000 }).toBe(upstream + 1);
    expect(await chat()).toBe(429);
    const before = await held();
    expect(before).toMatchObject({ inUse: 1, spentUsd: 0 });
    expect(before.reservedUsd).toBeGreaterThan(0);

    const primary = kw.child.pid!;
    const victim = holderOf(Number(data.port), socket.localPort!, childrenOf(primary));
    expect(victim).toBeDefined();
    const listening = () => kw.lines.filter((line) => line.includes('"keyward listening"')).length;
    process.kill(victim!, 'SIGKILL');
    await once(socket, 'close');
    // Its replacement is up: the primary has long seen it go.
    await expect.poll(listening, { timeout: 15_000, interval: 50 }).toBe(3);

    // Charged what it reserved, nothing held any more, and the slot free for the next request.
    expect(await held()).toEqual({ inUse: 0, spentUsd: before.reservedUsd, reservedUsd: 0 });
    expect(await chat()).toBe(200);
    // Told once, though the primary hears both the worker's disconnect and its exit.
    expect(kw.lines.filter((line) => line.includes('ended with 1 request in flight'))).toHaveLength(1);
  }, 40_000);
});
