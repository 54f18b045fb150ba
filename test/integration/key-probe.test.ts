import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeFormat, type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

let fake: FakeProvider | undefined;
let kw: TestGateway | undefined;
afterEach(async () => {
  await kw?.close();
  await fake?.close();
  kw = undefined;
  fake = undefined;
});

/** A provider type, its fake's format, a model the key may use and one it may not. */
const PROVIDERS: Array<{
  type: 'openai' | 'anthropic' | 'gemini';
  format: FakeFormat;
  ok: string;
  denied: string;
}> = [
  { type: 'openai', format: 'openai', ok: 'gpt-4o-mini', denied: 'gpt-4o' },
  {
    type: 'anthropic',
    format: 'anthropic',
    ok: 'claude-3-5-haiku-20241022',
    denied: 'claude-sonnet-4-20250514',
  },
  { type: 'gemini', format: 'gemini', ok: 'gemini-2.0-flash', denied: 'gemini-2.5-pro' },
];

async function start(
  type: string,
  format: FakeFormat,
  options: { keys: string[]; forbiddenModels?: string[] },
): Promise<{ fake: FakeProvider; kw: TestGateway }> {
  fake = await startFakeProvider(format, options);
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'p',
          type: type as 'openai',
          baseUrl: fake.baseUrl,
          keys: { env: 'P_KEY' },
          retries: { maxAttempts: 1 },
        },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
  );
  return { fake, kw };
}

async function chat(gateway: TestGateway, model: string) {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    text,
    error: (JSON.parse(text) as { error?: Record<string, unknown> }).error,
  };
}

const probes = (provider: FakeProvider) =>
  provider.requests.filter((r) => r.method === 'GET' && /\/models(\?|$)/.test(r.path));
const alerts = (gateway: TestGateway) =>
  gateway.logs.filter((line) => line.includes('"alert":"key_rejected"'));

describe('a provider refusing one request does not bench its key', () => {
  for (const { type, format, ok, denied } of PROVIDERS) {
    it(`${type}: a per-model 403 is the client's answer; the key keeps serving, one probe, no alert`, async () => {
      const { fake: provider, kw: gateway } = await start(type, format, {
        keys: [PROVIDER_KEY],
        forbiddenModels: [denied],
      });
      const refused = await Promise.all(Array.from({ length: 20 }, () => chat(gateway, `p/${denied}`)));
      for (const answer of refused) {
        expect(answer.status).toBe(403);
        expect(answer.error).toMatchObject({ code: 'model_not_available', param: 'model' });
        expect(answer.error?.message).toContain(`'p/${denied}' is not available to the gateway`);
        expect(answer.text).not.toContain(PROVIDER_KEY);
        expect(answer.text).not.toMatch(/proj_|permission to use|Permission denied/);
      }
      // A client repeating the refused request cannot make the gateway probe the provider more.
      expect(probes(provider)).toHaveLength(1);
      expect((await chat(gateway, `p/${denied}`)).status).toBe(403);
      expect(probes(provider)).toHaveLength(1);

      const served = await chat(gateway, `p/${ok}`);
      expect(served.status).toBe(200);
      expect(alerts(gateway)).toEqual([]);
      const metrics = await gateway.gateway.metrics.render();
      expect(metrics).toContain('keyward_provider_key_state{provider="p",key="env:P_KEY#1"} 0');
    });
  }

  for (const { type, format, ok } of PROVIDERS) {
    it(`${type}: a key the provider refuses when probed is benched, alerted on once, and the client told`, async () => {
      const { fake: provider, kw: gateway } = await start(type, format, {
        keys: ['sk-another-key-entirely-0123456789'],
      });
      const first = await chat(gateway, `p/${ok}`);
      expect(first.status).toBe(503);
      expect(first.error).toMatchObject({ code: 'provider_keys_invalid' });
      expect(probes(provider)).toHaveLength(1);
      expect(alerts(gateway)).toHaveLength(1);
      expect(alerts(gateway)[0]).toContain('env:P_KEY#1');
      expect(alerts(gateway)[0]).not.toContain(PROVIDER_KEY.slice(0, 12));
      // Benched: no request reaches the provider until a probe finds the key working again.
      const before = provider.requests.length;
      expect((await chat(gateway, `p/${ok}`)).error).toMatchObject({ code: 'provider_keys_invalid' });
      expect(provider.requests).toHaveLength(before);
      expect(alerts(gateway)).toHaveLength(1);
    });
  }
});
