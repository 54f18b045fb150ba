import { spawnSync } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeywardClient, type KeywardError } from '../../src/client/index.js';
import { backoffMs, parseRetryAfter } from '../../src/client/retry.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { caught } from '../support/caught.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { rawConnection } from '../support/raw-socket.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const answer = (text: string, fault?: Script['fault']): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 9, output: 4 },
  chunkSize: 3,
  ...(fault && { fault }),
});

/** A fetch that records each attempt's path and status, in order, then hands the answer back. */
function countingFetch() {
  const attempts: string[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    try {
      const response = await fetch(input, init);
      attempts.push(`${new URL(String(input)).pathname} ${response.status}`);
      return response;
    } catch (error) {
      attempts.push(`${new URL(String(input)).pathname} network`);
      throw error;
    }
  };
  return { attempts, fetcher };
}

/** Records each wait instead of sleeping the wall clock, unless `real` asks for the real wait. */
function recordingSleep(real = false) {
  const waits: number[] = [];
  const sleep = async (ms: number) => {
    waits.push(ms);
    if (real) await new Promise((resolve) => setTimeout(resolve, ms));
  };
  return { waits, sleep };
}

const chatBody = { model: 'fast', messages: [{ role: 'user', content: 'Hi' }] };

/** A loopback port that was bound and released: connecting to it is refused (ECONNREFUSED). */
async function refusedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * A loopback HTTP listener that reads each request's head and then, never answering, either
 * drops the connection (`/drop/…`) or holds it open (`/hang/…`): the request was sent, and
 * whether it ran cannot be known. Counts the requests it read, by path.
 */
