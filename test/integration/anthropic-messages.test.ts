import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import {
  type FakeProvider,
  type RecordedRequest,
  startFakeProvider,
} from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * The Anthropic Messages surface as current Claude Code and the official SDK use it, against fake
 * Anthropic and OpenAI providers: what reaches the provider, and what the client gets back.
 */

type ApiError = InstanceType<typeof Anthropic.APIError>;

/** The error a call is refused with; a call that succeeds fails the test. */
const refusedWith = (call: Promise<unknown>): Promise<ApiError> =>
  call.then(
    () => {
      throw new Error('the call was not refused');
    },
    (error: unknown) => error as ApiError,
  );

const keyed = { keys: { env: 'P_KEY' }, retries: { maxAttempts: 1 } };

async function gatewayFor(
  providers: { anthropic?: FakeProvider; openai?: FakeProvider },
  extra: Partial<ConfigInput> = {},
  allowedBetas?: string[],
): Promise<TestGateway> {
  return startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        ...(providers.anthropic
          ? [
              {
                id: 'an',
                type: 'anthropic' as const,
                baseUrl: providers.anthropic.baseUrl,
                ...keyed,
                ...(allowedBetas && { allowedBetas }),
              },
            ]
          : []),
        ...(providers.openai
          ? [{ id: 'oa', type: 'openai' as const, baseUrl: providers.openai.baseUrl, ...keyed }]
          : []),
      ],
      ...extra,
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
}

// A timeout of its own keeps the SDK from refusing a large max_tokens without streaming.
const sdk = (kw: TestGateway) =>
  new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 30_000 });
const last = (provider: FakeProvider): RecordedRequest => provider.requests.at(-1)!;
const betasSent = (provider: FakeProvider) => last(provider).headers['anthropic-beta'];

/** The flags Claude Code 2.1.197 sends on a main-loop request to a first-party model. */
const CLAUDE_CODE_BETAS = [
  'claude-code-20250219',
  'context-1m-2025-08-07',
  'interleaved-thinking-2025-05-14',
  'redact-thinking-2026-02-12',
  'thinking-token-count-2026-05-13',
  'context-management-2025-06-27',
  'prompt-caching-scope-2026-01-05',
  'mid-conversation-system-2026-04-07',
  'advisor-tool-2026-03-01',
  'advanced-tool-use-2025-11-20',
  'effort-2025-11-24',
  'extended-cache-ttl-2025-04-11',
  'cache-diagnosis-2026-04-07',
];

/** The cache hint Claude Code puts on its static system prompt (the SDK does not type `scope` yet). */
const GLOBAL_CACHE = {
  type: 'ephemeral',
  ttl: '1h',
  scope: 'global',
} as Anthropic.Beta.BetaCacheControlEphemeral;

/** A request shaped like current Claude Code's. */
function claudeCodeRequest(model: string): Anthropic.Beta.MessageCreateParamsNonStreaming {
  return {
    model,
    max_tokens: 32_000,
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=cli' },
      {
        type: 'text',
        text: "You are Claude Code, Anthropic's official CLI for Claude.",
        cache_control: GLOBAL_CACHE,
      },
      {
        type: 'text',
        text: 'Working directory: /home/dev/app',
        cache_control: { type: 'ephemeral', ttl: '1h' },
      },
    ],
    messages: [
      { role: 'user', content: 'Fix the failing test' },
      {
        role: 'system',
        content: 'The user opened src/math.ts in the IDE.',
      } as unknown as Anthropic.Beta.BetaMessageParam,
      {
        role: 'user',
        content: [{ type: 'text', text: 'go', cache_control: { type: 'ephemeral', ttl: '1h' } }],
      },
    ],
    tools: [
      {
        name: 'Read',
        description: 'Reads a file',
        input_schema: { type: 'object', properties: { file_path: { type: 'string' } } },
        cache_control: GLOBAL_CACHE,
      },
      {
        name: 'mcp__github__search',
        input_schema: { type: 'object', properties: {} },
        defer_loading: true,
        input_examples: [{ query: 'is:open' }],
      },
      { type: 'tool_search_tool_regex_20251119', name: 'tool_search_tool_regex' },
    ],
    thinking: { type: 'adaptive' },
    output_config: { effort: 'high' },
    context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
    diagnostics: { previous_message_id: null },
    metadata: { user_id: '{"device_id":"d","account_uuid":"","session_id":"3f2c1d4e"}' },
  };
}

