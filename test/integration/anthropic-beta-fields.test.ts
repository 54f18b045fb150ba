import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnthropicFeature } from '../../src/config/index.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Beta-only body fields on the same-format path (the official SDK's `client.beta.messages` to a
 * fake Anthropic provider): a field goes to Anthropic with the flag the client asked for, or is
 * refused naming the field and the flag, never sent without it. A gated feature's field is refused
 * unless the operator allowed the feature, whatever flags came with it or did not: a feature that
 * leaves beta needs no flag, and must not leave the operator's gate with it.
 */

type Extra = Record<string, unknown>;

async function gateway(
  anthropic: FakeProvider,
  allowedBetas?: string[],
  allowedFeatures?: AnthropicFeature[],
): Promise<TestGateway> {
  return startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'an',
          type: 'anthropic',
          baseUrl: anthropic.baseUrl,
          keys: { env: 'P_KEY' },
          retries: { maxAttempts: 1 },
          ...(allowedBetas && { allowedBetas }),
          ...(allowedFeatures && { allowedFeatures }),
        },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
  );
}

const MCP_SERVERS = { mcp_servers: [{ type: 'url', name: 'docs', url: 'https://mcp.example.com/sse' }] };
const SYSTEM_MESSAGE = (extra: Extra): Extra => ({
  messages: [
    { role: 'user', content: 'hi' },
    { role: 'system', content: 'Be brief.', ...extra },
    { role: 'user', content: 'go' },
  ],
});

/** Fields whose flags change only how the answer is produced or reported: on the default list. */
const DEFAULT_LISTED: Array<[string, string, Extra]> = [
  [
    'output_config.task_budget',
    'task-budgets-2026-03-13',
    { output_config: { effort: 'high', task_budget: { type: 'tokens', total: 20_000 } } },
  ],
  [
    'tools[0]',
    'computer-use-2025-11-24',
    {
      tools: [
        { type: 'computer_20251124', name: 'computer', display_width_px: 1024, display_height_px: 768 },
      ],
    },
  ],
  [
    'tools[0]',
    'computer-use-2025-01-24',
    {
      tools: [
        { type: 'computer_20250124', name: 'computer', display_width_px: 1024, display_height_px: 768 },
      ],
    },
  ],
  [
    'thinking.display',
    'thinking-display-updates-2026-08-18',
    { thinking: { type: 'adaptive', display: 'updates' } },
  ],
  [
    'thinking.block_binding',
    'thinking-binding-controls-2026-08-01',
    { thinking: { type: 'adaptive', block_binding: { prefix_mismatch_behavior: 'drop_block' } } },
  ],
  [
    'messages[1].clear_at',
    'mid-conversation-system-clear-at-2026-08-21',
    SYSTEM_MESSAGE({ clear_at: 'next_user_message' }),
  ],
  [
    'messages[1].output_config',
    'mid-conversation-output-config-2026-07-01',
    SYSTEM_MESSAGE({ output_config: { effort: 'low' } }),
  ],
  [
    'messages[1].content[1]',
    'mid-conversation-tool-changes-2026-07-01',
    {
      tools: [{ name: 'lookup', input_schema: { type: 'object' } }],
      ...SYSTEM_MESSAGE({
        content: [
          { type: 'text', text: 'You may look things up now.' },
          { type: 'tool_addition', tool: { type: 'tool_reference', tool_name: 'lookup' } },
        ],
      }),
    },
  ],
  ['fallback_credit_token', 'fallback-credit-2026-07-01', { fallback_credit_token: 'fct_abc' }],
];

const THREAD = { thread: { type: 'create' } };
const CODE_EXECUTION = { type: 'code_execution_20260120', name: 'code_execution' };
const BILLING = { billing_policy: { type: 'billing_policy', bill_to: 'user_profile' } };
/** A tool defined inline in the conversation, as a system message's tool addition. */
const INLINE = (definition: Record<string, unknown>) =>
  SYSTEM_MESSAGE({ content: [{ type: 'tool_addition', tool: { type: 'tool_definition', definition } }] });
const INLINE_MCP = INLINE({ type: 'mcp_toolset', mcp_server_name: 'docs' });
/** A file id inside a document whose source is content blocks, as the SDK's types allow. */
const NESTED_FILE = {
  type: 'document',
  source: {
    type: 'content',
    content: [{ type: 'image', source: { type: 'file', file_id: 'file_011CNha8iCJcU1wXNR6q4V8w' } }],
  },
};

/**
 * Fields of features that reach past the request and its answer, or cost what no answer reports:
 * the operator's call, flag or no flag. Each with its path, a flag of its family, the feature and
 * what the refusal calls it.
 */
