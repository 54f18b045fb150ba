import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../src/observability/index.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEY_A = 'sk-alert-key-aaaaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-alert-key-bbbbbbbbbbbbbbbbbbbbbb2222';
const SECRET = 'whsec-test-0123456789abcdef';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('alerts', () => {
  it('posts a signed alert to the webhook, logs it and counts it, once per hour per subject', async () => {
    const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const receiver = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      received.push({ headers: req.headers, body });
      res.end('ok');
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    cleanups.push(() => new Promise((resolve) => receiver.close(resolve)));
    const { port } = receiver.address() as { port: number };

    const fake = await startFakeOpenAI({ keys: [KEY_B] });
    cleanups.push(() => fake.close());
    const kw: TestGateway = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        alerts: { webhook: { url: `http://127.0.0.1:${port}/hook`, secretEnv: 'HOOK_SECRET' } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'POOL' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, POOL: `${KEY_A},${KEY_B}`, HOOK_SECRET: SECRET },
    );
    cleanups.push(() => kw.close());

    for (let i = 0; i < 3; i++) {
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
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

  it('refuses a webhook without a signing secret', async () => {
    await expect(
      startTestGateway({ alerts: { webhook: { url: 'http://127.0.0.1:9/hook', secretEnv: 'MISSING' } } }, {}),
    ).rejects.toThrow(/MISSING must hold a signing secret/);
  });
});