describe('current Claude Code requests', () => {
  let anthropic: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic, openai });
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
    await openai?.close();
  });

  it('reach Anthropic as sent, cache scope included, with the betas their fields need', async () => {
    const request = claudeCodeRequest('an/claude-opus-4-8');
    const message = await sdk(kw).beta.messages.create({ ...request, betas: CLAUDE_CODE_BETAS });
    expect(message.content).toEqual([{ type: 'text', text: 'Hello from the fake provider.' }]);
    expect(last(anthropic).body).toEqual({ ...request, model: 'claude-opus-4-8' });
    // Left out: the advisor (its sub-requests are not charged) and two flags nobody vetted yet.
    expect(betasSent(anthropic)).toBe(
      CLAUDE_CODE_BETAS.filter(
        (flag) =>
          ![
            'redact-thinking-2026-02-12',
            'thinking-token-count-2026-05-13',
            'advisor-tool-2026-03-01',
          ].includes(flag),
      ).join(','),
    );
  });

  it("carry the gateway's request id where the SDK reads it (`request-id`), on answers, streams and errors", async () => {
    const client = sdk(kw);
    const request = claudeCodeRequest('an/claude-opus-4-8');
    const { response, request_id } = await client.beta.messages
      .create({ ...request, betas: CLAUDE_CODE_BETAS })
      .withResponse();
    expect(request_id).toBe(response.headers.get('x-request-id'));
    expect(request_id).toMatch(/^[0-9a-f-]{36}$/);
    const stream = client.messages.stream({
      model: 'an/claude-opus-4-8',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hi' }],
    });
    await stream.finalMessage();
    expect(stream.request_id).toMatch(/^[0-9a-f-]{36}$/);
    const refused = await client.messages
      .create({ model: 'no-such-model', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
      .catch((error: unknown) => error as InstanceType<typeof Anthropic.APIError>);
    expect(refused).toBeInstanceOf(Anthropic.APIError);
    expect((refused as InstanceType<typeof Anthropic.APIError>).requestID).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reach an OpenAI model with the cache hints left out', async () => {
    const request = claudeCodeRequest('oa/gpt-5');
    request.tools = request.tools!.slice(0, 2);
    await sdk(kw).beta.messages.create({ ...request, betas: CLAUDE_CODE_BETAS });
    const sent = last(openai).body as { messages: Array<Record<string, unknown>> };
    expect(JSON.stringify(sent)).not.toContain('cache_control');
    expect(sent.messages[0]).toEqual({
      role: 'system',
      content: (request.system as Anthropic.Beta.BetaTextBlockParam[]).map(({ text }) => ({
        type: 'text',
        text,
      })),
    });
  });

  it('pass structured outputs and fast mode on with their current flags', async () => {
    await sdk(kw).beta.messages.create({
      model: 'an/claude-opus-4-6',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
      speed: 'fast',
      output_config: {
        format: {
          type: 'json_schema',
          schema: { type: 'object', properties: {}, additionalProperties: false },
        },
      },
      betas: ['structured-outputs-2025-12-15', 'fast-mode-2026-02-01'],
    });
    expect(betasSent(anthropic)).toBe('structured-outputs-2025-12-15,fast-mode-2026-02-01');
  });
});

/** A request with Anthropic's advisor tool, which has Opus advise the Sonnet that answers. */
const advisor = {
  model: 'an/claude-sonnet-4-6',
  max_tokens: 100,
  messages: [{ role: 'user' as const, content: 'hi' }],
  tools: [{ type: 'advisor_20260301' as const, name: 'advisor' as const, model: 'claude-opus-4-6' }],
};

