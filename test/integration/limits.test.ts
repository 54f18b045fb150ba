import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import type { AuditRow } from '../../src/store/rows.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir, runCli } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

const PROVIDER_KEY = 'sk-limits-test-provider-key-0123456789';

/** What the fake provider reports for a one-message `hi` chat: 4 prompt + 13 completion tokens. */
const FAKE_PROMPT_TOKENS = 4;
const FAKE_COMPLETION_TOKENS = 13;

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
const gateways: TestGateway[] = [];
afterEach(async () => {
  for (const kw of gateways.splice(0)) await kw.close();
  await fake?.close();
  fake = undefined;
});

async function start(config: Partial<ConfigInput> = {}, dataDir = freshDataDir()): Promise<TestGateway> {
  fake ??= await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      ...config,
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_API_KEY: CLIENT_KEY },
    dataDir,
  );
  gateways.push(kw);
  return kw;
}

async function admin(kw: TestGateway, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) {
  return adminCall(kw.adminUrl, method, path, body);
}

async function mint(kw: TestGateway, spec: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const res = await admin(kw, 'POST', '/admin/tokens', spec);
  expect(res.status).toBe(201);
  return res.json;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { error?: { code?: string; message?: string } } & Record<string, unknown>;
  text: string;
}

const bodyOf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], ...extra });

async function chat(
  kw: TestGateway,
  credential: string,
  extra: Record<string, unknown> = {},
): Promise<Answer> {
  const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: bodyOf(extra),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text), text };
}

async function limitStatus(kw: TestGateway, credential: string) {
  const res = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  expect(res.statusCode).toBe(200);
  return (await res.body.json()) as {
    rates: Array<{ name: string; subject: string; limit: number; remaining: number; resetSeconds: number }>;
    concurrency: Array<{ subject: string; limit: number; inUse: number }>;
    budgets: Array<{
      subject: string;
      period: string;
      limitUsd: number;
      spentUsd: number;
      reservedUsd: number;
    }>;
  };
}

const codes = (answers: Answer[]) =>
  answers.map((a) => (a.status === 200 ? 200 : `${a.status} ${a.json.error?.code}`));
const count = <T>(items: T[], value: T) => items.filter((item) => item === value).length;

