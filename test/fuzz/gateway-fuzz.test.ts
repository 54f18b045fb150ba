import fc from 'fast-check';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagesRequestSchema } from '../../src/surfaces/anthropic/schema.js';
import { chatCompletionRequestSchema } from '../../src/surfaces/openai/chat-schema.js';
import { embeddingsRequestSchema } from '../../src/surfaces/openai/embeddings-schema.js';
import type { Script } from '../support/fake-providers/script.js';
import { textOf, toolCallsOf } from '../support/fake-providers/script.js';
import type { FakeFormat, FakeProvider } from '../support/fake-providers/server.js';
import { startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Property-based fuzzing through the real HTTP gateway: arbitrary JSON, and valid requests with
 * fields replaced by arbitrary values, on every surface and towards every provider format. The
 * gateway must answer each with a success or a client error in the surface's envelope: never a
 * 500, never a crash, never a hang (undici's timeouts would fail the run). Runs are bounded so the
 * file takes seconds; `FUZZ_RUNS` raises them for a longer hunt.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const FORMATS: FakeFormat[] = ['openai', 'anthropic', 'gemini', 'ollama'];
const MODELS = FORMATS.map((format) => `m-${format}`);

let kw: TestGateway;
const fakes: FakeProvider[] = [];
const dispatcher = new Agent({ headersTimeout: 15_000, bodyTimeout: 15_000 });

beforeAll(async () => {
  for (const format of FORMATS) fakes.push(await startFakeProvider(format, { keys: [PROVIDER_KEY] }));
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      logging: { level: 'silent' },
      providers: FORMATS.map((format, i) => ({
        id: format,
        type: format,
        baseUrl: fakes[i]!.baseUrl,
        keys: { env: 'FAKE_PROVIDER_KEY' },
        retries: { maxAttempts: 1 },
      })),
      models: FORMATS.map((format) => ({ name: `m-${format}`, provider: format, model: `${format}-model` })),
    },
    { KEYWARD_API_KEY: CLIENT_KEY, FAKE_PROVIDER_KEY: PROVIDER_KEY },
  );
});
afterAll(async () => {
  await kw?.close();
  await Promise.all(fakes.map((f) => f.close()));
  await dispatcher.close();
});

const ROUTES = ['/v1/chat/completions', '/v1/embeddings', '/v1/messages', '/v1/messages/count_tokens'];

async function post(path: string, body: string) {
  const res = await request(`${kw.dataUrl}${path}`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body,
  });
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
}

/** A success, or an error in the envelope of the surface that was called. */
function expectWellFormed(path: string, answer: Awaited<ReturnType<typeof post>>, sent: string) {
  const context = `${path} ${sent.slice(0, 2_000)} → ${answer.status} ${answer.text.slice(0, 500)}`;
  expect(answer.status, context).not.toBe(500);
  expect(answer.status, context).toBeLessThan(600);
  if (answer.type.startsWith('text/event-stream')) return;
  const json = JSON.parse(answer.text);
  if (answer.status < 400) return;
  const error = path.startsWith('/v1/messages') ? json.error : json.error;
  expect(typeof error?.message, context).toBe('string');
  expect(typeof error?.type, context).toBe('string');
  if (path.startsWith('/v1/messages')) expect(json.type, context).toBe('error');
}