describe('a field whose beta flag the gateway leaves out', () => {
  let anthropic: FakeProvider | undefined;
  let kw: TestGateway | undefined;
  afterEach(async () => {
    await kw?.close();
    await anthropic?.close();
    kw = anthropic = undefined;
  });

  it('is refused naming the field and the flag, before Anthropic is asked', async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic });
    const refused = await refusedWith(
      sdk(kw).beta.messages.create({ ...advisor, betas: ['advisor-tool-2026-03-01'] }),
    );
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect(refused.error).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          "'tools[0]' uses the advisor tool, which provider 'an' does not allow; leave the field out, or ask the operator to add 'advisor' to the provider's allowedFeatures",
      },
    });
    const compaction = await refusedWith(
      sdk(kw).beta.messages.create({
        model: 'an/claude-opus-4-6',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'hi' }],
        context_management: { edits: [{ type: 'compact_20260112' }] },
        betas: ['compact-2026-01-12'],
      }),
    );
    expect(compaction.message).toContain(
      "'context_management.edits[0]' uses compaction, which provider 'an' does not allow",
    );
    expect(anthropic.requests).toHaveLength(0);
  });

  it('is only a flag the gateway knows: one named like an Object member is dropped, not looked up', async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic });
    for (const flag of ['constructor', 'hasOwnProperty', 'toString']) {
      await sdk(kw).beta.messages.create({
        model: 'an/claude-sonnet-4-6',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'hi' }],
        betas: [flag],
      });
      expect(betasSent(anthropic)).toBeUndefined();
    }
  });

  it('goes with the flag the operator allowed, and as it came when the client named no flag', async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic }, {}, ['advisor-tool-2026-03-01']);
    await sdk(kw).beta.messages.create({ ...advisor, betas: ['advisor-tool-2026-03-01'] });
    expect(betasSent(anthropic)).toBe('advisor-tool-2026-03-01');
    await sdk(kw).beta.messages.create(advisor);
    expect(last(anthropic).body).toMatchObject({ tools: advisor.tools });
    expect(betasSent(anthropic)).toBeUndefined();
  });
});

describe("the advisor tool's model", () => {
  let anthropic: FakeProvider | undefined;
  let kw: TestGateway | undefined;
  afterEach(async () => {
    await kw?.close();
    await anthropic?.close();
    kw = anthropic = undefined;
  });

  it('must be one the token may use, like the model it asks for', async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic }, {}, ['advisor-tool-2026-03-01']);
    const mint = async (models: string[]) =>
      new Anthropic({
        baseURL: kw!.dataUrl,
        apiKey: (await adminCall(kw!.adminUrl, 'POST', '/admin/tokens', { name: models.join(' '), models }))
          .json.token,
        maxRetries: 0,
      });
    const sonnetOnly = await mint(['an/claude-sonnet-4-6']);
    const refused = await refusedWith(
      sonnetOnly.beta.messages.create({ ...advisor, betas: ['advisor-tool-2026-03-01'] }),
    );
    expect(refused).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect(refused.error).toEqual({
      type: 'error',
      error: {
        type: 'permission_error',
        message: "This token may not use the model 'claude-opus-4-6' that the advisor tool tools[0] names",
      },
    });
    expect(anthropic.requests).toHaveLength(0);

    const withOpus = await mint(['an/claude-sonnet-4-6', 'an/claude-opus-4-6']);
    await withOpus.beta.messages.create({ ...advisor, betas: ['advisor-tool-2026-03-01'] });
    expect(last(anthropic).body).toMatchObject({ tools: advisor.tools });
  });
});

