import { join } from 'node:path';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineBinding, readMasterKeyFile, seal } from '../../src/keys/index.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY, type Stack, startStack } from '../support/setup.js';

/** Every form of a secret that must not appear: itself, base64, and any 5+ character prefix or suffix. */
function forbiddenForms(secret: string): string[] {
  return [
    secret,
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
    Buffer.from(secret).toString('base64url'),
    secret.slice(0, 5 + 3),
    secret.slice(-5),
  ];
}

/**
 * The admin key's canary: every form checked has letters in it, so that none can turn up by
 * chance in a number (a latency sum in /metrics once held its digits-only suffix `12233`).
 */
const ADMIN_CANARY = 'kw-admin-canary-key-00112233-zq';

describe('canary keys never leak', () => {
  let stack: Stack;
  const seen: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ env: { KEYWARD_ADMIN_KEY: ADMIN_CANARY } });
  });
  afterAll(() => stack.close());

  async function record(
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string },
  ) {
    const res = await request(`${stack.kw.dataUrl}${path}`, init);
    seen.push(JSON.stringify(res.headers), await res.body.text());
  }

  it('across successes, every failure mode, debug logs, metrics and responses', async () => {
    const json = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' };
    const chat = (extra: Record<string, unknown> = {}) =>
      JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], ...extra });

    await record('/v1/chat/completions', { method: 'POST', headers: json, body: chat() });
    await record('/v1/chat/completions', { method: 'POST', headers: json, body: chat({ stream: true }) });
    stack.fake.script({ status: 500, body: { error: { message: `upstream saw key ${PROVIDER_KEY}` } } });
    await record('/v1/chat/completions', { method: 'POST', headers: json, body: chat() });
    stack.fake.script({ cutAfterChunks: 1 });
    await record('/v1/chat/completions', { method: 'POST', headers: json, body: chat({ stream: true }) });
    // The provider's own 401 body quotes part of the key it was sent: it must stay inside.
    // Last of the upstream cases: the refused key is benched afterwards.
    stack.fake.script({
      status: 401,
      body: {
        error: {
          message: `Incorrect API key provided: ${PROVIDER_KEY.slice(0, 8)}***${PROVIDER_KEY.slice(-4)}`,
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      },
    });
    await record('/v1/chat/completions', { method: 'POST', headers: json, body: chat() });
    // Clients paste keys into the wrong places: errors must not echo them.
    await record('/v1/chat/completions', {
      method: 'POST',
      headers: json,
      body: chat({ user: 1, seed: CLIENT_KEY }),
    });
    await record(`/v1/models?key=${CLIENT_KEY}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
    await record('/v1/models', { headers: { authorization: `Bearer ${CLIENT_KEY}xyz` } });
    await record('/v1/models', {
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': PROVIDER_KEY },
    });

    const client = new OpenAI({ baseURL: `${stack.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    stack.fake.script({ status: 401 });
    const sdkError = await client.chat.completions
      .create({ model: 'fast', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    seen.push(String(sdkError), JSON.stringify(sdkError));

    seen.push(await stack.kw.gateway.metrics.render());
    const logs = stack.kw.logs.join('');
    expect(logs).toContain('"level":"debug"');
    expect(logs).toContain('provider returned an error');

    const everything = [...seen, logs].join('\n');
    for (const secret of [CLIENT_KEY, PROVIDER_KEY, ADMIN_CANARY]) {
      for (const form of forbiddenForms(secret)) {
        const at = everything.indexOf(form);
        expect(at, `found ${form}: ${everything.slice(Math.max(0, at - 200), at + 80)}`).toBe(-1);
      }
    }
  });
});

describe('canary provider keys from every local source never leak', () => {
  // No well-known prefix: only the literal values the redactor was given can mask these.
  const ENC_KEY = 'canary-sealed-env-key-5f1e2d3c4b5a6978';
  const STORED_KEY = 'canary-stored-key-0a9b8c7d6e5f4a3b2c1d';
  const OWN_KEY = 'canary-client-own-key-77aa88bb99cc00dd';
  const ADMIN = 'kwa-canary-admin-key-aabbccddeeff0011';
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [ENC_KEY, STORED_KEY, OWN_KEY] });
    const dataDir = freshDataDir();
    const { master } = readMasterKeyFile(join(dataDir, 'master.key'), true);
    const sealed = `enc:${seal(master, ENC_KEY, inlineBinding('enc'))}`;
    const provider = (id: string, keys: unknown) => ({
      id,
      type: 'openai' as const,
      baseUrl: `${fake.url}/v1`,
      keys: keys as { store: true },
      retries: { maxAttempts: 1 },
    });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        logging: { level: 'debug' },
        providers: [
          provider('enc', { env: 'ENC_KEYS' }),
          provider('stored', { store: true }),
          provider('pass', { passthrough: true }),
        ],
        models: ['enc', 'stored', 'pass'].map((id) => ({ name: id, provider: id, model: 'gpt-4o-mini' })),
      },
      { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN, ENC_KEYS: sealed },
      dataDir,
    );
  });
  afterAll(async () => {
    await kw.close();
    await fake.close();
  });

  it('in debug logs, responses, metrics and admin listings, across failures', async () => {
    const seen: string[] = [];
    const call = async (
      url: string,
      init: { method?: string; headers?: Record<string, string>; body?: string },
    ) => {
      const res = await request(url, init);
      seen.push(JSON.stringify(res.headers), await res.body.text());
    };
    const adminHeaders = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    await call(`${kw.adminUrl}/admin/keys`, {
      method: 'POST',
      headers: adminHeaders,
      body: JSON.stringify({ provider: 'stored', value: STORED_KEY }),
    });
    const chat = async (model: string, extra: Record<string, unknown> = {}) =>
      call(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${CLIENT_KEY}`,
          'content-type': 'application/json',
          'x-provider-api-key': OWN_KEY,
        },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
      });
    for (const model of ['enc', 'stored', 'pass']) {
      await chat(model);
      await chat(model, { stream: true });
      fake.script({
        status: 500,
        body: { error: { message: `upstream saw ${ENC_KEY} ${STORED_KEY} ${OWN_KEY}` } },
      });
      await chat(model);
      fake.script({ cutAfterChunks: 1 });
      await chat(model, { stream: true });
    }
    // Refusals last: they bench the stored keys. The provider's body quotes the key half-masked.
    for (const model of ['pass', 'enc', 'stored']) {
      fake.keys.clear();
      await chat(model);
    }
    await call(`${kw.adminUrl}/admin/keys`, { headers: adminHeaders });
    seen.push(await kw.gateway.metrics.render());
    const logs = kw.logs.join('');
    expect(logs).toContain('provider returned an error');
    expect(logs).toContain('"alert":"key_rejected"');

    const everything = [...seen, logs].join('\n');
    for (const secret of [ENC_KEY, STORED_KEY, OWN_KEY, ADMIN, CLIENT_KEY]) {
      for (const form of forbiddenForms(secret)) {
        const at = everything.indexOf(form);
        expect(at, `found ${form}: ${everything.slice(Math.max(0, at - 200), at + 80)}`).toBe(-1);
      }
    }
  });
});