/** Values of every shape a field might be sent with, plausible and not. */
const anyValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 300_000 }),
  fc.double({ min: -3, max: 3, noNaN: true }),
  fc.string({ maxLength: 24 }),
  fc.constantFrom(
    'auto',
    'none',
    'required',
    'text',
    'json_object',
    'json_schema',
    'low',
    'high',
    'function',
  ),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const part = fc.record(
  {
    type: fc.constantFrom(
      'text',
      'image_url',
      'image',
      'input_audio',
      'file',
      'document',
      'refusal',
      'thinking',
      'tool_use',
      'tool_result',
    ),
    text: fc.string({ maxLength: 40 }),
    image_url: fc.oneof(
      fc.record({ url: fc.constantFrom('https://example.com/a.png', 'data:image/png;base64,iVBORw0KGgo=') }),
      anyValue,
    ),
    source: fc.oneof(
      fc.record({
        type: fc.constantFrom('base64', 'url'),
        media_type: fc.constantFrom('image/png', 'application/pdf'),
        data: fc.base64String({ maxLength: 16 }),
        url: fc.webUrl(),
      }),
      anyValue,
    ),
    id: fc.string({ maxLength: 12 }),
    name: fc.string({ maxLength: 12 }),
    input: fc.jsonValue({ maxDepth: 2 }),
    tool_use_id: fc.string({ maxLength: 12 }),
    content: anyValue,
  },
  { requiredKeys: ['type'] },
);

const message = fc.record(
  {
    role: fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool', 'function', 'model'),
    content: fc.oneof(fc.string({ maxLength: 60 }), fc.array(part, { maxLength: 4 }), anyValue),
    tool_calls: fc.array(
      fc.record({
        id: fc.string({ maxLength: 12 }),
        type: fc.constant('function'),
        function: fc.record({
          name: fc.string({ maxLength: 12 }),
          arguments: fc.oneof(fc.json({ maxDepth: 2 }), fc.string({ maxLength: 20 })),
        }),
      }),
      { maxLength: 2 },
    ),
    tool_call_id: fc.string({ maxLength: 12 }),
    name: fc.string({ maxLength: 12 }),
  },
  { requiredKeys: ['role', 'content'] },
);

/** A valid body for `path`, with up to four of its schema's fields set to arbitrary values. */
function mutatedBody(path: string) {
  const base: Record<string, unknown> =
    path === '/v1/embeddings'
      ? { input: 'hello' }
      : path === '/v1/chat/completions'
        ? { messages: [{ role: 'user', content: 'Hello' }] }
        : { max_tokens: 64, messages: [{ role: 'user', content: 'Hello' }] };
  const shape =
    path === '/v1/embeddings'
      ? embeddingsRequestSchema.shape
      : path === '/v1/chat/completions'
        ? chatCompletionRequestSchema.shape
        : messagesRequestSchema.shape;
  const fields = Object.keys(shape).filter((f) => f !== 'model');
  return fc
    .record({
      model: fc.constantFrom(...MODELS),
      overrides: fc.dictionary(fc.constantFrom(...fields), anyValue, { maxKeys: 4 }),
      messages: fc.option(fc.array(message, { minLength: 1, maxLength: 4 }), { nil: undefined }),
    })
    .map(({ model, overrides, messages }) => ({
      ...base,
      model,
      ...(messages && path !== '/v1/embeddings' && { messages }),
      ...overrides,
    }));
}

describe('fuzzing through the gateway', () => {
  it('answers arbitrary JSON on every route with a client error, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.jsonValue({ maxDepth: 6 }), async (path, value) => {
        const body = JSON.stringify(value) ?? 'null';
        expectWellFormed(path, await post(path, body), body);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('answers valid requests with arbitrary field values, towards every provider format, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES).chain((path) => fc.tuple(fc.constant(path), mutatedBody(path))),
        async ([path, value]) => {
          const body = JSON.stringify(value);
          expectWellFormed(path, await post(path, body), body);
        },
      ),
      { numRuns: RUNS * 3 },
    );
  });
});