describe('context-length refusals', () => {
  let anthropic: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic, openai });
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
    await openai?.close();
  });

  const refusal = (message: string, code?: string): Script => ({
    blocks: [],
    stop: 'end',
    usage: { input: 0, output: 0 },
    fault: { kind: 'status', status: 400, message, ...(code && { code }) },
  });
  const ask = () =>
    refusedWith(
      sdk(kw).messages.create({
        model: 'an/claude-sonnet-4-5',
        max_tokens: 20_000,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    );

  it("reach Claude Code in Anthropic's words, written again from their numbers", async () => {
    anthropic.script(refusal('prompt is too long: 210000 tokens > 200000 maximum'));
    const tooLong = await ask();
    expect(tooLong).toBeInstanceOf(Anthropic.BadRequestError);
    expect(tooLong.error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' },
    });

    const overLimit =
      'input length and `max_tokens` exceed context limit: 188059 + 20000 > 200000, decrease input length or `max_tokens` and try again';
    anthropic.script(refusal(overLimit));
    const over = await ask();
    expect(over.status).toBe(400);
    expect(over.error).toMatchObject({ error: { message: overLimit } });
    // What Claude Code parses to lower max_tokens and retry.
    expect(over.message).toMatch(
      /input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+)/,
    );
  });

  it("reach Claude Code in Anthropic's words from an OpenAI-format provider too", async () => {
    const viaOpenAI = (model: string) =>
      refusedWith(
        sdk(kw).messages.create({ model, max_tokens: 20_000, messages: [{ role: 'user', content: 'hi' }] }),
      );
    openai.script(
      refusal(
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens. Please reduce the length of the messages.",
        'context_length_exceeded',
      ),
    );
    expect((await viaOpenAI('oa/gpt-4o')).error).toMatchObject({
      error: { message: 'prompt is too long: 130532 tokens > 128000 maximum' },
    });
    openai.script(
      refusal(
        "This model's maximum context length is 128000 tokens. However, you requested 140000 tokens (120000 in the messages, 20000 in the completion). Please reduce the length of the messages or completion.",
        'context_length_exceeded',
      ),
    );
    expect((await viaOpenAI('oa/gpt-4o')).message).toContain(
      'input length and `max_tokens` exceed context limit: 120000 + 20000 > 128000',
    );
  });

  it('stay hidden when anything but the numbers differs', async () => {
    anthropic.script(refusal('prompt is too long: 210000 tokens > 200000 maximum (org acme-internal)'));
    const other = await ask();
    expect(other.error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'The provider rejected the request (HTTP 400)' },
    });
  });

  it("reach an OpenAI client in OpenAI's words, with its code", async () => {
    const words =
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens. Please reduce the length of the messages.";
    openai.script(refusal(words, 'context_length_exceeded'));
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const refused = await refusedWith(
      client.chat.completions.create({ model: 'oa/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({ status: 400, code: 'context_length_exceeded' });
    expect(refused.message).toBe(`400 ${words}`);
  });
});

describe('a thinking budget under a clamped max_tokens', () => {
  let anthropic: FakeProvider | undefined;
  let kw: TestGateway | undefined;
  afterEach(async () => {
    await kw?.close();
    await anthropic?.close();
    kw = anthropic = undefined;
  });
  const thinkingRequest = {
    model: 'an/claude-sonnet-4-5',
    max_tokens: 32_000,
    thinking: { type: 'enabled' as const, budget_tokens: 31_999 },
    messages: [{ role: 'user' as const, content: 'hi' }],
  };

  it('is lowered below it, and the header says so', async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic }, { ceilings: { maxTokens: 8192, onExceed: 'clamp' } });
    const { response } = await sdk(kw).messages.create(thinkingRequest).withResponse();
    expect(last(anthropic).body).toMatchObject({
      max_tokens: 8192,
      thinking: { type: 'enabled', budget_tokens: 8191 },
    });
    expect(response.headers.get('x-keyward-clamped')).toBe('max_tokens=8192, thinking.budget_tokens=8191');
  });

  it('is refused when no budget Anthropic takes fits', async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic }, { ceilings: { maxTokens: 1024, onExceed: 'clamp' } });
    const refused = await refusedWith(sdk(kw).messages.create(thinkingRequest));
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect(refused.error).toMatchObject({
      error: {
        message:
          "max_tokens 32000 is above the gateway's ceiling of 1024, which leaves no room for thinking (thinking.budget_tokens must be at least 1024 and below max_tokens); ask for at most 1024 without thinking",
      },
    });
    expect(anthropic.requests).toHaveLength(0);
  });
});

describe('an error event in the middle of an Anthropic stream', () => {
  let anthropic: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic });
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
  });

  /**
   * The error follows 150 kB of text, more than one read of the provider's answer: the client has
   * its first events before the gateway sees the error (an error before them is an error answer).
   */
  const failingAfterText = (status: number): Script => ({
    blocks: [{ type: 'text', text: 'x'.repeat(150_000) }],
    chunkSize: 150_000,
    stop: 'end',
    usage: { input: 8, output: 5 },
    fault: { kind: 'error_event', afterEvents: 4, status },
  });
  async function streamError(): Promise<{ text: string; error: ApiError }> {
    let text = '';
    const stream = sdk(kw).messages.stream({
      model: 'an/claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    stream.on('text', (delta) => {
      text += delta;
    });
    const error = await refusedWith(stream.finalMessage());
    return { text, error };
  }

  it('keeps its type, which Claude Code retries by, and the gateway words it', async () => {
    anthropic.script(failingAfterText(529));
    const overloaded = await streamError();
    expect(overloaded.text).toHaveLength(150_000);
    expect(overloaded.error.error).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'The provider reported an error mid-stream' },
    });
  });

  it("becomes api_error when it is about the gateway's own account", async () => {
    anthropic.script(failingAfterText(401));
    const unauthorised = await streamError();
    expect(unauthorised.text).toHaveLength(150_000);
    expect(unauthorised.error.error).toMatchObject({ error: { type: 'api_error' } });
  });
});