async function unansweringServer(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    socket.on('data', (chunk) => {
      head += chunk;
      if (!head.includes('\r\n\r\n')) return;
      const [method, path = ''] = head.split(' ');
      seen.push(`${method} ${path}`);
      head = '';
      if (path.startsWith('/drop/')) socket.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('keyward/client against the gateway (Node)', () => {
  let fake: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        // One attempt per provider call: the client's own retries are what is tested.
        providers: [
          {
            id: 'an',
            type: 'anthropic',
            baseUrl: fake.baseUrl,
            keys: { env: 'P_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
        models: [{ name: 'fast', provider: 'an', model: 'claude-haiku-4-5' }],
        templates: [
          {
            name: 'greet',
            model: 'fast',
            messages: [{ role: 'user', content: 'Greet {{who}}' }],
            params: { who: { type: 'string', maxLength: 20 } },
          },
          {
            name: 'rate',
            model: 'fast',
            messages: [{ role: 'user', content: 'Rate {{review}}' }],
            params: { review: { type: 'string', maxLength: 100 } },
            output: {
              type: 'object',
              properties: { score: { type: 'number' } },
              required: ['score'],
              additionalProperties: false,
            },
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw.close();
    await fake.close();
  });

  const client = (extra: Partial<ConstructorParameters<typeof KeywardClient>[0]> = {}) =>
    new KeywardClient({ baseUrl: kw.dataUrl, apiKey: CLIENT_KEY, ...extra });

  it('completes a chat, and streams one as deltas ending with the usage', async () => {
    fake.script(answer('Hello there, friend.'));
    const reply = await client().chat.completions.create(chatBody);
    expect(reply.choices[0]!.message.content).toBe('Hello there, friend.');

    const deltas = [];
    for await (const delta of client().chat.completions.stream(chatBody)) deltas.push(delta);
    expect(deltas.map((d) => d.content).join('')).toBe('Hello there, friend.');
    expect(deltas.filter((d) => d.content).length).toBeGreaterThan(3);
    expect(deltas.at(-1)!.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
  });

  it('lists, runs and streams templates', async () => {
    fake.script(answer('Hi Ann!'));
    const sdk = client();
    expect((await sdk.templates.list()).map((t) => t.name)).toEqual(['greet', 'rate']);
    const run = await sdk.templates.run<string>('greet', { who: 'Ann' });
    expect(run).toMatchObject({ template: 'greet', output: 'Hi Ann!', usage: { total_tokens: 13 } });
    let text = '';
    for await (const delta of sdk.templates.stream('greet', { who: 'Ann' })) text += delta.content;
    expect(text).toBe('Hi Ann!');
    const bad = await caught(sdk.templates.run('greet', { who: 'x'.repeat(21) }));
    expect(bad).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      code: 'param_too_long',
      param: 'params.who',
    });
  });

  it('creates, continues, reads and deletes responses, and keeps conversations', async () => {
    const sdk = client();
    fake.script(answer('First answer.'));
    const first = await sdk.responses.create({ model: 'fast', input: 'Hello' });
    expect(first).toMatchObject({ object: 'response', status: 'completed' });
    fake.script(answer('Second answer.'));
    const events: string[] = [];
    for await (const event of sdk.responses.stream({
      model: 'fast',
      input: 'And then?',
      previous_response_id: first.id,
    }))
      events.push((event as { type: string }).type);
    expect(events[0]).toBe('response.created');
    expect(events).toContain('response.output_text.delta');
    expect(events.at(-1)).toBe('response.completed');
    expect(await sdk.responses.get(first.id as string)).toMatchObject({ id: first.id });
    const inputs = await sdk.responses.inputItems(first.id as string);
    expect(JSON.stringify(inputs)).toContain('Hello');
    await sdk.responses.delete(first.id as string);
    expect(await caught(sdk.responses.get(first.id as string))).toMatchObject({ status: 404 });

    const conversation = await sdk.conversations.create({
      items: [{ type: 'message', role: 'user', content: 'Remember: blue.' }],
    });
    expect(conversation).toMatchObject({ object: 'conversation' });
    const id = conversation.id as string;
    await sdk.conversations.items.create(id, {
      items: [{ type: 'message', role: 'user', content: 'And green.' }],
    });
    const listed = (await sdk.conversations.items.list(id, { order: 'asc' })) as { data: { id: string }[] };
    expect(listed.data).toHaveLength(2);
    expect(await sdk.conversations.items.get(id, listed.data[0]!.id)).toMatchObject({
      id: listed.data[0]!.id,
    });
    await sdk.conversations.delete(id);
    expect(await caught(sdk.conversations.get(id))).toMatchObject({ status: 404 });
  });

  it('raises one typed error with the request id', async () => {
    const { attempts, fetcher } = countingFetch();
    const error = await caught(
      client({ apiKey: 'kw-wrong-key-000000000000', fetch: fetcher }).chat.completions.create(chatBody),
    );
    expect(error).toMatchObject({ status: 401, type: 'authentication_error', code: 'invalid_credential' });
    expect(error.requestId).toMatch(/\S+/);
    expect(attempts).toEqual(['/v1/chat/completions 401']);
  });

  it('retries a 429 after exactly its Retry-After, then gives up with the last error', async () => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'slow',
      limits: { rpm: 1 },
    });
    const token = minted.json.token as string;
    fake.script(answer('once'));
    const { attempts, fetcher } = countingFetch();
    const { waits, sleep } = recordingSleep();
    const sdk = client({ apiKey: token, fetch: fetcher, sleep, maxRetries: 2, maxRetryDelayMs: 120_000 });
    await sdk.chat.completions.create(chatBody);
    const error = await caught(sdk.chat.completions.create(chatBody));
    expect(error.status).toBe(429);
    expect(error.type).toBe('rate_limit_error');
    expect(error.retryAfter).toBeGreaterThan(0);
    expect(attempts).toEqual(
      Array(4).fill('/v1/chat/completions 200', 0, 1).fill('/v1/chat/completions 429', 1),
    );
    expect(waits).toEqual([error.retryAfter! * 1000, error.retryAfter! * 1000]);

    // A Retry-After longer than the client will wait is not waited for at all.
    const impatient = client({ apiKey: token, fetch: fetcher, sleep, maxRetryDelayMs: 1_000 });
    await caught(impatient.chat.completions.create(chatBody));
    expect(attempts.length).toBe(5);
    expect(waits.length).toBe(2);
  });

  it('recovers from a provider 429 once the Retry-After it named has passed', async () => {
    fake.script(answer('', { kind: 'status', status: 429, retryAfterSeconds: 1 }), answer('recovered'));
    const { attempts, fetcher } = countingFetch();
    const { waits, sleep } = recordingSleep(true);
    const reply = await client({ fetch: fetcher, sleep }).chat.completions.create(chatBody);
    expect(reply.choices[0]!.message.content).toBe('recovered');
    expect(attempts).toEqual(['/v1/chat/completions 429', '/v1/chat/completions 200']);
    expect(waits).toEqual([1000]);
  });

  it('never sends a POST again after a 502, a provider 503 or a template_output_invalid: the provider may have run it', async () => {
    const { attempts, fetcher } = countingFetch();
    const { waits, sleep } = recordingSleep();
    const sdk = client({ fetch: fetcher, sleep, maxRetries: 2 });
    const cases: Array<[Script, () => Promise<unknown>, Partial<KeywardError>]> = [
      [
        answer('', { kind: 'status', status: 500 }),
        () => sdk.chat.completions.create(chatBody),
        { status: 502, code: 'provider_error' },
      ],
      [
        answer('', { kind: 'status', status: 529 }),
        () => sdk.chat.completions.create(chatBody),
        { status: 503, code: 'provider_overloaded' },
      ],
      [
        answer('', { kind: 'status', status: 503 }),
        () => sdk.responses.create({ model: 'fast', input: 'Hi' }),
        { status: 503, code: 'provider_overloaded' },
      ],
      [
        answer('I would say it is good.'),
        () => sdk.templates.run('rate', { review: 'Lovely tea' }),
        { status: 502, code: 'template_output_invalid' },
      ],
    ];
    for (const [script, call, expected] of cases) {
      fake.script(script, answer('a second answer that must never be asked for'));
      const before = fake.requests.length;
      attempts.length = 0;
      expect(await caught(call())).toMatchObject(expected);
      expect(attempts).toHaveLength(1);
      // The provider was asked once: the model call (and its bill) was not repeated.
      expect(fake.requests.length - before).toBe(1);
    }
    expect(waits).toEqual([]);
  });

  it('retries GETs after a network failure or a timeout, and never a POST that was sent', async () => {
    const server = await unansweringServer();
    try {
      const { fetcher } = countingFetch();
      const { waits, sleep } = recordingSleep();
      // Dropped after the request was read: the gateway may have run it.
      const dropped = new KeywardClient({
        baseUrl: `${server.url}/drop`,
        apiKey: CLIENT_KEY,
        fetch: fetcher,
        sleep,
      });
      expect(await caught(dropped.chat.completions.create(chatBody))).toMatchObject({
        status: 0,
        type: 'network_error',
      });
      expect(await caught(dropped.conversations.delete('conv_1'))).toMatchObject({ type: 'network_error' });
      expect(await caught(dropped.health())).toMatchObject({ type: 'network_error' });
      // Never answered: a timeout says nothing about whether it ran.
      const hanging = new KeywardClient({
        baseUrl: `${server.url}/hang`,
        apiKey: CLIENT_KEY,
        fetch: fetcher,
        sleep,
        timeoutMs: 300,
      });
      expect(await caught(hanging.templates.run('greet', { who: 'Ann' }))).toMatchObject({ type: 'timeout' });
      expect(await caught(hanging.rateLimitStatus())).toMatchObject({ type: 'timeout' });
      expect(server.seen).toEqual([
        'POST /drop/v1/chat/completions',
        'DELETE /drop/v1/conversations/conv_1',
        ...Array(3).fill('GET /drop/health'),
        'POST /hang/v1/templates/greet/run',
        ...Array(3).fill('GET /hang/v1/rate-limit-status'),
      ]);
      expect(waits).toHaveLength(4);
    } finally {
      await server.close();
    }
  });

  it('never retries a stream that has begun: a cut mid-way is a typed error after one attempt', async () => {
    fake.script(answer('This will be cut off in the middle.', { kind: 'cut', afterEvents: 6 }));
    const { attempts, fetcher } = countingFetch();
    const { waits, sleep } = recordingSleep();
    let text = '';
    const error = await caught(
      (async () => {
        for await (const delta of client({ fetch: fetcher, sleep }).chat.completions.stream(chatBody))
          text += delta.content;
      })(),
    );
    expect(text.length).toBeGreaterThan(0);
    expect(error.status).toBeGreaterThanOrEqual(500);
    expect(attempts).toEqual(['/v1/chat/completions 200']);
    expect(waits).toEqual([]);
  });

  it('retries network failures, capped, then reports network_error', async () => {
    const port = await refusedPort();
    const { attempts, fetcher } = countingFetch();
    const { waits, sleep } = recordingSleep();
    const sdk = new KeywardClient({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey: CLIENT_KEY,
      fetch: fetcher,
      sleep,
      maxRetries: 3,
      random: () => 1 - 1e-9,
      retryBaseMs: 1000,
      maxRetryDelayMs: 2500,
    });
    const error = await caught(sdk.health());
    expect(error).toMatchObject({ status: 0, type: 'network_error' });
    expect(attempts).toEqual(Array(4).fill('/health network'));
    expect(waits).toEqual([999, 1999, 2499]);

    // A connection that was refused carried nothing: a POST is retried as well…
    attempts.length = 0;
    expect(await caught(sdk.chat.completions.create(chatBody))).toMatchObject({ type: 'network_error' });
    expect(attempts).toEqual(Array(4).fill('/v1/chat/completions network'));
    // …but a session call never is: a login code or refresh token is not sent twice.
    attempts.length = 0;
    expect(await caught(sdk.sessions.login('code-1'))).toMatchObject({ type: 'network_error' });
    expect(await caught(sdk.sessions.current())).toMatchObject({ type: 'network_error' });
    expect(attempts).toEqual(['/auth/session network', '/auth/session network']);
  });

  it('leaves no abort listener on a signal reused across requests', async () => {
    const controller = new AbortController();
    const { signal } = controller;
    const sdk = client();
    fake.script(answer('One answer for every call.'));
    await sdk.chat.completions.create(chatBody, { signal });
    await sdk.rateLimitStatus({ signal });
    await caught(sdk.responses.get('resp_missing', { signal }));
    for await (const _ of sdk.chat.completions.stream(chatBody, { signal })) {
    }
    for await (const _ of sdk.chat.completions.stream(chatBody, { signal })) break;
    await caught(sdk.templates.stream('greet', { who: 'x'.repeat(21) }, { signal }).next());
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('aborts a stream mid-way and a wait between attempts', async () => {
    fake.script(answer('A long answer that the reader gives up on after its first words.'));
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await caught(
      (async () => {
        for await (const delta of client().chat.completions.stream(chatBody, { signal: controller.signal })) {
          seen.push(delta.content);
          if (seen.length === 2) controller.abort();
        }
      })(),
    );
    expect(error.type).toBe('aborted');
    expect(seen.length).toBe(2);

    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'slower',
      limits: { rpm: 1 },
    });
    const { attempts, fetcher } = countingFetch();
    const sdk = client({ apiKey: minted.json.token, fetch: fetcher, maxRetryDelayMs: 120_000 });
    await sdk.rateLimitStatus();
    fake.script(answer('x'));
    await sdk.chat.completions.create(chatBody);
    const waiting = new AbortController();
    const pending = caught(sdk.chat.completions.create(chatBody, { signal: waiting.signal }));
    while (attempts.length < 3) await new Promise((resolve) => setImmediate(resolve));
    waiting.abort();
    expect((await pending).type).toBe('aborted');
    expect(attempts.at(-1)).toBe('/v1/chat/completions 429');
    expect(attempts.length).toBe(3);
  });

  it('reads rate-limit status and health', async () => {
    expect(await client().health()).toMatchObject({ status: 'ok' });
    expect(await client().rateLimitStatus()).toBeTypeOf('object');
  });
});

describe('keyward/client against a gateway refusing connections beyond one per address', () => {
  let fake: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        server: { maxConnectionsPerAddress: 1 },
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [{ id: 'an', type: 'anthropic', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'an', model: 'claude-haiku-4-5' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw.close();
    await fake.close();
  });

  it('retries a POST refused with 503 too_many_connections (nothing ran), after its Retry-After, but never a login', async () => {
    // Another connection from this address holds the one allowed.
    const held = await rawConnection(kw.dataUrl);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { attempts, fetcher } = countingFetch();
    const login = await caught(
      new KeywardClient({ baseUrl: kw.dataUrl, fetch: fetcher }).sessions.login('code'),
    );
    expect(login).toMatchObject({ status: 503, code: 'too_many_connections' });
    expect(attempts).toEqual(['/auth/session 503']);

    attempts.length = 0;
    fake.script(answer('served once the connection was free'));
    const waits: number[] = [];
    const sdk = new KeywardClient({
      baseUrl: kw.dataUrl,
      apiKey: CLIENT_KEY,
      fetch: fetcher,
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length < 2) return;
        held.socket.destroy();
        await held.closed;
        await new Promise((resolve) => setTimeout(resolve, 200));
      },
    });
    // The refusal carries Retry-After: 1, which the client waits for exactly.
    const reply = await sdk.chat.completions.create(chatBody);
    expect(reply.choices[0]!.message.content).toBe('served once the connection was free');
    expect(attempts).toEqual([
      '/v1/chat/completions 503',
      '/v1/chat/completions 503',
      '/v1/chat/completions 200',
    ]);
    expect(fake.requests).toHaveLength(1);
    expect(waits).toEqual([1000, 1000]);
  });
});

