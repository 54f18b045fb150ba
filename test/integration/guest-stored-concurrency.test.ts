import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

/**
 * `auth.guest.maxStored` holds under concurrency: a stored response is written once the provider
 * has answered, so requests checked while others wait for their answers must count those too.
 */
const PROVIDER_KEY = 'sk-guest-stored-provider-key-0123456789';
const APP = 'https://public.example.test';
const MAX_STORED = 2;

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let kw: TestGateway;
beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      server: { cors: { origins: [APP] } },
      auth: {
        guest: {
          enabled: true,
          scopes: ['chat'],
          limits: { rpm: 1000, concurrency: 100 },
          maxStored: MAX_STORED,
        },
      },
      providers: [
        {
          id: 'fake',
          type: 'openai',
          baseUrl: `${fake.url}/v1`,
          keys: { env: 'P_KEY' },
          retries: { maxAttempts: 1 },
        },
      ],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { P_KEY: PROVIDER_KEY },
  );
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

async function login(): Promise<string> {
  const res = await fetch(`${kw.dataUrl}/auth/guest`, { method: 'POST', headers: { origin: APP } });
  expect(res.status).toBe(200);
  return res.headers.getSetCookie()[0]!.split(';')[0]!;
}

/** A POST as the guest `cookie`; its status and the id or error code it answered. */
async function post(cookie: string, path: string, body: unknown, signal?: AbortSignal) {
  const res = await fetch(`${kw.dataUrl}${path}`, {
    method: 'POST',
    headers: { origin: APP, cookie, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal && { signal }),
  });
  const json = (await res.json()) as { id?: string; error?: { code?: string } };
  return { status: res.status, id: json.id, code: json.error?.code };
}

const ask = { model: 'fast', input: 'Hello' };
/** Every provider answer from now on: delayed, failed or never sent (undefined: answered at once). */
const answering = (step: { delayHeadersMs?: number; status?: number; hang?: boolean } | undefined) =>
  fake.whenKey(PROVIDER_KEY, step);

describe('guest auth.guest.maxStored under concurrent requests', () => {
  it('stores at most maxStored of many stored responses asked for at once', async () => {
    const guest = await login();
    answering({ delayHeadersMs: 300 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(guest, '/v1/responses', ask)));
    answering(undefined);
    const stored = answers.filter((answer) => answer.status === 200);
    expect(stored).toHaveLength(MAX_STORED);
    expect(answers.filter((answer) => answer.code === 'stored_limit_reached')).toHaveLength(10 - MAX_STORED);
    for (const { id } of stored) {
      const res = await fetch(`${kw.dataUrl}/v1/responses/${id}`, {
        headers: { origin: APP, cookie: guest },
      });
      expect(res.status).toBe(200);
    }
    // Landed, they count as stored records; the room they held is not counted twice, nor given back.
    expect((await post(guest, '/v1/responses', ask)).code).toBe('stored_limit_reached');
    expect((await post(guest, '/v1/conversations', {})).code).toBe('stored_limit_reached');
    expect((await post(guest, '/v1/responses', { ...ask, store: false })).status).toBe(200);
  });

  it('counts conversations being created at once with stored responses in flight', async () => {
    const guest = await login();
    answering({ delayHeadersMs: 300 });
    const answers = await Promise.all([
      ...Array.from({ length: 4 }, () => post(guest, '/v1/responses', ask)),
      ...Array.from({ length: 4 }, () => post(guest, '/v1/conversations', {})),
    ]);
    answering(undefined);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(MAX_STORED);
  });

  it('gives the room back, once, when the provider fails or the client leaves', async () => {
    const guest = await login();
    answering({ status: 500 });
    expect((await post(guest, '/v1/responses', ask)).status).toBeGreaterThanOrEqual(500);
    answering({ hang: true });
    const leaving = new AbortController();
    const asked = fake.requests.length;
    const left = post(guest, '/v1/responses', ask, leaving.signal).catch((error: Error) => error.name);
    await fake.waitForRequests(asked + 1);
    leaving.abort();
    expect(await left).toBe('AbortError');
    answering(undefined);
    // The gateway sees the client go a moment after it went.
    await new Promise((resolve) => setTimeout(resolve, 200));
    // A room given back twice would let a third through.
    const answers = [];
    for (let i = 0; i < MAX_STORED + 1; i++) answers.push(await post(guest, '/v1/responses', ask));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 403]);
  });
});
