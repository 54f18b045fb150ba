import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * The official SDKs, with their default retries (a 408, 409, 429 or 5xx is sent again twice unless
 * the answer says `x-should-retry: false`), against errors of requests the gateway charged: a
 * provider answered and the gateway failed the request after (a malformed answer, a turn the store
 * did not take), or attempts reached a provider and got no answer. Each must reach the provider
 * once and be charged once. An error that charged nothing keeps the SDKs' own rule.
 */

/** How a provider of our own answers every request: a 200 whose body is cut, or compressed. */
type RawAnswer = 'malformed' | 'compressed';

async function rawProvider(): Promise<{
  server: Server;
  url: string;
  hits: () => number;
  answer: (a: RawAnswer) => void;
}> {
  let hits = 0;
  let answer: RawAnswer = 'malformed';
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => {
      if (answer === 'compressed') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assi');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    hits: () => hits,
    answer: (a) => {
      answer = a;
    },
  };
}

let oa: FakeProvider;
let claude: FakeProvider;
let raw: Awaited<ReturnType<typeof rawProvider>>;
let kw: TestGateway;
let db: Database.Database;

beforeAll(async () => {
  oa = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
  raw = await rawProvider();
  const dataDir = freshDataDir();
  const retries = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 };
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        { id: 'oa', type: 'openai', baseUrl: oa.baseUrl, keys: { env: 'PROVIDER_KEY' }, retries },
        { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys: { env: 'PROVIDER_KEY' }, retries },
        { id: 'raw', type: 'openai', baseUrl: raw.url, keys: { env: 'PROVIDER_KEY' }, retries },
      ],
      models: [
        { name: 'fast', provider: 'oa', model: 'gpt-4o-mini' },
        { name: 'sonnet', provider: 'claude', model: 'claude-sonnet-4-5' },
        { name: 'raw', provider: 'raw', model: 'gpt-4o-mini' },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    dataDir,
  );
  db = new Database(join(dataDir, 'keyward.db'));
});
afterAll(async () => {
  db?.close();
  await kw?.close();
  await oa?.close();
  await claude?.close();
  raw?.server.close();
});

// Default retries (2), as a client gets them unless it asks otherwise.
const openai = () => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY });
const anthropic = () => new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY });

const posts = (fake: FakeProvider) => fake.requests.filter((r) => r.method === 'POST').length;

/** The data plane's request log lines written since `from` for model calls: status and cost. */
function calls(from: number): Array<{ status: unknown; costMicros: number }> {
  return logRecords(kw.logs.slice(from))
    .filter((r) => typeof r.route === 'string' && r.status !== undefined && r.model !== undefined)
    .map((r) => ({ status: r.status, costMicros: (r.costMicros as number | undefined) ?? 0 }));
}

/** The SDK's error for `call`, with the answer's headers. */
async function failed(call: Promise<unknown>): Promise<{ status?: number; headers?: Headers }> {
  try {
    await call;
  } catch (error) {
    return error as { status?: number; headers?: Headers };
  }
  throw new Error('the call succeeded');
}

const chat = { model: 'fast', max_tokens: 100, messages: [{ role: 'user' as const, content: 'hi' }] };