describe('rate limits, budgets and audit through the gateway', () => {
  it('lets exactly rpm requests of 200 concurrent ones through, and answers the rest 429 with the quota headers', async () => {
    const kw = await start();
    const limited = await mint(kw, { name: 'limited', limits: { rpm: 10 } });
    const other = await mint(kw, { name: 'other', limits: { rpm: 10 } });

    const answers = await Promise.all(Array.from({ length: 200 }, () => chat(kw, limited.token)));
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(190);
    // Each admitted request saw the bucket one lower: 9, 8, ..., 0, each exactly once.
    expect(ok.map((a) => Number(a.headers['x-ratelimit-remaining-requests'])).sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    for (const answer of refused) {
      expect(answer.status).toBe(429);
      expect(answer.json.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error' });
      const retry = Number(answer.headers['retry-after']);
      // One request comes back every 6 s at 10 per minute.
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(6);
      expect(answer.headers['x-ratelimit-limit-requests']).toBe('10');
      expect(answer.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(answer.headers['x-ratelimit-reset-requests']).toMatch(/^\d+s$/);
    }
    expect(fake!.requests).toHaveLength(10);

    const status = await limitStatus(kw, limited.token);
    expect(status.rates).toEqual([
      expect.objectContaining({ name: 'rpm', subject: 'this token', limit: 10, remaining: 0 }),
    ]);

    // The other token has a bucket of its own.
    const unaffected = await chat(kw, other.token);
    expect(unaffected.status).toBe(200);
    expect(unaffected.headers['x-ratelimit-remaining-requests']).toBe('9');
  });

  it('holds tpm to the estimate up front and refunds the difference once the real usage is known', async () => {
    const kw = await start();
    const tpm = 3000;
    const maxTokens = 1000;
    const token = await mint(kw, { name: 'tpm', limits: { tpm } });
    const estimate = Math.ceil(Buffer.byteLength(bodyOf({ max_tokens: maxTokens })) / 4) + maxTokens;
    const admitted = Math.floor(tpm / estimate);
    expect(admitted).toBe(2);
    // A slow provider keeps the admitted requests in flight until all ten have been decided.
    fake!.whenKey(PROVIDER_KEY, { delayHeadersMs: 300 });

    const answers = await Promise.all(
      Array.from({ length: 10 }, () => chat(kw, token.token, { max_tokens: maxTokens })),
    );
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).toHaveLength(admitted);
    for (const answer of answers.filter((a) => a.status !== 200)) {
      expect(answer.status).toBe(429);
      expect(answer.json.error?.code).toBe('rate_limit_exceeded');
      expect(answer.json.error?.message).toContain('tokens per minute');
      expect(answer.headers['x-ratelimit-limit-tokens']).toBe(String(tpm));
      expect(Number(answer.headers['x-ratelimit-remaining-tokens'])).toBeLessThan(estimate);
      expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    for (const answer of ok) {
      expect(answer.json.usage).toMatchObject({
        prompt_tokens: FAKE_PROMPT_TOKENS,
        completion_tokens: FAKE_COMPLETION_TOKENS,
      });
    }

    // Settled with 17 real tokens each: without the refund about tpm - 2 × estimate (≈ 960) would be left.
    const real = FAKE_PROMPT_TOKENS + FAKE_COMPLETION_TOKENS;
    await expect
      .poll(async () => (await limitStatus(kw, token.token)).rates.find((r) => r.name === 'tpm')?.remaining, {
        timeout: 2000,
      })
      .toBeGreaterThanOrEqual(tpm - admitted * real);
    const status = await limitStatus(kw, token.token);
    expect(status.rates).toEqual([
      expect.objectContaining({ name: 'tpm', limit: tpm, subject: 'this token' }),
    ]);
    // And the refunded tokens are usable at once: the same burst passes again.
    const again = await Promise.all(
      Array.from({ length: 10 }, () => chat(kw, token.token, { max_tokens: maxTokens })),
    );
    expect(count(codes(again), 200)).toBe(admitted);
  });

  it("estimates a request's output from the limit its own surface names (Responses, Gemini)", async () => {
    const kw = await start();
    const token = await mint(kw, { name: 'tpm-surfaces', limits: { tpm: 3000 } });
    const post = async (path: string, body: unknown) => {
      const res = await request(`${kw.dataUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      await res.body.dump();
      return res.statusCode;
    };
    const responses = (max: number) =>
      post('/v1/responses', { model: 'fast', input: 'hi', max_output_tokens: max });
    const gemini = (max: number) =>
      post('/v1beta/models/fast:generateContent', {
        contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
        generationConfig: { maxOutputTokens: max },
      });
    // Two requests in flight at once, each asking for 2000 output tokens: only one fits in 3000
    // (with the default estimate of 1024 both would pass). The refused one never reaches the provider.
    fake!.whenKey(PROVIDER_KEY, { delayHeadersMs: 300 });
    for (const send of [responses, gemini]) {
      const calls = fake!.requests.length;
      const statuses = await Promise.all([send(2000), send(2000)]);
      expect(statuses.sort()).toEqual([200, 429]);
      expect(fake!.requests.length).toBe(calls + 1);
      // Settled at its real usage, the admitted one gives its estimate back.
      await expect.poll(() => send(100), { timeout: 2000 }).toBe(200);
    }
  });

  it("counts every choice's output and the replayed history in the estimate", async () => {
    const kw = await start();
    const post = async (token: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await request(`${kw.dataUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      await res.body.dump();
      return res.statusCode;
    };
    // Two requests in flight at once against tpm 3000; each fits alone, only one fits beside the other.
    fake!.whenKey(PROVIDER_KEY, { delayHeadersMs: 300 });
    const inFlight = async (send: () => Promise<number>) => {
      const calls = fake!.requests.length;
      expect((await Promise.all([send(), send()])).sort()).toEqual([200, 429]);
      expect(fake!.requests.length).toBe(calls + 1);
    };

    // n = 2 at 800 tokens each is 1600 of output, not 800.
    const choices = await mint(kw, { name: 'choices', limits: { tpm: 3000 } });
    await inFlight(() =>
      post(choices.token, '/v1/chat/completions', {
        model: 'fast',
        messages: [{ role: 'user', content: 'hi' }],
        n: 2,
        max_tokens: 800,
      }),
    );

    // 6,000 characters of stored history are about 1,500 input tokens the small body does not show,
    // whether a conversation replays them or an item_reference copies them into the input.
    for (const via of ['responses', 'header', 'reference'] as const) {
      const owner = await mint(kw, { name: `history-${via}`, limits: { tpm: 3000 } });
      // One conversation per request: a conversation takes one turn at a time.
      const conversations: Array<{ id: string; itemId: string }> = [];
      for (let i = 0; i < 2; i++) {
        const created = await request(`${kw.dataUrl}/v1/conversations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ items: [{ type: 'message', role: 'user', content: 'x'.repeat(6_000) }] }),
        });
        const { id } = (await created.body.json()) as { id: string };
        const listed = await request(`${kw.dataUrl}/v1/conversations/${id}/items`, {
          headers: { authorization: `Bearer ${owner.token}` },
        });
        const [item] = ((await listed.body.json()) as { data: Array<{ id: string }> }).data;
        conversations.push({ id, itemId: item!.id });
      }
      let sent = 0;
      await inFlight(() => {
        const { id, itemId } = conversations[sent++ % 2]!;
        return via === 'reference'
          ? post(owner.token, '/v1/responses', {
              model: 'fast',
              input: [{ type: 'item_reference', id: itemId }],
              max_output_tokens: 100,
            })
          : via === 'responses'
            ? post(owner.token, '/v1/responses', {
                model: 'fast',
                input: 'hi',
                conversation: id,
                max_output_tokens: 100,
              })
            : post(
                owner.token,
                '/v1/chat/completions',
                { model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 },
                { 'x-keyward-conversation': id },
              );
      });
    }
  });

  it('holds the stored-state routes (conversations, stored responses) to the rate limit, one caller at a time', async () => {
    const kw = await start();
    const limited = await mint(kw, { name: 'writer', limits: { rpm: 3 } });
    const other = await mint(kw, { name: 'other', limits: { rpm: 3 } });
    const call = async (token: string, method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await request(`${kw.dataUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const json = (await res.body.json()) as Answer['json'];
      return { status: res.statusCode, headers: res.headers, json };
    };
    const created = await call(limited.token, 'POST', '/v1/conversations', {});
    expect(created.status).toBe(200);
    expect(created.headers['x-ratelimit-remaining-requests']).toBe('2');
    const id = created.json.id as string;
    const item = { type: 'message', role: 'user', content: 'note' };
    expect(
      (await call(limited.token, 'POST', `/v1/conversations/${id}/items`, { items: [item] })).status,
    ).toBe(200);
    expect((await call(limited.token, 'GET', `/v1/conversations/${id}`)).status).toBe(200);
    for (const path of [`/v1/conversations/${id}/items`, '/v1/conversations', '/v1/responses/resp_none']) {
      const refused = await call(
        limited.token,
        path === '/v1/conversations' ? 'POST' : 'GET',
        path,
        path === '/v1/conversations' ? {} : undefined,
      );
      expect(refused.status).toBe(429);
      expect(refused.json.error?.code).toBe('rate_limit_exceeded');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Another caller's allowance is its own.
    expect((await call(other.token, 'POST', '/v1/conversations', {})).status).toBe(200);
  });

  it('refuses a caller past its limits before reading any stored history for it', async () => {
    const price = { input: 100, output: 1000 };
    const kw = await start({
      pricing: { 'gpt-4o-mini': price },
      templates: [
        {
          name: 'recap',
          model: 'fast',
          messages: [{ role: 'user', content: 'Recap {{text}}' }],
          params: { text: { type: 'string', maxLength: 50 } },
        },
      ],
    });
    const call = async (token: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await request(`${kw.dataUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
      const json = (await res.body.json()) as Answer['json'];
      return { status: res.statusCode, json };
    };
    // Each names stored items nobody has: reading them answers 404, so a 429 shows that the
    // limits were checked before the store was read.
    const reading: Array<[string, string, unknown, Record<string, string>?]> = [
      [
        'previous_response_id',
        '/v1/responses',
        { model: 'fast', input: 'hi', previous_response_id: 'resp_gone' },
      ],
      ['conversation', '/v1/responses', { model: 'fast', input: 'hi', conversation: 'conv_gone' }],
      [
        'item_reference',
        '/v1/responses',
        { model: 'fast', input: [{ type: 'item_reference', id: 'msg_gone' }] },
      ],
      [
        'header',
        '/v1/chat/completions',
        { model: 'fast', messages: [{ role: 'user', content: 'hi' }] },
        { 'x-keyward-conversation': 'conv_gone' },
      ],
      ['template', '/v1/templates/recap/run', { params: { text: 'x' }, conversation: 'conv_gone' }],
    ];
    for (const [via, path, body, headers] of reading) {
      expect((await call(CLIENT_KEY, path, body, headers)).status, via).toBe(404);
      const limited = await mint(kw, {
        name: `limited-${via}`,
        scopes: ['chat', 'templates'],
        templates: ['recap'],
        limits: { rpm: 1 },
      });
      expect((await chat(kw, limited.token)).status).toBe(200);
      expect((await call(limited.token, path, body, headers)).json.error?.code, via).toBe(
        'rate_limit_exceeded',
      );
    }
    // A budget the last answer spent (4 prompt and 13 completion tokens, more than its 1-token
    // reservation), whatever the next request would cost.
    const broke = await mint(kw, { name: 'broke', budget: { usd: 0.01, period: 'day' } });
    expect((await chat(kw, broke.token, { max_tokens: 1 })).status).toBe(200);
    const [, path, body] = reading[1]!;
    const refused = await call(broke.token, path, body);
    expect(refused.status).toBe(429);
    expect(refused.json.error?.code).toBe('budget_exceeded');
  });

  it('refuses item_references that together copy in more than the body limit, however small the body', async () => {
    const kw = await start({ server: { bodyLimit: 64 * 1024 } });
    const owner = await mint(kw, { name: 'copier' });
    const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await request(`${kw.dataUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return {
        status: res.statusCode,
        json: (await res.body.json()) as Answer['json'] & { data: Array<{ id: string }> },
      };
    };
    // One item of 25 KB: two copies fit in 64 KB, three do not, whichever route copies them.
    const big = { type: 'message', role: 'user', content: 'y'.repeat(25_000) };
    const conversation = (await call('POST', '/v1/conversations', { items: [big] })).json.id as string;
    const [stored] = (await call('GET', `/v1/conversations/${conversation}/items`)).json.data;
    const refs = (n: number) => Array.from({ length: n }, () => ({ type: 'item_reference', id: stored!.id }));

    const twice = await call('POST', `/v1/conversations/${conversation}/items`, { items: refs(2) });
    expect(twice.status).toBe(200);
    const thrice = await call('POST', `/v1/conversations/${conversation}/items`, { items: refs(3) });
    expect(thrice.status).toBe(400);
    expect(thrice.json.error).toMatchObject({ code: 'references_too_large', param: 'input[2]' });
    expect(thrice.json.error?.message).toContain('65536 bytes');
    const items = await call('GET', `/v1/conversations/${conversation}/items?limit=100`);
    expect(items.json.data).toHaveLength(3);

    const upstream = fake!.requests.length;
    const viaResponses = await call('POST', '/v1/responses', { model: 'fast', input: refs(3) });
    expect(viaResponses.status).toBe(400);
    expect(viaResponses.json.error?.code).toBe('references_too_large');
    expect(fake!.requests.length).toBe(upstream);
  });

  it('refuses a third request in flight with concurrency 2, and frees the slots when the responses end', async () => {
    const kw = await start();
    const token = await mint(kw, { name: 'conc', limits: { concurrency: 2 } });
    fake!.script({ chunkDelayMs: 50 }, { delayHeadersMs: 600 });
    const streaming = request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
      body: bodyOf({ stream: true }),
    }).then(async (res) => ({ status: res.statusCode, text: await res.body.text() }));
    const slow = chat(kw, token.token);
    await fake!.waitForRequests(2);

    const status = await limitStatus(kw, token.token);
    expect(status.concurrency).toEqual([{ subject: 'this token', limit: 2, inUse: 2 }]);
    const third = await chat(kw, token.token);
    expect(third.status).toBe(429);
    expect(third.json.error).toMatchObject({ code: 'concurrency_limit_exceeded', type: 'rate_limit_error' });
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(fake!.requests).toHaveLength(2);

    const [streamed, slowAnswer] = await Promise.all([streaming, slow]);
    expect(streamed.status).toBe(200);
    expect(streamed.text).toContain('[DONE]');
    expect(slowAnswer.status).toBe(200);
    await expect.poll(async () => (await limitStatus(kw, token.token)).concurrency[0]?.inUse).toBe(0);
    const fourth = await Promise.all([chat(kw, token.token), chat(kw, token.token)]);
    expect(codes(fourth)).toEqual([200, 200]);
  });

  it('reserves tokens for the input of a chunked body, which has no content-length', async () => {
    const kw = await start();
    const token = await mint(kw, { name: 'chunked', limits: { tpm: 100_000 } });
    const body = bodyOf({ max_tokens: 10, messages: [{ role: 'user', content: 'x'.repeat(4000) }] });
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
      // A stream is sent with transfer-encoding: chunked.
      body: Readable.from([body]),
    });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    const reserved = Math.ceil(Buffer.byteLength(body) / 4) + 10;
    expect(Number(res.headers['x-ratelimit-remaining-tokens'])).toBe(100_000 - reserved);
  });

  it('charges a stream the client leaves before its usage came what admission reserved for it', async () => {
    const price = { input: 100, output: 1000 };
    const kw = await start({ pricing: { 'gpt-4o-mini': price } });
    const token = await mint(kw, { name: 'leaver', budget: { usd: 10, period: 'day' } });
    // OpenAI reports a stream's usage in its last chunk only: a client that leaves before it
    // must not stream for free.
    fake!.script({ chunkDelayMs: 200 });
    const body = bodyOf({ stream: true, max_tokens: 50 });
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
      body,
    });
    expect(res.statusCode).toBe(200);
    for await (const _chunk of res.body) break;
    // Under a budget, input is reserved at a token a byte (budget-dense-input.test.ts).
    const input = Buffer.byteLength(body);
    const estimate = input * price.input + 50 * price.output;
    const usageRow = async () => {
      const rows = (await admin(kw, 'GET', `/admin/usage?by=token&tokenId=${token.id}`)).json.rows;
      return rows[0] as
        | { requests: number; costMicros: number; inputTokens: number; outputTokens: number }
        | undefined;
    };
    await expect.poll(usageRow, { timeout: 5000 }).toMatchObject({
      requests: 1,
      costMicros: estimate,
      inputTokens: input,
      outputTokens: 50,
    });
    const status = await limitStatus(kw, token.token);
    expect(status.budgets[0]).toMatchObject({ spentUsd: estimate / 1e6, reservedUsd: 0 });
  });

  it('never lets concurrent requests spend more than the budget plus one reservation', async () => {
    // Prices high enough that a few requests spend the budget: micro-dollars per token.
    const price = { input: 100, output: 1000 };
    const kw = await start({ pricing: { 'gpt-4o-mini': price } });
    const budgetUsd = 0.1;
    const token = await mint(kw, { name: 'budget', budget: { usd: budgetUsd, period: 'day' } });
    const maxTokens = 40;
    const inputEstimate = Buffer.byteLength(bodyOf({ max_tokens: maxTokens }));
    const reservation = inputEstimate * price.input + maxTokens * price.output;
    const actual = FAKE_PROMPT_TOKENS * price.input + FAKE_COMPLETION_TOKENS * price.output;
    expect(reservation).toBeGreaterThan(actual);
    // A slow provider keeps each wave's admitted requests in flight until the whole wave is decided.
    fake!.whenKey(PROVIDER_KEY, { delayHeadersMs: 300 });

    const all: Answer[] = [];
    const waves: number[] = [];
    // Waves of 30 at once until a whole wave is refused: the budget is then spent for the day.
    for (let wave = 0; wave < 20; wave++) {
      const answers = await Promise.all(
        Array.from({ length: 30 }, () => chat(kw, token.token, { max_tokens: maxTokens })),
      );
      all.push(...answers);
      const passed = count(codes(answers), 200);
      waves.push(passed);
      if (passed === 0) break;
    }
    expect(waves.at(-1)).toBe(0);
    // The first wave: only as many reservations as fit in the budget at once.
    expect(waves[0]).toBe(Math.floor((budgetUsd * 1e6) / reservation));

    const ok = all.filter((a) => a.status === 200);
    const refused = all.filter((a) => a.status !== 200);
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(answer.status).toBe(429);
      expect(answer.json.error).toMatchObject({ code: 'budget_exceeded', type: 'rate_limit_error' });
      expect(answer.json.error?.message).toContain('this token');
    }
    // Refused while others held reservations: retry in a second. Refused with the budget spent: not before the day ends.
    const last = refused.at(-1)!;
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(60);
    expect(Number(refused[0]!.headers['retry-after'])).toBe(1);

    const usage = await admin(kw, 'GET', '/admin/usage?by=token');
    const row = usage.json.rows.find((r: { group: string }) => r.group === token.id);
    expect(row.requests).toBe(ok.length);
    expect(row.costMicros).toBe(ok.length * actual);
    expect(row.costMicros).toBeLessThanOrEqual(budgetUsd * 1e6 + reservation);
    // Spent so far that not even one more reservation fits.
    expect(row.costMicros + reservation).toBeGreaterThan(budgetUsd * 1e6);

    const status = await limitStatus(kw, token.token);
    expect(status.budgets).toEqual([
      {
        subject: 'this token',
        period: new Date().toISOString().slice(0, 10),
        limitUsd: budgetUsd,
        spentUsd: row.costMicros / 1e6,
        reservedUsd: 0,
      },
    ]);
  });

  it('refuses a model without a price to a credential held to a budget: it would spend without a ceiling', async () => {
    const kw = await start({
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'custom', provider: 'fake', model: 'my-finetune' },
        // Priced itself, but its fallback is not: the fallback could serve the request.
        {
          name: 'falls',
          provider: 'fake',
          model: 'gpt-4o-mini',
          fallbacks: [{ provider: 'fake', model: 'my-finetune' }],
        },
      ],
    });
    const held = await mint(kw, { name: 'held', budget: { usd: 1, period: 'day' } });
    for (const model of ['custom', 'falls']) {
      const refused = await chat(kw, held.token, { model });
      expect(refused.status).toBe(403);
      expect(refused.json.error).toMatchObject({ code: 'model_not_priced', type: 'permission_error' });
      expect(refused.json.error?.message).toContain("Model 'my-finetune' of provider 'fake' has no price");
      expect(refused.json.error?.message).toContain("'pricing'");
    }
    expect((await chat(kw, held.token, { model: 'fast' })).status).toBe(200);
    // Without a budget, an unpriced model is served (and counted in tokens).
    expect((await chat(kw, CLIENT_KEY, { model: 'custom' })).status).toBe(200);

    const priced = await start({
      models: [{ name: 'custom', provider: 'fake', model: 'my-finetune' }],
      pricing: { 'my-finetune': { input: 1, output: 2 } },
    });
    const token = await mint(priced, { name: 'held', budget: { usd: 1, period: 'day' } });
    expect((await chat(priced, token.token, { model: 'custom' })).status).toBe(200);
  });

  it('answers 429 too_many_auth_failures to guesses from an address after 30 failures, never to a valid credential', async () => {
    const kw = await start();
    const good = await mint(kw, { name: 'good' });
    const bad = `${good.token.slice(0, -4)}AAAA`;
    for (let i = 0; i < 30; i++) {
      const answer = await chat(kw, i % 2 === 0 ? bad : 'kw-not-a-key-at-all-0000000000000000');
      expect(answer.status).toBe(401);
    }
    const blocked = await chat(kw, 'kw-not-a-key-at-all-0000000000000000');
    expect(blocked.status).toBe(429);
    expect(blocked.json.error).toMatchObject({ code: 'too_many_auth_failures', type: 'rate_limit_error' });
    const retry = Number(blocked.headers['retry-after']);
    expect(retry).toBeGreaterThan(50);
    expect(retry).toBeLessThanOrEqual(60);
    expect((await chat(kw, bad)).status).toBe(429);
    // The holders of real credentials at the same address are served: the guard slows guessing only.
    expect((await chat(kw, good.token)).status).toBe(200);
    expect((await chat(kw, CLIENT_KEY)).status).toBe(200);
    expect(fake!.requests).toHaveLength(2);
  });

  it('holds static client keys to rateLimits.staticKeys, apart from tokens', async () => {
    const kw = await start({ rateLimits: { staticKeys: { rpm: 3 } } });
    const token = await mint(kw, { name: 'free' });
    const answers: Answer[] = [];
    for (let i = 0; i < 5; i++) answers.push(await chat(kw, CLIENT_KEY));
    expect(codes(answers)).toEqual([200, 200, 200, '429 rate_limit_exceeded', '429 rate_limit_exceeded']);
    expect(answers[3]!.json.error?.message).toContain('this key');
    expect(answers[3]!.headers['x-ratelimit-limit-requests']).toBe('3');
    expect(answers[3]!.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(answers[3]!.text).not.toContain(CLIENT_KEY);
    const status = await limitStatus(kw, CLIENT_KEY);
    expect(status.rates).toEqual([
      expect.objectContaining({ name: 'rpm', subject: 'this key', limit: 3, remaining: 0 }),
    ]);
    // A token with no limits of its own (and no perToken defaults) is not held to the static keys' rpm.
    for (let i = 0; i < 5; i++) expect((await chat(kw, token.token)).status).toBe(200);
  });

  it('audits token changes and requests without secrets or prompts, and `keyward audit verify` catches tampering', async () => {
    const dataDir = freshDataDir();
    const kw = await start({}, dataDir);
    const prompt = 'PROMPT-SENTINEL-the quarterly numbers are 4711';
    const token = await mint(kw, { name: 'audited', userId: 'u-audit', clientId: 'web' });
    for (let i = 0; i < 3; i++) {
      expect((await chat(kw, token.token, { messages: [{ role: 'user', content: prompt }] })).status).toBe(
        200,
      );
    }
    expect((await chat(kw, CLIENT_KEY, { messages: [{ role: 'user', content: prompt }] })).status).toBe(200);
    expect((await admin(kw, 'DELETE', `/admin/tokens/${token.id}`)).status).toBe(200);
    expect((await chat(kw, token.token)).status).toBe(401);

    const audit = await admin(kw, 'GET', '/admin/audit?limit=1000');
    expect(audit.status).toBe(200);
    const records = audit.json.records as Array<{
      seq: number;
      type: string;
      actor: string;
      data: Record<string, unknown>;
    }>;
    const types = records.map((r) => r.type);
    expect(types).toContain('token.created');
    expect(types).toContain('token.revoked');
    const created = records.find((r) => r.type === 'token.created')!;
    expect(created.data).toMatchObject({ tokenId: token.id, userId: 'u-audit', clientId: 'web' });
    expect(records.find((r) => r.type === 'token.revoked')!.data).toMatchObject({ tokenId: token.id });
    const requests = records.filter((r) => r.type === 'request');
    expect(requests).toHaveLength(4);
    expect(requests.filter((r) => r.data.tokenId === token.id)).toHaveLength(3);
    expect(requests[0]!.data).toMatchObject({
      tokenId: token.id,
      userId: 'u-audit',
      clientId: 'web',
      model: 'fast',
      provider: 'fake',
      status: 200,
    });
    expect(requests[0]!.data.inputTokens).toBeGreaterThan(0);
    expect(requests[0]!.data.outputTokens).toBeGreaterThan(0);
    // Sequence numbers are contiguous.
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    for (const forbidden of [
      token.token,
      token.token.slice(16),
      CLIENT_KEY,
      PROVIDER_KEY,
      ADMIN_KEY,
      'PROMPT-SENTINEL',
      // Words of the prompt, not its number: four digits turn up in MACs and ids by chance.
      'quarterly numbers',
    ]) {
      expect(audit.text).not.toContain(forbidden);
    }
    await kw.close();
    gateways.splice(gateways.indexOf(kw), 1);

    const config = join(dataDir, 'none.json');
    writeFileSync(config, '{}');
    const verify = async () => {
      const run = await runCli(['audit', 'verify', '--json', '--config', config, '--data-dir', dataDir]);
      return { code: run.code, result: run.stdout ? JSON.parse(run.stdout) : undefined, stderr: run.stderr };
    };
    const intact = await verify();
    expect(intact).toMatchObject({ code: 0, result: { ok: true, checked: records.length } });
    expect(intact.result.checked).toBeGreaterThanOrEqual(records.length);

    const db = new Database(join(dataDir, 'keyward.db'));
    try {
      const rows = db.prepare('SELECT * FROM audit ORDER BY seq').all() as AuditRow[];
      const middle = rows[Math.floor(rows.length / 2)]!;
      const byType = (type: string) => rows.find((r) => r.type === type)!;

      // 1. Edit one record's data.
      const edited = JSON.parse(middle.data) as Record<string, unknown>;
      db.prepare('UPDATE audit SET data = ? WHERE seq = ?').run(
        JSON.stringify({ ...edited, status: 418, tokenId: 'someone-else' }),
        middle.seq,
      );
      const afterEdit = await verify();
      expect(afterEdit.code).toBe(1);
      expect(afterEdit.result).toMatchObject({ ok: false, problem: { seq: middle.seq, kind: 'edited' } });
      const text = await runCli(['audit', 'verify', '--config', config, '--data-dir', dataDir]);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(`BROKEN at seq ${middle.seq} (edited)`);
      db.prepare('UPDATE audit SET data = ? WHERE seq = ?').run(middle.data, middle.seq);
      expect((await verify()).code).toBe(0);

      // 2. Delete a record in the middle.
      db.prepare('DELETE FROM audit WHERE seq = ?').run(middle.seq);
      const afterDelete = await verify();
      expect(afterDelete.code).toBe(1);
      expect(afterDelete.result).toMatchObject({ ok: false, problem: { seq: middle.seq, kind: 'deleted' } });
      db.prepare(
        'INSERT INTO audit (seq, at, type, actor, data, prev_mac, mac) VALUES (@seq, @at, @type, @actor, @data, @prev_mac, @mac)',
      ).run(middle);
      expect((await verify()).code).toBe(0);

      // 3. Swap the contents of two records (the token's creation and its revocation).
      const a = byType('token.created');
      const b = byType('token.revoked');
      const put = db.prepare('UPDATE audit SET at = ?, type = ?, actor = ?, data = ? WHERE seq = ?');
      db.transaction(() => {
        put.run(b.at, b.type, b.actor, b.data, a.seq);
        put.run(a.at, a.type, a.actor, a.data, b.seq);
      })();
      const afterSwap = await verify();
      expect(afterSwap.code).toBe(1);
      expect(afterSwap.result).toMatchObject({ ok: false, problem: { seq: a.seq, kind: 'reordered' } });
    } finally {
      db.close();
    }
  });
});
