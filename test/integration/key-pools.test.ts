import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type OpenAI from 'openai';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import type { Script } from '../support/fake-providers/script.js';
import { startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { nextPacificMidnight } from '../support/pacific.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir, runCli } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

const KEY_A = 'sk-pool-key-aaaaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-pool-key-bbbbbbbbbbbbbbbbbbbbbb2222';
const KEY_C = 'sk-pool-key-cccccccccccccccccccccc3333';
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hello' }];

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;

const FAST = { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' };

let fake: Fake;
let kw: TestGateway;
afterEach(async () => {
  await kw?.close();
  await fake?.close();
});

async function start(
  keys: unknown,
  env: NodeJS.ProcessEnv = {},
  dataDir = freshDataDir(),
  provider: { tokensPerMinute?: number; scopes?: Record<string, string[]> } = {},
  models: Array<{ name: string; provider: string; model: string }> = [FAST],
) {
  fake = await startFakeOpenAI({ keys: [KEY_A, KEY_B, KEY_C], ...provider });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      logging: { level: 'debug' },
      providers: [
        {
          id: 'fake',
          type: 'openai',
          baseUrl: `${fake.url}/v1`,
          keys: keys as { env: string },
          retries: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 100 },
        },
      ],
      models,
    },
    { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, ...env },
    dataDir,
  );
  return kw;
}

async function chat(headers: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'fast', messages, ...extra }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) };
}

async function admin(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) {
  return adminCall(kw.adminUrl, method, path, body);
}

/** Which provider key each upstream request carried. */
const keysSeen = () => fake.requests.map((r) => String(r.headers.authorization).slice('Bearer '.length));