describe('attempts charged without an answer', () => {
  it('a provider that resets every attempt: the gateway tries 3 times, the SDK sends once', async () => {
    oa.script({ blocks: [], stop: 'end', usage: { input: 1, output: 1 }, fault: { kind: 'reset' } });
    const before = posts(oa);
    const from = kw.logs.length;
    const error = await failed(openai().chat.completions.create(chat));
    expect(error.status).toBe(502);
    expect(error.headers?.get('x-keyward-unanswered-attempts')).toBe('3');
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(posts(oa) - before).toBe(3);
    await vi.waitFor(() => expect(calls(from)).toHaveLength(1));
    expect(calls(from)[0]!.costMicros).toBeGreaterThan(0);
  });

  it('so does a stream that fails before its first event', async () => {
    oa.script({ blocks: [], stop: 'end', usage: { input: 1, output: 1 }, fault: { kind: 'reset' } });
    const before = posts(oa);
    const from = kw.logs.length;
    const error = await failed(
      (async () => {
        for await (const _ of await openai().chat.completions.create({ ...chat, stream: true }));
      })(),
    );
    expect(error.status).toBe(502);
    expect(posts(oa) - before).toBe(3);
    await vi.waitFor(() => expect(calls(from)).toHaveLength(1));
  });

  it("a compressed answer (charged as one that got no answer) is the provider's only attempt", async () => {
    raw.answer('compressed');
    const before = raw.hits();
    const from = kw.logs.length;
    const error = await failed(openai().chat.completions.create({ ...chat, model: 'raw' }));
    expect(error.status).toBe(502);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(raw.hits() - before).toBe(1);
    await vi.waitFor(() => expect(calls(from)).toHaveLength(1));
    expect(calls(from)[0]!.costMicros).toBeGreaterThan(0);
  });
});

describe('a provider answer the gateway then fails', () => {
  it('a malformed 200 (charged as answered) reaches the provider once', async () => {
    raw.answer('malformed');
    const before = raw.hits();
    const from = kw.logs.length;
    const error = await failed(openai().chat.completions.create({ ...chat, model: 'raw' }));
    expect(error.status).toBe(502);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(raw.hits() - before).toBe(1);
    await vi.waitFor(() => expect(calls(from)).toHaveLength(1));
    expect(calls(from)[0]!.costMicros).toBeGreaterThan(0);
  });

  describe('a conversation turn the store does not take (503 turn_not_stored)', () => {
    /** The store fails every append to `conversation`, as a full disk would. */
    function refuseAppends(conversation: string): () => void {
      db.exec(
        `CREATE TRIGGER refuse_turn BEFORE INSERT ON conversation_items WHEN NEW.parent_id = '${conversation}'
         BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
      );
      return () => db.exec('DROP TRIGGER refuse_turn');
    }

    async function turn(fake: FakeProvider, call: (conversation: string) => Promise<unknown>): Promise<void> {
      oa.script({ blocks: [{ type: 'text', text: 'Hello' }], stop: 'end', usage: { input: 8, output: 7 } });
      const { id } = await openai().conversations.create({});
      const before = posts(fake);
      const from = kw.logs.length;
      const allow = refuseAppends(id);
      let error: Awaited<ReturnType<typeof failed>>;
      try {
        error = await failed(call(id));
      } finally {
        allow();
      }
      expect(error.status).toBe(503);
      expect(error.headers?.get('x-should-retry')).toBe('false');
      expect(posts(fake) - before).toBe(1);
      await vi.waitFor(() => expect(calls(from)).toHaveLength(1));
      expect(calls(from)[0]!.costMicros).toBeGreaterThan(0);
    }

    it('Responses', () =>
      turn(oa, (conversation) => openai().responses.create({ model: 'fast', conversation, input: 'hi' })));

    it('Messages with x-keyward-conversation', () =>
      turn(claude, (conversation) =>
        anthropic().messages.create(
          { model: 'sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-keyward-conversation': conversation } },
        ),
      ));
  });
});

describe('an error that charged nothing', () => {
  it("keeps the SDK's own retries: a provider's 503 is sent again", async () => {
    oa.script({
      blocks: [],
      stop: 'end',
      usage: { input: 1, output: 1 },
      fault: { kind: 'status', status: 503 },
    });
    const before = posts(oa);
    const from = kw.logs.length;
    const error = await failed(openai().chat.completions.create(chat));
    expect(error.status).toBe(503);
    expect(error.headers?.get('x-should-retry')).toBeNull();
    expect(posts(oa) - before).toBe(9);
    await vi.waitFor(() => expect(calls(from)).toHaveLength(3));
    expect(calls(from).every((call) => call.costMicros === 0)).toBe(true);
  });
});