const GATED: Array<[string, string, Extra, string, string]> = [
  ['mcp_servers', 'mcp-client-2026-09-15', MCP_SERVERS, 'mcp', 'MCP servers'],
  ['mcp_servers', 'mcp-client-2027-01-01', MCP_SERVERS, 'mcp', 'MCP servers'],
  ['thread', 'message-threads-2026-08-12', THREAD, 'threads', 'server-held threads'],
  ['compaction', 'compact-2026-09-04', { compaction: { type: 'summarize' } }, 'compaction', 'compaction'],
  [
    'billing_policy',
    'user-profiles-billing-2026-10-01',
    BILLING,
    'billing-policy',
    'billing another organisation',
  ],
  ['messages[1].content[0]', 'mcp-client-2026-09-15', INLINE_MCP, 'mcp', 'MCP servers'],
  [
    'tools[0]',
    'advisor-tool-2026-03-01',
    { tools: [{ type: 'advisor_20260301', name: 'advisor', model: 'claude-opus-4-6' }] },
    'advisor',
    'the advisor tool',
  ],
  [
    'tools[1]',
    'code-execution-2025-08-25',
    { tools: [{ type: 'web_search_20250305', name: 'web_search' }, CODE_EXECUTION] },
    'code-execution',
    'code execution',
  ],
  [
    'messages[1].content[0]',
    'code-execution-2025-08-25',
    INLINE(CODE_EXECUTION),
    'code-execution',
    'code execution',
  ],
  [
    'messages[1].content[0]',
    'advisor-tool-2026-03-01',
    INLINE({ type: 'advisor_20260301', name: 'advisor', model: 'claude-opus-4-6' }),
    'advisor',
    'the advisor tool',
  ],
  [
    'messages[0].content[0]',
    'files-api-2025-04-14',
    { messages: [{ role: 'user', content: [NESTED_FILE, { type: 'text', text: 'Read it.' }] }] },
    'files',
    'uploaded files',
  ],
  [
    'messages[2].content[0].content[0]',
    'files-api-2025-04-14',
    {
      tools: [{ name: 'get', input_schema: { type: 'object' } }],
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [NESTED_FILE] }] },
      ],
    },
    'files',
    'uploaded files',
  ],
  [
    'container.skills',
    'skills-2025-10-02',
    { container: { skills: [{ type: 'anthropic', skill_id: 'xlsx' }] } },
    'skills',
    'skills',
  ],
  [
    'messages[0].content[1]',
    'files-api-2025-04-14',
    {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Read:' },
            { type: 'document', source: { type: 'file', file_id: 'file_011CNha8iCJcU1wXNR6q4V8w' } },
          ],
        },
      ],
    },
    'files',
    'uploaded files',
  ],
];

const notAllowed = (field: string, feature: string, name: string) =>
  `'${field}' uses ${name}, which provider 'an' does not allow; leave the field out, or ask the operator to add '${feature}' to the provider's allowedFeatures`;

describe('a beta-only field on the way to Anthropic', () => {
  let anthropic: FakeProvider;
  let kw: TestGateway;
  let client: Anthropic;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gateway(anthropic);
    client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: kw.dataUrl, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
  });

  const create = (extra: Extra, betas?: string[]) =>
    client.beta.messages.create({
      model: 'an/claude-opus-4-8',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
      ...extra,
      ...(betas && { betas }),
    } as never);

  /** The refusal a call gets; one that reaches Anthropic fails the test. */
  async function refusal(extra: Extra, betas?: string[]): Promise<string> {
    const before = anthropic.requests.length;
    const error = await create(extra, betas).then(
      () => expect.fail('the call was not refused'),
      (caught: unknown) => caught as InstanceType<typeof Anthropic.APIError>,
    );
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(anthropic.requests).toHaveLength(before);
    return error.message;
  }

  for (const [field, flag, extra] of DEFAULT_LISTED)
    it(`${field} goes with ${flag}`, async () => {
      await create(extra, [flag]);
      const sent = anthropic.requests.at(-1)!;
      expect(sent.headers['anthropic-beta']).toBe(flag);
      expect(sent.body).toMatchObject(extra);
    });

  for (const [field, flag, extra, feature, name] of GATED)
    it(`${field} (${feature}), which the operator did not allow, is refused with ${flag} or no flag at all`, async () => {
      expect(await refusal(extra, [flag])).toContain(notAllowed(field, feature, name));
      expect(await refusal(extra)).toContain(notAllowed(field, feature, name));
    });

  it('web fetch goes as sent: what it costs is the tokens of what it fetched, which usage reports', async () => {
    const extra = { tools: [{ type: 'web_fetch_20260209', name: 'web_fetch', max_uses: 3 }] };
    await create(extra);
    expect(anthropic.requests.at(-1)!.body).toMatchObject(extra);
  });

  it('with a newer flag than the default list names is refused, not sent without its flag', async () => {
    const [, , extra] = DEFAULT_LISTED[0]!;
    expect(await refusal(extra, ['task-budgets-2027-01-01'])).toContain(
      "'output_config.task_budget' needs the anthropic-beta flag 'task-budgets-2027-01-01'",
    );
  });

  it('goes as it came when the client names no flag for it: Anthropic has the last word', async () => {
    for (const [, , extra] of DEFAULT_LISTED) {
      await create(extra);
      const sent = anthropic.requests.at(-1)!;
      expect(sent.headers['anthropic-beta']).toBeUndefined();
      expect(sent.body).toMatchObject(extra);
    }
  });
});

