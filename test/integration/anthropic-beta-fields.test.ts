import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Beta-only body fields on the same-format path (the official SDK's `client.beta.messages` to a
 * fake Anthropic provider): a field goes to Anthropic with the flag the client asked for, or is
 * refused naming the field and the flag, never sent without it. Gated families are matched by
 * family, so a newer version of a flag is no way around the gate.
 */

type Extra = Record<string, unknown>;

async function gateway(anthropic: FakeProvider, allowedBetas?: string[]): Promise<TestGateway> {
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

/** Fields whose flags widen what Anthropic does for the client, or whose account: the operator's call. */
const GATED: Array<[string, string, Extra]> = [
  ['mcp_servers', 'mcp-client-2026-09-15', MCP_SERVERS],
  ['mcp_servers', 'mcp-client-2027-01-01', MCP_SERVERS],
  ['thread', 'message-threads-2026-08-12', { thread: { type: 'create' } }],
  ['compaction', 'compact-2026-09-04', { compaction: { type: 'summarize' } }],
  [
    'billing_policy',
    'user-profiles-billing-2026-10-01',
    { billing_policy: { type: 'billing_policy', bill_to: 'user_profile' } },
  ],
  [
    'messages[1].content[0]',
    'mcp-client-2026-09-15',
    SYSTEM_MESSAGE({
      content: [
        {
          type: 'tool_addition',
          tool: { type: 'tool_definition', definition: { type: 'mcp_toolset', mcp_server_name: 'docs' } },
        },
      ],
    }),
  ],
];

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
  async function refusal(extra: Extra, betas: string[]): Promise<string> {
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

  for (const [field, flag, extra] of GATED)
    it(`${field} with ${flag}, which the operator did not allow, is refused naming both`, async () => {
      expect(await refusal(extra, [flag])).toContain(
        `'${field}' needs the anthropic-beta flag '${flag}', which the gateway does not pass to provider 'an'; leave the field out, or ask the operator to add the flag to the provider's allowedBetas`,
      );
    });

  it('with a newer flag than the default list names is refused, not sent without its flag', async () => {
    const [, , extra] = DEFAULT_LISTED[0]!;
    expect(await refusal(extra, ['task-budgets-2027-01-01'])).toContain(
      "'output_config.task_budget' needs the anthropic-beta flag 'task-budgets-2027-01-01'",
    );
  });

  it('goes as it came when the client names no flag for it: Anthropic has the last word', async () => {
    for (const extra of [MCP_SERVERS, { thread: { type: 'create' } }]) {
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
});