describe('thinking without a signature, sent back to an Anthropic model', () => {
  let anthropic: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor({ anthropic });
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
  });

  it('is left out, and the rest of the body goes as it came', async () => {
    const signed = { type: 'thinking' as const, thinking: 'Claude thought.', signature: 'EqQBCkYIBxgC' };
    const unsigned = { type: 'thinking' as const, thinking: 'Another model thought.', signature: '' };
    const request: Anthropic.MessageCreateParamsNonStreaming = {
      model: 'an/claude-sonnet-4-5',
      max_tokens: 2000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [unsigned, { type: 'text', text: 'Hello' }] },
        { role: 'user', content: 'and?' },
        { role: 'assistant', content: [unsigned] },
        { role: 'user', content: 'more' },
        { role: 'assistant', content: [signed, { type: 'text', text: 'More.' }] },
        { role: 'user', content: [{ type: 'text', text: 'go on', cache_control: { type: 'ephemeral' } }] },
      ],
    };
    await sdk(kw).messages.create(request);
    const messages = request.messages;
    expect(last(anthropic).body).toEqual({
      ...request,
      model: 'claude-sonnet-4-5',
      messages: [
        messages[0],
        { role: 'assistant', content: [{ type: 'text', text: 'Hello' }] },
        messages[2],
        messages[4],
        messages[5],
        messages[6],
      ],
    });

    await sdk(kw).messages.countTokens({ model: 'an/claude-sonnet-4-5', messages: messages.slice(0, 3) });
    expect((last(anthropic).body as { messages: unknown[] }).messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello' }],
    });
  });
});

describe("the model list, as Anthropic's SDK reads it", () => {
  let anthropic: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await gatewayFor(
      { anthropic, openai },
      {
        models: [
          { name: 'sonnet', provider: 'an', model: 'claude-sonnet-4-5' },
          { name: 'mini', provider: 'oa', model: 'gpt-4o-mini' },
          { name: 'haiku', provider: 'an', model: 'claude-haiku-4-5' },
        ],
      },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
    await openai?.close();
  });

  it('lists and retrieves in Anthropic shape, paging by limit and after_id', async () => {
    const client = sdk(kw);
    const all: Anthropic.ModelInfo[] = [];
    for await (const model of client.models.list({ limit: 2 })) all.push(model);
    expect(all.slice(0, 3).map((model) => model.id)).toEqual(['sonnet', 'mini', 'haiku']);
    for (const model of all) {
      expect(model).toEqual({
        type: 'model',
        id: model.id,
        display_name: model.id,
        created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      });
    }
    const page = await client.models.list({ limit: 2 });
    expect(page.data.map((model) => model.id)).toEqual(['sonnet', 'mini']);
    expect(page).toMatchObject({ has_more: true, first_id: 'sonnet', last_id: 'mini' });
    const before = await client.models.list({ before_id: 'haiku', limit: 1 });
    expect(before.data.map((model) => model.id)).toEqual(['mini']);
    expect(before.has_more).toBe(true);
    expect(await client.models.retrieve('haiku')).toMatchObject({ type: 'model', id: 'haiku' });

    const missing = await client.models
      .retrieve('no-such-model')
      .catch((error: unknown) => error as InstanceType<typeof Anthropic.APIError>);
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
    expect((missing as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type: 'not_found_error' },
    });
  });

  it("stays OpenAI's list for a client that sends no anthropic-version", async () => {
    const res = await fetch(`${kw.dataUrl}/v1/models`, {
      headers: { authorization: `Bearer ${CLIENT_KEY}` },
    });
    expect(await res.json()).toMatchObject({
      object: 'list',
      data: expect.arrayContaining([expect.objectContaining({ id: 'sonnet', object: 'model' })]),
    });
  });
});