describe('key pools', () => {
  it('spreads requests round-robin over the keys', async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` });
    for (let i = 0; i < 4; i++) expect((await chat()).status).toBe(200);
    expect(keysSeen()).toEqual([KEY_A, KEY_B, KEY_A, KEY_B]);
  });

  it('cools a rate-limited key down and retries the request on the next key at once', async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` });
    fake.whenKey(KEY_A, { status: 429, headers: { 'retry-after': '30' } });
    for (let i = 0; i < 4; i++) expect((await chat()).status).toBe(200);
    // One 429 on A, then every request goes to B until A's Retry-After has passed.
    expect(keysSeen()).toEqual([KEY_A, KEY_B, KEY_B, KEY_B, KEY_B]);
    const metrics = await kw.gateway.metrics.render();
    expect(metrics).toContain(
      'keyward_provider_key_failures_total{provider="fake",key="env:POOL#1",reason="rate_limited"} 1',
    );
    expect(metrics).toContain('keyward_provider_key_state{provider="fake",key="env:POOL#1"} 1');
    const listing = await admin('GET', '/admin/keys');
    const live = listing.json.providers[0].keys;
    // Rate limits are the model's: A cools for gpt-4o-mini, not for the key's other models.
    expect(live[0]).toMatchObject({ id: 'env:POOL#1', state: 'active' });
    expect(live[0].coolingModels).toEqual([{ model: 'gpt-4o-mini', coolingForMs: expect.any(Number) }]);
    expect(live[0].coolingModels[0].coolingForMs).toBeGreaterThan(25_000);
    expect(listing.text).not.toContain(KEY_A);
  });

  it('moves a request on and cools nothing when the 429 shows every limit of the key with room left', async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` });
    const limits = (remainingTokens: string) => ({
      'retry-after': '30',
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '499',
      'x-ratelimit-limit-tokens': '30000',
      'x-ratelimit-remaining-tokens': remainingTokens,
    });
    // A request larger than what is left of A's minute (or than A's limit): another key may take
    // it, and A still takes smaller ones. Cooling A for it would let one client, repeating a
    // request no key can take, take every key out of rotation.
    fake.whenKey(KEY_A, { status: 429, headers: limits('24000') });
    for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(200);
    expect(keysSeen()).toEqual([KEY_A, KEY_B, KEY_A, KEY_B, KEY_A, KEY_B]);
    expect((await admin('GET', '/admin/keys')).json.providers[0].keys[0]).toMatchObject({ state: 'active' });
    expect(await kw.gateway.metrics.render()).not.toContain('reason="rate_limited"');

    // Under a twentieth of the tokens left: A is spent, and cools as without the headers.
    fake.whenKey(KEY_A, { status: 429, headers: limits('1000') });
    for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(200);
    expect(keysSeen().slice(6)).toEqual([KEY_A, KEY_B, KEY_B, KEY_B]);
    expect((await admin('GET', '/admin/keys')).json.providers[0].keys[0].coolingModels).toEqual([
      { model: 'gpt-4o-mini', coolingForMs: expect.any(Number) },
    ]);
  });

  it("cools a key for the model the provider rate-limited, and keeps it serving the key's other models", async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` }, undefined, {}, [
      FAST,
      { name: 'large', provider: 'fake', model: 'gpt-4o' },
    ]);
    // Providers limit each model apart: A's requests for gpt-4o-mini are spent for the minute. A
    // client allowed only the small model, spending its limit, must not take A away from the rest.
    const spent = {
      status: 429,
      headers: {
        'retry-after': '30',
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '0',
      },
    };
    fake.whenKey(KEY_A, spent, 'gpt-4o-mini');
    for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(200);
    expect(keysSeen()).toEqual([KEY_A, KEY_B, KEY_B, KEY_B]);
    for (let i = 0; i < 4; i++) expect((await chat({}, { model: 'large' })).status).toBe(200);
    expect(new Set(keysSeen().slice(4))).toEqual(new Set([KEY_A, KEY_B]));

    const [a] = (await admin('GET', '/admin/keys')).json.providers[0].keys;
    expect(a).toMatchObject({ id: 'env:POOL#1', state: 'active', coolingForMs: 0 });
    expect(a.coolingModels).toEqual([{ model: 'gpt-4o-mini', coolingForMs: expect.any(Number) }]);
    expect(a.coolingModels[0].coolingForMs).toBeGreaterThan(25_000);

    // Both keys spent for the small model: its clients wait, the large model's are served.
    fake.whenKey(KEY_B, spent, 'gpt-4o-mini');
    const cooling = await chat();
    expect(cooling.status).toBe(429);
    expect(cooling.json.error.code).toBe('provider_keys_cooling');
    expect((await chat({}, { model: 'large' })).status).toBe(200);
  });

  it("cools a key whose account is out of credit, whatever its 429's headers say of its limits", async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` });
    fake.whenKey(KEY_A, {
      status: 429,
      headers: { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499' },
      body: {
        error: {
          message: 'You exceeded your current quota, please check your plan and billing details.',
          type: 'insufficient_quota',
          param: null,
          code: 'insufficient_quota',
        },
      },
    });
    for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(200);
    expect(keysSeen()).toEqual([KEY_A, KEY_B, KEY_B, KEY_B]);
    // Out of credit is the account's, not one model's: A cools for every model.
    const [a] = (await admin('GET', '/admin/keys')).json.providers[0].keys;
    expect(a).toMatchObject({ state: 'cooling', coolingModels: [] });
  });

  it('probes a refused key, benches it when the probe is refused too, raises an alert and retries on the next key', async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` });
    fake.keys.delete(KEY_A);
    expect((await chat()).status).toBe(200);
    await expect.poll(() => kw.logs.some((line) => line.includes('"alert":"key_rejected"'))).toBe(true);
    for (let i = 0; i < 2; i++) expect((await chat()).status).toBe(200);
    const chats = fake.requests.filter((r) => r.method === 'POST');
    expect(chats.map((r) => String(r.headers.authorization).slice('Bearer '.length))).toEqual([
      KEY_A,
      KEY_B,
      KEY_B,
      KEY_B,
    ]);
    // The probe: the model list, asked with the refused key alone.
    const probes = fake.requests.filter((r) => r.method === 'GET');
    expect(probes.map((r) => [r.url, r.headers.authorization])).toEqual([['/v1/models', `Bearer ${KEY_A}`]]);
    const alert = kw.logs.find((line) => line.includes('"alert":"key_rejected"'));
    expect(alert).toContain('env:POOL#1');
    expect(alert).not.toContain(KEY_A.slice(0, 12));
    const metrics = await kw.gateway.metrics.render();
    expect(metrics).toContain('keyward_provider_key_alerts_total{provider="fake",reason="key_rejected"} 1');
    expect(metrics).toContain('keyward_provider_key_state{provider="fake",key="env:POOL#1"} 2');
  });

  it('answers 429 with the earliest recovery when every key cools down, 503 when every key is refused', async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` });
    fake.whenKey(KEY_A, { status: 429, headers: { 'retry-after': '40' } });
    fake.whenKey(KEY_B, { status: 429, headers: { 'retry-after': '20' } });
    const cooling = await chat();
    expect(cooling.status).toBe(429);
    expect(cooling.headers['retry-after']).toBe('20');
    expect(cooling.json.error).toMatchObject({ code: 'provider_keys_cooling', type: 'rate_limit_error' });
    expect(cooling.json.error.message).toContain('All provider keys are cooling down');
    // No key is tried while all are cooling: the answer comes from the pool alone.
    fake.reset();
    expect((await chat()).status).toBe(429);
    expect(fake.requests).toHaveLength(0);

    await kw.close();
    await fake.close();
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` });
    fake.keys.clear();
    const refused = await chat();
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('provider_keys_invalid');
    expect(JSON.stringify(refused.json)).not.toContain('Incorrect API key');
  });

  it('cools no key for a request too large for any key: one client cannot take the pool out of rotation', async () => {
    await start({ env: 'POOL' }, { POOL: `${KEY_A},${KEY_B}` }, freshDataDir(), { tokensPerMinute: 1_000 });
    for (let i = 0; i < 3; i++) {
      const tooLarge = await chat({}, { max_tokens: 5_000 });
      expect(tooLarge.status).toBe(400);
      expect(tooLarge.json.error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
      expect(tooLarge.json.error.message).toContain('max_tokens');
      expect(JSON.stringify(tooLarge.json)).not.toContain('org-fake');
    }
    // Each was sent once: not retried, not moved to the other key.
    expect(keysSeen()).toEqual([KEY_A, KEY_B, KEY_A]);
    // The provider's words, read to decide, are still whole for the debug log.
    expect(kw.logs.filter((line) => line.includes('Request too large for gpt-4o-mini'))).toHaveLength(3);
    for (let i = 0; i < 2; i++) expect((await chat()).status).toBe(200);
    const listing = await admin('GET', '/admin/keys');
    expect(listing.json.providers[0].keys.map((k: { state: string }) => k.state)).toEqual([
      'active',
      'active',
    ]);
    const metrics = await kw.gateway.metrics.render();
    expect(metrics).not.toContain('reason="rate_limited"');
  });

  it('blames a key for a Gemini input-token quota only when the request cannot have filled it alone', async () => {
    const gemini = await startFakeProvider('gemini', { keys: [KEY_A, KEY_B, KEY_C] });
    try {
      kw = await startTestGateway(
        {
          auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
          providers: [{ id: 'g', type: 'gemini', baseUrl: gemini.baseUrl, keys: { env: 'POOL' } }],
          models: [{ name: 'fast', provider: 'g', model: 'gemini-2.5-flash' }],
        },
        { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, POOL: `${KEY_A},${KEY_B},${KEY_C}` },
      );
      const seen = () => gemini.requests.map((r) => String(r.headers['x-goog-api-key']));
      const cooling = async () =>
        (
          (await admin('GET', '/admin/keys')).json.providers[0].keys as Array<{ coolingModels: unknown[] }>
        ).map((key) => key.coolingModels.length);
      const answer: Script = {
        blocks: [{ type: 'text', text: 'Hi' }],
        stop: 'end',
        usage: { input: 5, output: 2 },
      };
      // The fake's per-minute input-token quota is 1,000,000 tokens.
      const quotaHit: Script = {
        ...answer,
        fault: { kind: 'status', status: 429, quota: 'input_tokens', retryAfterSeconds: 45 },
      };

      // A short body naming an uploaded video may count more tokens than the quota by itself: the
      // request moves from key to key, and no key is blamed. Sent again and again, it cools none.
      const video = {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Summarize this video' },
              {
                type: 'image_url',
                image_url: { url: 'https://generativelanguage.googleapis.com/v1beta/files/v1' },
              },
            ],
          },
        ],
      };
      for (let i = 0; i < 2; i++) {
        gemini.script(quotaHit, quotaHit, quotaHit);
        const refused = await chat({}, video);
        expect(refused.status).toBe(429);
      }
      expect(seen()).toEqual([KEY_A, KEY_B, KEY_C, KEY_A, KEY_B, KEY_C]);
      expect(await cooling()).toEqual([0, 0, 0]);

      // So does a body whose text may count that many tokens (a token a byte, doubled), and a
      // short one carrying media inline (a PDF page or an image tile counts hundreds of tokens in
      // a few bytes): each moves on, and no key cools.
      const pixel =
        'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
      const bodies = [
        { messages: [{ role: 'user', content: 'x'.repeat(510_000) }] },
        {
          messages: [
            {
              role: 'user',
              content: [
                { type: 'image_url', image_url: { url: pixel } },
                { type: 'text', text: 'Read it' },
              ],
            },
          ],
        },
      ];
      for (const body of bodies) {
        gemini.script(quotaHit, answer);
        expect((await chat({}, body)).status).toBe(200);
      }
      expect(seen().slice(6)).toEqual([KEY_A, KEY_B, KEY_C, KEY_A]);
      expect(await cooling()).toEqual([0, 0, 0]);

      // A short request of text cannot have filled it: the key's minute is spent by what it served.
      // It rests for the model as long as Google's RetryInfo says, and the request goes to the next.
      gemini.script(quotaHit, answer);
      expect((await chat()).status).toBe(200);
      expect(seen().slice(10)).toEqual([KEY_B, KEY_C]);
      const keys = (await admin('GET', '/admin/keys')).json.providers[0].keys as Array<{
        coolingModels: Array<{ coolingForMs: number }>;
      }>;
      expect(keys.map((key) => key.coolingModels.length)).toEqual([0, 1, 0]);
      expect(keys[1]!.coolingModels[0]!.coolingForMs).toBeGreaterThan(40_000);

      // A per-day token quota is weighed the same way: the video may have filled it by itself, so
      // the request moves on and no key is taken out (for the rest of the day, it would be).
      const before = seen().length;
      const dailyHit: Script = {
        ...answer,
        fault: { kind: 'status', status: 429, quota: 'input_tokens_daily', retryAfterSeconds: 30 },
      };
      gemini.script(dailyHit, answer);
      expect((await chat({}, video)).status).toBe(200);
      expect(seen().length - before).toBe(2);
      expect((await cooling()).filter((n) => n > 0)).toHaveLength(1);
      // A short request of text cannot have: the key is out for the model until the quota resets
      // (midnight Pacific time), not for the seconds Google's RetryInfo says.
      gemini.script(dailyHit, answer);
      expect((await chat()).status).toBe(200);
      const out = (await admin('GET', '/admin/keys')).json.providers[0].keys as Array<{
        coolingModels: Array<{ coolingForMs: number }>;
      }>;
      const waits = out.flatMap((key) => key.coolingModels.map((model) => model.coolingForMs));
      expect(waits).toHaveLength(2);
      const untilMidnight = nextPacificMidnight(Date.now()) - Date.now();
      expect(Math.max(...waits)).toBeGreaterThan(untilMidnight - 5_000);
      expect(Math.max(...waits)).toBeLessThan(untilMidnight + 5_000);
    } finally {
      await gemini.close();
    }
  });

  it('keeps a restricted key that may not list models in rotation when a model is refused to it', async () => {
    // A project key allowed to call models but not to list them: the probe's 401 names the missing
    // scope, which shows the key authenticated.
    await start({ env: 'POOL' }, { POOL: KEY_A }, freshDataDir(), { scopes: { [KEY_A]: ['model.request'] } });
    fake.script({
      status: 403,
      body: {
        error: {
          message: 'Project `proj_fake` does not have access to model `gpt-4o-mini`',
          type: 'invalid_request_error',
          param: null,
          code: 'model_not_found',
        },
      },
    });
    const refused = await chat();
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('model_not_available');
    expect(fake.requests.filter((r) => r.method === 'GET').map((r) => r.url)).toEqual(['/v1/models']);
    expect((await chat()).status).toBe(200);
    const listing = await admin('GET', '/admin/keys');
    expect(listing.json.providers[0].keys[0].state).toBe('active');
    expect(kw.logs.some((line) => line.includes('"alert":"key_rejected"'))).toBe(false);
  });

  it('waits for a key whose short cool-down ends sooner than a retry would wait anyway', async () => {
    await start({ env: 'POOL' }, { POOL: KEY_A });
    fake.script({ status: 429, headers: { 'retry-after': '0.05' } });
    expect((await chat()).status).toBe(200);
    expect(keysSeen()).toEqual([KEY_A, KEY_A]);
  });
});