/** Whatever a model might say: text, reasoning, tool calls with arbitrary JSON arguments. */
const scriptArb: fc.Arbitrary<Script> = fc.record({
  blocks: fc.array(
    fc.oneof(
      fc.record({
        type: fc.constant('text' as const),
        text: fc.string({ minLength: 1, maxLength: 60, unit: 'grapheme' }),
      }),
      fc.record({
        type: fc.constant('tool_call' as const),
        id: fc.stringMatching(/^[a-z0-9]{4,12}$/).map((s) => `call_${s}`),
        name: fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,20}$/),
        arguments: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
          maxKeys: 4,
        }),
      }),
    ),
    { minLength: 1, maxLength: 4 },
  ),
  stop: fc.constantFrom('end' as const, 'max_tokens' as const),
  usage: fc.record({ input: fc.nat(10_000), output: fc.nat(10_000) }),
  chunkSize: fc.integer({ min: 1, max: 16 }),
});

/** What an OpenAI Chat Completions client assembles from an answer, streamed or not. */
function assembleOpenAI(text: string, stream: boolean) {
  if (!stream) {
    const message = JSON.parse(text).choices[0].message;
    return {
      text: message.content ?? '',
      calls: (message.tool_calls ?? []).map((c: { function: { name: string; arguments: string } }) => ({
        name: c.function.name,
        args: JSON.parse(c.function.arguments),
      })),
    };
  }
  let content = '';
  const calls: Array<{ name: string; args: string }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice(6));
    const delta = chunk.choices?.[0]?.delta ?? {};
    content += delta.content ?? '';
    for (const call of delta.tool_calls ?? []) {
      calls[call.index] ??= { name: '', args: '' };
      calls[call.index]!.name += call.function?.name ?? '';
      calls[call.index]!.args += call.function?.arguments ?? '';
    }
  }
  return { text: content, calls: calls.map((c) => ({ name: c.name, args: JSON.parse(c.args) })) };
}

/** What an Anthropic Messages client assembles from an answer, streamed or not. */
function assembleAnthropic(text: string, stream: boolean) {
  if (!stream) {
    const content = JSON.parse(text).content as Array<Record<string, unknown>>;
    return {
      text: content.flatMap((b) => (b.type === 'text' ? [b.text as string] : [])).join(''),
      calls: content.flatMap((b) => (b.type === 'tool_use' ? [{ name: b.name, args: b.input }] : [])),
    };
  }
  let content = '';
  const calls: Array<{ name: string; args: string }> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const event = JSON.parse(line.slice(6));
    if (event.type === 'content_block_start' && event.content_block.type === 'tool_use') {
      calls[event.index] = { name: event.content_block.name, args: '' };
    }
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
      content += event.delta.text;
    if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') {
      calls[event.index]!.args += event.delta.partial_json;
    }
  }
  return {
    text: content,
    calls: calls.filter(Boolean).map((c) => ({ name: c.name, args: JSON.parse(c.args || '{}') })),
  };
}

describe('translation keeps what the model said', () => {
  it('delivers the same text and tool calls whatever the surface and provider formats, streamed or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FORMATS.keys()),
        fc.constantFrom('openai', 'anthropic'),
        fc.boolean(),
        scriptArb,
        async (provider, surface, stream, script) => {
          fakes[provider]!.script(script);
          const model = MODELS[provider]!;
          const messages = [{ role: 'user', content: 'Hello' }];
          const path = surface === 'openai' ? '/v1/chat/completions' : '/v1/messages';
          const body = JSON.stringify({ model, messages, max_tokens: 1024, ...(stream && { stream: true }) });
          const answer = await post(path, body);
          const context = `${FORMATS[provider]} → ${surface} ${stream} ${JSON.stringify(script)} → ${answer.text.slice(0, 800)}`;
          expect(answer.status, context).toBe(200);
          const got =
            surface === 'openai'
              ? assembleOpenAI(answer.text, stream)
              : assembleAnthropic(answer.text, stream);
          expect(got.text, context).toBe(textOf(script));
          expect(
            got.calls,
            context,
            // Through JSON, as the arguments travel: JSON has no -0.
          ).toEqual(
            toolCallsOf(script).map((c) => ({ name: c.name, args: JSON.parse(JSON.stringify(c.arguments)) })),
          );
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });
});
