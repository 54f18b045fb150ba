import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEY = 'sk-compatible-key-aaaaaaaaaaaaaaaa1111';

let keyed: FakeOpenAI | undefined;
let open: FakeOpenAI | undefined;
let kw: TestGateway | undefined;
afterEach(async () => {
  await kw?.close();
  await keyed?.close();
  await open?.close();
  kw = keyed = open = undefined;
});

async function chat(gateway: TestGateway, model: string) {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as { error?: { code: string } } };
}

async function ready(url: string) {
  return (await request(`${url}/ready`)).body.json();
}

describe('an openai-compatible provider with a keys block', () => {
  // Both servers take requests without a key: only the gateway can hold back the keyed provider's.
  it('answers 503 and sends nothing while it has no usable key; one without a keys block goes keyless', async () => {
    keyed = await startFakeOpenAI({ requireAuth: false });
    open = await startFakeOpenAI({ requireAuth: false });
    const gateway = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'compat', type: 'openai-compatible', baseUrl: `${keyed.url}/v1`, keys: { store: true } },
          { id: 'local', type: 'openai-compatible', baseUrl: `${open.url}/v1` },
        ],
        models: [
          { name: 'keyed', provider: 'compat', model: 'gpt-4o-mini' },
          { name: 'open', provider: 'local', model: 'gpt-4o-mini' },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
    kw = gateway;
    const degraded = async () => {
      expect(await ready(gateway.adminUrl)).toEqual({
        status: 'degraded',
        problems: ['provider compat: no usable key'],
      });
      expect(await ready(gateway.dataUrl)).toEqual({ status: 'degraded' });
    };

    // No key stored yet.
    const none = await chat(gateway, 'keyed');
    expect(none.status).toBe(503);
    expect(none.json.error?.code).toBe('provider_unavailable');
    expect(keyed.requests).toHaveLength(0);
    await degraded();

    // The provider without a keys block is served, and sends no credential.
    expect((await chat(gateway, 'open')).status).toBe(200);
    expect(open.requests).toHaveLength(1);
    expect(open.requests[0]?.headers.authorization).toBeUndefined();

    const added = await adminCall(gateway.adminUrl, 'POST', '/admin/keys', {
      provider: 'compat',
      value: KEY,
    });
    expect(added.status).toBe(201);
    expect((await chat(gateway, 'keyed')).status).toBe(200);
    expect(keyed.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${KEY}`]);
    expect(await ready(gateway.adminUrl)).toEqual({ status: 'ready' });

    // Every stored key disabled: the provider's traffic stops.
    const disabled = await adminCall(gateway.adminUrl, 'POST', `/admin/keys/${added.json.id}/disable`);
    expect(disabled.status).toBe(200);
    const off = await chat(gateway, 'keyed');
    expect(off.status).toBe(503);
    expect(off.json.error?.code).toBe('provider_unavailable');
    expect(keyed.requests).toHaveLength(1);
    await degraded();

    expect((await chat(gateway, 'open')).status).toBe(200);
  });
});