describe('passthrough', () => {
  it("uses the client's own provider key, never stores, logs or marks it", async () => {
    await start({ passthrough: true });
    const missing = await chat();
    expect(missing.status).toBe(401);
    expect(missing.json.error.code).toBe('provider_key_required');
    expect(missing.json.error.message).toContain('x-provider-api-key');
    expect(fake.requests).toHaveLength(0);

    expect((await chat({ 'x-provider-api-key': KEY_C })).status).toBe(200);
    expect(keysSeen()).toEqual([KEY_C]);

    const wrong = 'sk-client-own-wrong-key-0123456789abcd';
    const refused = await chat({ 'x-provider-api-key': wrong });
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe('provider_key_rejected');
    // A refused passthrough key marks nothing: the next client's key works.
    expect((await chat({ 'x-provider-api-key': KEY_B })).status).toBe(200);

    const everything =
      kw.logs.join('') + (await kw.gateway.metrics.render()) + (await admin('GET', '/admin/keys')).text;
    for (const key of [KEY_C, wrong, KEY_B]) {
      expect(everything).not.toContain(key);
      expect(everything).not.toContain(key.slice(0, 12));
    }
  });

  it('refuses a provider that mixes stored keys with passthrough', () => {
    const result = configSchema.safeParse({
      providers: [
        {
          id: 'p',
          type: 'openai',
          baseUrl: 'http://127.0.0.1:9/v1',
          keys: { store: true, passthrough: true },
        },
      ],
    });
    expect(result.success).toBe(false);
  });
});