describe('a gated beta-only field the operator allowed', () => {
  let anthropic: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gateway(anthropic, ['mcp-client-2026-09-15', 'message-threads-2026-08-12']);
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
  });

  it('goes with its flag, and a flag of the family the operator did not name still does not', async () => {
    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: kw.dataUrl, maxRetries: 0 });
    const create = (extra: Extra, betas: string[]) =>
      client.beta.messages.create({
        model: 'an/claude-opus-4-8',
        max_tokens: 64,
        messages: [{ role: 'user', content: 'hi' }],
        ...extra,
        betas,
      } as never);
    await create({ ...MCP_SERVERS, thread: { type: 'create' } }, [
      'mcp-client-2026-09-15',
      'message-threads-2026-08-12',
    ]);
    expect(anthropic.requests.at(-1)!.headers['anthropic-beta']).toBe(
      'mcp-client-2026-09-15,message-threads-2026-08-12',
    );
    await expect(create(MCP_SERVERS, ['mcp-client-2025-04-04'])).rejects.toThrow(
      "'mcp_servers' needs the anthropic-beta flag 'mcp-client-2025-04-04'",
    );
    expect(anthropic.requests).toHaveLength(1);
  });

  it('goes with no flag too: a flag of it in allowedBetas allows the feature', async () => {
    const client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: kw.dataUrl, maxRetries: 0 });
    await client.beta.messages.create({
      model: 'an/claude-opus-4-8',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
      ...MCP_SERVERS,
      ...THREAD,
    } as never);
    const sent = anthropic.requests.at(-1)!;
    expect(sent.headers['anthropic-beta']).toBeUndefined();
    expect(sent.body).toMatchObject({ ...MCP_SERVERS, ...THREAD });
  });
});

describe("a gated feature named in the provider's allowedFeatures", () => {
  let anthropic: FakeProvider;
  let kw: TestGateway;
  let client: Anthropic;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gateway(anthropic, undefined, ['mcp', 'threads', 'code-execution']);
    client = new Anthropic({ apiKey: CLIENT_KEY, baseURL: kw.dataUrl, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
  });

  const create = (extra: Extra, betas?: string[]) =>
    client.beta.messages.create({
      model: 'an/claude-opus-4-8',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
      ...extra,
      ...(betas && { betas }),
    } as never);

  it('goes with no flag, as a feature out of beta is asked for', async () => {
    await create({ ...MCP_SERVERS, ...THREAD });
    const sent = anthropic.requests.at(-1)!;
    expect(sent.headers['anthropic-beta']).toBeUndefined();
    expect(sent.body).toMatchObject({ ...MCP_SERVERS, ...THREAD });
  });

  it('code execution goes with no flag, or with its flag on', async () => {
    await create({ tools: [CODE_EXECUTION] });
    expect(anthropic.requests.at(-1)!.body).toMatchObject({ tools: [CODE_EXECUTION] });
    await create({ tools: [CODE_EXECUTION] }, ['code-execution-2025-08-25']);
    expect(anthropic.requests.at(-1)!.headers['anthropic-beta']).toBe('code-execution-2025-08-25');
  });

  it('goes with any flag of its family, a newer one too, which goes on', async () => {
    await create(MCP_SERVERS, ['mcp-client-2025-04-04', 'mcp-client-2027-01-01']);
    expect(anthropic.requests.at(-1)!.headers['anthropic-beta']).toBe(
      'mcp-client-2025-04-04,mcp-client-2027-01-01',
    );
  });

  it('allows no other: billing another organisation is still refused, flag or no flag', async () => {
    const before = anthropic.requests.length;
    for (const betas of [undefined, ['user-profiles-billing-2026-10-01']])
      await expect(create(BILLING, betas)).rejects.toThrow(
        notAllowed('billing_policy', 'billing-policy', 'billing another organisation'),
      );
    expect(anthropic.requests).toHaveLength(before);
  });
});

describe('an Anthropic file id on a translated route', () => {
  let anthropic: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await gateway(anthropic);
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
  });

  it('is held to the same gate: refused where the operator did not allow files', async () => {
    const openai = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${kw.dataUrl}/v1`, maxRetries: 0 });
    const error = await openai.chat.completions
      .create({
        model: 'an/claude-opus-4-8',
        max_tokens: 64,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Read:' },
              { type: 'file', file: { file_id: 'kwf1.anthropic.file_011CNha8iCJcU1wXNR6q4V8w' } },
            ],
          },
        ],
      })
      .then(
        () => expect.fail('the call was not refused'),
        (caught: unknown) => caught as InstanceType<typeof OpenAI.APIError>,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toContain(
      "uses uploaded files, which provider 'an' does not allow; leave the field out, or ask the operator to add 'files' to the provider's allowedFeatures",
    );
    expect(anthropic.requests).toHaveLength(0);
  });
});
