import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyWebhookSignature } from '../../src/observability/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { chatStatus, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEY_A = 'sk-alert-key-aaaaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-alert-key-bbbbbbbbbbbbbbbbbbbbbb2222';
const SECRET = 'whsec-test-0123456789abcdef';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A webhook receiver on loopback: what it was sent, in order. `status`: what it answers. */
async function startReceiver(status = 200) {
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const receiver = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ headers: req.headers, body });
    res.writeHead(status, status === 307 ? { location: 'https://hooks.example/moved' } : {});
    res.end('ok');
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  cleanups.push(() => new Promise((resolve) => receiver.close(resolve)));
  const { port } = receiver.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook`, received };
}

describe('alerts', () => {
  it('posts a signed alert to the webhook, logs it and counts it, once per hour per subject', async () => {
    const { url, received } = await startReceiver();

    const fake = await startFakeOpenAI({ keys: [KEY_B] });
    cleanups.push(() => fake.close());
    const kw: TestGateway = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        alerts: { webhook: { url, secretEnv: 'HOOK_SECRET' } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'POOL' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, POOL: `${KEY_A},${KEY_B}`, HOOK_SECRET: SECRET },
    );
    cleanups.push(() => kw.close());

    for (let i = 0; i < 3; i++) expect(await chatStatus(kw, CLIENT_KEY)).toBe(200);
    await expect.poll(() => received.length).toBe(1);
    const [hook] = received;
    const timestamp = String(hook!.headers['x-keyward-timestamp']);
    expect(
      verifyWebhookSignature(SECRET, timestamp, hook!.body, String(hook!.headers['x-keyward-signature'])),
    ).toBe(true);
    expect(
      verifyWebhookSignature(
        'another-secret-0123456789',
        timestamp,
        hook!.body,
        String(hook!.headers['x-keyward-signature']),
      ),
    ).toBe(false);
    expect(JSON.parse(hook!.body)).toMatchObject({ kind: 'key_rejected', subject: 'fake/env:POOL#1' });
    expect(hook!.body).not.toContain(KEY_A.slice(0, 12));
    expect(await kw.gateway.metrics.render()).toContain('keyward_alerts_total{kind="key_rejected"} 1');
    expect(kw.logs.filter((line) => line.includes('"alert":"key_rejected"'))).toHaveLength(1);
  });

  it('posts one request_spike for a token whose requests jump past spikeFactor × its hourly average, none for a steady one', async () => {
    // Only the clock is faked (timers, sockets and the webhook stay real): the monitor needs five
    // minutes of a token's history before it compares a minute with it.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.UTC(2026, 0, 5, 10, 0, 30);
    vi.setSystemTime(start);
    const hook = await startReceiver();
    const fake = await startFakeOpenAI({ keys: [KEY_A] });
    cleanups.push(() => fake.close());
    const kw = await startTestGateway(
      {
        alerts: { webhook: { url: hook.url, secretEnv: 'HOOK_SECRET' }, spikeFactor: 10 },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'POOL' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { POOL: KEY_A, HOOK_SECRET: SECRET, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
    cleanups.push(() => kw.close());
    const mint = async (name: string) => {
      const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name });
      expect(res.status).toBe(201);
      return res.json as { id: string; token: string };
    };
    const spiky = await mint('spiky');
    const steady = await mint('steady');

    // Two requests a minute each for six minutes: the baseline.
    for (let minute = 0; minute < 6; minute++) {
      vi.setSystemTime(start + minute * 60_000);
      for (const token of [spiky, steady, spiky, steady]) expect(await chatStatus(kw, token.token)).toBe(200);
    }
    // Then a minute of 30 from one of them (the floor is 20 in a minute), 2 from the other.
    vi.setSystemTime(start + 6 * 60_000);
    for (let i = 0; i < 30; i++) expect(await chatStatus(kw, spiky.token)).toBe(200);
    for (let i = 0; i < 2; i++) expect(await chatStatus(kw, steady.token)).toBe(200);

    await expect.poll(() => hook.received.length).toBe(1);
    const [sent] = hook.received;
    expect(
      verifyWebhookSignature(
        SECRET,
        String(sent!.headers['x-keyward-timestamp']),
        sent!.body,
        String(sent!.headers['x-keyward-signature']),
      ),
    ).toBe(true);
    expect(JSON.parse(sent!.body)).toMatchObject({
      kind: 'request_spike',
      subject: spiky.id,
      detail: { requests: 21, averagePerMinute: 2, spikeFactor: 10 },
    });
    expect(sent!.body).not.toContain(spiky.token);
    expect(await kw.gateway.metrics.render()).toContain('keyward_alerts_total{kind="request_spike"} 1');
    expect(kw.logs.filter((line) => line.includes('"alert":"request_spike"'))).toHaveLength(1);
  });

  it('counts a redirect as an alert not delivered, logs it once and does not follow it', async () => {
    const { url, received } = await startReceiver(307);
    const fake = await startFakeOpenAI({ keys: [KEY_B] });
    cleanups.push(() => fake.close());
    const kw: TestGateway = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        alerts: { webhook: { url, secretEnv: 'HOOK_SECRET' } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'POOL' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, POOL: `${KEY_A},${KEY_B}`, HOOK_SECRET: SECRET },
    );
    cleanups.push(() => kw.close());
    for (let i = 0; i < 3; i++) expect(await chatStatus(kw, CLIENT_KEY)).toBe(200);
    const failed = () => kw.logs.filter((line) => line.includes('alert webhook: Alert webhook failed'));
    await expect.poll(() => failed().length).toBe(1);
    expect(failed()[0]).toContain('HTTP 307, a redirect');
    // A permanent failure: sent once, not retried, and the redirect's target never asked.
    expect(received).toHaveLength(1);
  });

  it('refuses a webhook without a signing secret', async () => {
    await expect(
      startTestGateway({ alerts: { webhook: { url: 'http://127.0.0.1:9/hook', secretEnv: 'MISSING' } } }, {}),
    ).rejects.toThrow(/MISSING must hold a signing secret/);
  });
});