describe('stored keys and hot rotation', () => {
  it('adds, rotates, disables and removes keys through /admin/keys with effect on the next request', async () => {
    await start({ store: true });
    expect((await chat()).status).toBe(503);

    const added = await admin('POST', '/admin/keys', { provider: 'fake', value: KEY_A });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({
      provider: 'fake',
      status: 'active',
      fingerprint: expect.stringMatching(/^sk-…1111 \[#[0-9a-f]{8}\]$/),
    });
    expect(added.text).not.toContain(KEY_A);
    expect((await chat()).status).toBe(200);

    const rotated = await admin('POST', '/admin/keys/rotate', { provider: 'fake', value: KEY_B });
    expect(rotated.json.disabled).toEqual([added.json.id]);
    fake.reset();
    await chat();
    await chat();
    expect(keysSeen()).toEqual([KEY_B, KEY_B]);

    const listed = await admin('GET', '/admin/keys');
    expect(listed.json.stored.map((k: { status: string }) => k.status)).toEqual(['disabled', 'active']);
    expect(listed.text).not.toContain(KEY_A);
    expect(listed.text).not.toContain(KEY_B);

    expect((await admin('DELETE', `/admin/keys/${rotated.json.added.id}`)).status).toBe(200);
    expect((await chat()).status).toBe(503);
    expect((await admin('POST', `/admin/keys/${added.json.id}/enable`)).status).toBe(200);
    expect((await chat()).status).toBe(200);

    // A value stored already is refused by id, never echoed: a copy would double its weight.
    const again = await admin('POST', '/admin/keys', { provider: 'fake', value: KEY_A });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({ code: 'key_already_stored', param: 'value' });
    expect(again.json.error.message).toContain(added.json.id);
    expect(again.text).not.toContain(KEY_A);
    expect((await admin('POST', '/admin/keys/rotate', { provider: 'fake', value: KEY_A })).status).toBe(409);
    expect((await admin('GET', '/admin/keys')).json.stored).toHaveLength(1);
    expect((await admin('POST', '/admin/keys', { provider: 'fake', value: 'short' })).status).toBe(400);
    // A typographic hyphen from a copy: no header can carry it, so no request could be sent with it.
    const pasted = await admin('POST', '/admin/keys', {
      provider: 'fake',
      value: 'sk-pasted\u2011key-1234567890',
    });
    expect(pasted.status).toBe(400);
    expect(pasted.json.error.message).toContain('printable ASCII');
    // A sealed value belongs in the configuration's keys.env or keys.values.
    const sealed = await admin('POST', '/admin/keys', {
      provider: 'fake',
      value: 'enc:kw1:abcdefgh:ijklmnop',
    });
    expect(sealed.status).toBe(400);
    expect(sealed.json.error.message).toContain('keys.env or keys.values');
    expect((await admin('POST', '/admin/keys', { provider: 'nope', value: KEY_C })).json.error.code).toBe(
      'unknown_provider',
    );
    // A key pasted into the wrong field is never echoed: the configured providers are named instead.
    const pastedProvider = 'sk-proj-SECRETpastedAsTheProvider0123456789';
    for (const [path, body] of [
      ['/admin/keys', { provider: pastedProvider, value: 'openai' }],
      ['/admin/keys/rotate', { provider: pastedProvider, value: 'openai' }],
      ['/admin/keys/refresh', { provider: pastedProvider }],
    ] as const) {
      const wrong = await admin('POST', path, body);
      expect(wrong.status).toBe(400);
      expect(wrong.json.error).toMatchObject({
        code: 'unknown_provider',
        param: 'provider',
        message: 'Unknown provider: the configured providers are fake',
      });
      expect(wrong.text).not.toContain('SECRET');
    }
    expect((await admin('DELETE', '/admin/keys/pk_unknown')).status).toBe(404);
    const anonymous = await request(`${kw.adminUrl}/admin/keys`);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
  });

  it('rotates keys under load with zero failed requests, in-flight requests finishing on their key', async () => {
    await start({ store: true });
    const first = await admin('POST', '/admin/keys', { provider: 'fake', value: KEY_A });
    fake.keys.delete(KEY_B);
    let stop = false;
    const statuses: number[] = [];
    const worker = async () => {
      while (!stop) statuses.push((await chat()).status);
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await fake.waitForRequests(50);
    fake.keys.add(KEY_B);
    await admin('POST', '/admin/keys/rotate', { provider: 'fake', value: KEY_B });
    await fake.waitForRequests(fake.requests.length + 50);
    // The old key is revoked upstream once nothing new uses it; stragglers move to the new key.
    fake.keys.delete(KEY_A);
    await admin('DELETE', `/admin/keys/${first.json.id}`);
    await fake.waitForRequests(fake.requests.length + 50);
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(150);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(keysSeen().at(-1)).toBe(KEY_B);
  });

  // Nine CLI processes, each a Node start: seconds apiece on a loaded machine (20 s was once too few).
  it('picks up keys added, disabled and removed by the CLI in another process (audited), and survives an online master key rotation', async () => {
    const dataDir = freshDataDir();
    await start({ store: true }, {}, dataDir);
    const config = join(dataDir, 'keyward.json');
    writeFileSync(
      config,
      JSON.stringify({
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { store: true } }],
      }),
    );
    const cli = (args: string[], stdin?: string) =>
      runCli([...args, '--config', config, '--data-dir', dataDir, '--json'], { ...(stdin && { stdin }) });

    const added = await cli(['keys', 'add', '--provider', 'fake'], KEY_A);
    expect(added.code).toBe(0);
    expect(added.stdout).not.toContain(KEY_A);
    await expect.poll(async () => (await chat()).status, { timeout: 5000 }).toBe(200);

    const rotated = await cli(['master', 'rotate']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ rewrapped: 1 });
    // The gateway re-reads the key file on the store change and keeps serving.
    await expect.poll(async () => (await chat()).status, { timeout: 5000 }).toBe(200);
    const listed = await cli(['keys', 'list']);
    expect(JSON.parse(listed.stdout).keys).toHaveLength(1);

    expect((await cli(['keys', 'add', '--provider', 'fake'], KEY_B)).code).toBe(0);
    await expect
      .poll(() => admin('GET', '/admin/keys').then((r) => r.json.providers[0].keys.length), { timeout: 5000 })
      .toBe(2);

    const firstId = JSON.parse(added.stdout).id as string;
    const disabled = await cli(['keys', 'disable', firstId]);
    expect(JSON.parse(disabled.stdout)).toMatchObject({ id: firstId, status: 'disabled' });
    expect(JSON.parse((await cli(['keys', 'enable', firstId])).stdout)).toMatchObject({ status: 'active' });
    expect((await cli(['keys', 'remove', firstId])).code).toBe(0);
    const again = await cli(['keys', 'remove', firstId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no stored key has that id');
    expect((await cli(['keys', 'disable'])).stderr).toContain('needs a key id');
    await expect
      .poll(() => admin('GET', '/admin/keys').then((r) => r.json.providers[0].keys.length), { timeout: 5000 })
      .toBe(1);
    const events = await admin('GET', '/admin/audit?actor=cli&limit=100');
    expect(events.json.records.map((entry: { type: string }) => entry.type)).toEqual(
      expect.arrayContaining(['key.disabled', 'key.enabled', 'key.removed']),
    );
    expect(kw.logs.join('')).not.toContain('cannot be opened');
  }, 60_000);

  it('accepts enc: values bound to their provider, and refuses one sealed for another provider', async () => {
    const dataDir = freshDataDir();
    await start({ store: true }, {}, dataDir);
    const config = join(dataDir, 'keyward.json');
    writeFileSync(
      config,
      JSON.stringify({
        providers: [
          { id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { store: true } },
          { id: 'other', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { store: true } },
        ],
      }),
    );
    const sealed = await runCli(
      ['keys', 'encrypt', '--provider', 'fake', '--config', config, '--data-dir', dataDir],
      {
        stdin: KEY_C,
      },
    );
    expect(sealed.code, sealed.stderr).toBe(0);
    const value = sealed.stdout.trim();
    expect(value).toMatch(/^enc:kw1:[0-9a-f]{8}:[A-Za-z0-9_-]+$/);
    expect(value).not.toContain(KEY_C.slice(3, 12));
    await kw.close();
    await fake.close();

    await start({ env: 'SEALED' }, { SEALED: value }, dataDir);
    expect((await chat()).status).toBe(200);
    expect(keysSeen()).toEqual([KEY_C]);
    expect(kw.logs.join('')).not.toContain('plain provider key');
    await kw.close();
    await fake.close();

    await expect(
      startTestGateway(
        {
          providers: [
            { id: 'other', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { env: 'SEALED' } },
          ],
        },
        { SEALED: value },
        dataDir,
      ),
    ).rejects.toThrow(/SEALED key #1: ciphertext failed authentication/);
  });
});

describe('token counting', () => {
  it('moves a count_tokens request that got a 429 to another key and cools none: counting is limited apart', async () => {
    const claude = await startFakeProvider('anthropic', { keys: [KEY_A, KEY_B] });
    try {
      kw = await startTestGateway(
        {
          auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
          providers: [{ id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys: { env: 'POOL' } }],
          models: [{ name: 'sonnet', provider: 'claude', model: 'claude-sonnet-4-5' }],
        },
        { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, POOL: `${KEY_A},${KEY_B}` },
      );
      const answer: Script = { blocks: [], stop: 'end', usage: { input: 12, output: 0 } };
      claude.script({ ...answer, fault: { kind: 'status', status: 429, retryAfterSeconds: 60 } }, answer);
      const res = await request(`${kw.dataUrl}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: {
          'x-api-key': CLIENT_KEY,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
        },
        body: JSON.stringify({ model: 'sonnet', messages: [{ role: 'user', content: 'Hello' }] }),
      });
      expect(res.statusCode).toBe(200);
      expect(await res.body.json()).toEqual({ input_tokens: 12 });
      const keys = (await admin('GET', '/admin/keys')).json.providers[0].keys;
      expect(keys.map((key: { state: string }) => key.state)).toEqual(['active', 'active']);
    } finally {
      await claude.close();
    }
  });
});

describe('answers about the key that come as 400s and 402s', () => {
  const anthropicPool = async (claude: Awaited<ReturnType<typeof startFakeProvider>>, pool: string) => {
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [{ id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys: { env: 'POOL' } }],
        models: [{ name: 'fast', provider: 'claude', model: 'claude-3-5-haiku-20241022' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, POOL: pool },
    );
  };
  const seenBy = (provider: Awaited<ReturnType<typeof startFakeProvider>>, header: string) => () =>
    provider.requests.filter((r) => r.method === 'POST').map((r) => String(r.headers[header]));

  it("cools an Anthropic key whose account is out of credit for every model, moves on, and never blames the client's request", async () => {
    const claude = await startFakeProvider('anthropic', { keys: [KEY_A, KEY_B], outOfCredit: [KEY_A] });
    try {
      await anthropicPool(claude, `${KEY_A},${KEY_B}`);
      const seen = seenBy(claude, 'x-api-key');
      for (let i = 0; i < 3; i++) expect((await chat()).status).toBe(200);
      expect(seen()).toEqual([KEY_A, KEY_B, KEY_B, KEY_B]);
      const [a, b] = (await admin('GET', '/admin/keys')).json.providers[0].keys;
      expect(a).toMatchObject({ state: 'cooling', coolingModels: [] });
      // Credit comes back only when someone adds it: the key rests minutes, not a second.
      expect(a.coolingForMs).toBeGreaterThan(60_000);
      expect(b).toMatchObject({ state: 'active' });

      // A pool whose every account is dry: the client is told the gateway's keys are resting (as
      // for OpenAI's insufficient_quota), with when to come back, not that its request was invalid.
      await kw.close();
      claude.requests.length = 0;
      await anthropicPool(claude, KEY_A);
      const spent = await chat();
      expect(spent.status).toBe(429);
      expect(spent.json.error).toMatchObject({ type: 'rate_limit_error', code: 'provider_keys_cooling' });
      expect(Number(spent.headers['retry-after'])).toBeGreaterThan(60);
      expect(JSON.stringify(spent.json)).not.toContain('credit balance');
      expect(seen()).toEqual([KEY_A]);
    } finally {
      await claude.close();
    }
  });

  it("moves a request that got Anthropic's 402 billing_error to another key", async () => {
    const claude = await startFakeProvider('anthropic', { keys: [KEY_A, KEY_B] });
    try {
      await anthropicPool(claude, `${KEY_A},${KEY_B}`);
      const answer: Script = {
        blocks: [{ type: 'text', text: 'Hi' }],
        stop: 'end',
        usage: { input: 5, output: 2 },
      };
      claude.script({ ...answer, fault: { kind: 'status', status: 402 } }, answer);
      expect((await chat()).status).toBe(200);
      expect(seenBy(claude, 'x-api-key')()).toEqual([KEY_A, KEY_B]);
      const [a] = (await admin('GET', '/admin/keys')).json.providers[0].keys;
      expect(a).toMatchObject({ state: 'cooling', coolingModels: [] });
    } finally {
      await claude.close();
    }
  });

  it('moves a request Gemini refused as API_KEY_INVALID (a 400) to the next key, and benches the key once a probe agrees', async () => {
    const gemini = await startFakeProvider('gemini', { keys: [KEY_B] });
    try {
      kw = await startTestGateway(
        {
          auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
          providers: [{ id: 'g', type: 'gemini', baseUrl: gemini.baseUrl, keys: { env: 'POOL' } }],
          models: [{ name: 'fast', provider: 'g', model: 'gemini-2.0-flash' }],
        },
        { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, POOL: `${KEY_A},${KEY_B}` },
      );
      const first = await chat();
      expect(first.status).toBe(200);
      for (let i = 0; i < 2; i++) expect((await chat()).status).toBe(200);
      const seen = seenBy(gemini, 'x-goog-api-key');
      expect(seen()).toEqual([KEY_A, KEY_B, KEY_B, KEY_B]);
      const probes = gemini.requests.filter((r) => r.method === 'GET');
      expect(probes.map((r) => r.headers['x-goog-api-key'])).toEqual([KEY_A]);
      const [a, b] = (await admin('GET', '/admin/keys')).json.providers[0].keys;
      expect(a).toMatchObject({ id: 'env:POOL#1', state: 'invalid' });
      expect(b).toMatchObject({ state: 'active' });
      expect(kw.logs.filter((line) => line.includes('"alert":"key_rejected"'))).toHaveLength(1);
    } finally {
      await gemini.close();
    }
  });
});

describe.skipIf(!hasPostgres())('stored keys on two instances sharing Postgres (needs postgres)', () => {
  const postgres = usePostgres();

  it('stores a value added on both at once once: one 201, every other 409 naming it, and removing it removes the value', async () => {
    fake = await startFakeOpenAI({ keys: [KEY_A] });
    const config = {
      storage: { postgres: { url: await postgres.database() } },
      // Two instances share the store, each with limits of its own.
      rateLimits: { perInstance: true },
      providers: [
        { id: 'fake', type: 'openai' as const, baseUrl: `${fake.url}/v1`, keys: { store: true as const } },
      ],
      models: [FAST],
    };
    const dataDir = freshDataDir();
    const both: TestGateway[] = [];
    try {
      for (let i = 0; i < 2; i++)
        both.push(await startTestGateway(config, { KEYWARD_ADMIN_KEY: ADMIN_KEY }, dataDir));
      for (let round = 0; round < 10; round++) {
        const value = `sk-added-twice-${round}-xxxxxxxxxxxx`;
        const answers = await Promise.all(
          [0, 1, 0, 1].map((i) =>
            adminCall(both[i]!.adminUrl, 'POST', '/admin/keys', { provider: 'fake', value }),
          ),
        );
        const added = answers.filter((answer) => answer.status === 201);
        expect(added).toHaveLength(1);
        for (const refused of answers.filter((answer) => answer.status !== 201)) {
          expect(refused.status).toBe(409);
          expect(refused.json.error.code).toBe('key_already_stored');
          expect(refused.json.error.message).toContain(added[0]!.json.id);
        }
        // Removing the one copy removes the value: it can be added again.
        expect(
          (await adminCall(both[1]!.adminUrl, 'DELETE', `/admin/keys/${added[0]!.json.id}`)).status,
        ).toBe(200);
        expect(
          (await adminCall(both[0]!.adminUrl, 'POST', '/admin/keys', { provider: 'fake', value })).status,
        ).toBe(201);
      }
    } finally {
      for (const gateway of both) await gateway.close();
    }
  });
});