describe('the package', () => {
  it('exports the client as keyward/client (ESM with types) and keeps the main entry', () => {
    const probe = `
      const client = await import('keyward/client');
      const main = await import('keyward');
      console.log(JSON.stringify({ client: Object.keys(client).sort(), main: typeof main.createGateway }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ client: ['KeywardClient', 'KeywardError'], main: 'function' });
    const root = join(import.meta.dirname, '../..');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(readFileSync(join(root, pkg.exports['./client'].types), 'utf8')).toContain(
      'export { KeywardClient }',
    );
  });
});

describe('Retry-After and backoff', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:07 GMT', now)).toBe(7);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  it('doubles the jitter window per attempt up to the cap', () => {
    const top = () => 1 - 1e-9;
    expect([0, 1, 2, 3, 4].map((n) => backoffMs(n, null, top, 100, 1000))).toEqual([99, 199, 399, 799, 999]);
    expect(backoffMs(5, 2, top, 100, 1000)).toBe(2000);
  });
});

describe('keyward/client when an earlier attempt may have run', () => {
  let first: FakeProvider;
  let second: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    first = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    second = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    const provider = (id: string, fake: FakeProvider) => ({
      id,
      type: 'anthropic' as const,
      baseUrl: fake.baseUrl,
      keys: { env: 'P_KEY' },
      retries: { maxAttempts: 1 },
    });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [provider('first', first), provider('second', second)],
        models: [
          {
            name: 'chain',
            provider: 'first',
            model: 'claude-haiku-4-5',
            fallbacks: [{ provider: 'second', model: 'claude-haiku-4-5' }],
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await first?.close();
    await second?.close();
  });

  it('never sends a POST again when the answer says an attempt reached a provider unanswered, even on a 429', async () => {
    // The first target takes the request and drops the connection (it may have run it); the
    // fallback is rate limited. The 429 alone would be worth another try; the attempt before it is not.
    first.script(answer('', { kind: 'reset' }));
    second.script(answer('', { kind: 'status', status: 429, retryAfterSeconds: 1 }));
    const { attempts, fetcher } = countingFetch();
    const { sleep } = recordingSleep();
    const sdk = new KeywardClient({
      baseUrl: kw.dataUrl,
      apiKey: CLIENT_KEY,
      fetch: fetcher,
      sleep,
      maxRetries: 2,
    });
    const error = await caught(sdk.chat.completions.create({ ...chatBody, model: 'chain' }));
    expect(error.status).toBe(429);
    expect(attempts).toEqual(['/v1/chat/completions 429']);
    expect(first.requests).toHaveLength(1);
    expect(second.requests).toHaveLength(1);
    // A 429 with no attempt before it carries no such count (the key cooling since is the refusal).
    const direct = await fetch(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...chatBody, model: 'second/claude-haiku-4-5' }),
    });
    expect(direct.status).toBe(429);
    expect(direct.headers.get('x-keyward-unanswered-attempts')).toBeNull();
    await direct.arrayBuffer();
  });
});
