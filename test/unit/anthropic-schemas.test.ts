import { describe, expect, it } from 'vitest';
import { parseCountTokensRequest, parseMessagesRequest } from '../../src/surfaces/anthropic/validate.js';

import { rejection } from '../support/rejection.js';

const user = { role: 'user', content: 'Hello, Claude' };
const body = (extra: Record<string, unknown>) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 1024,
  messages: [user],
  ...extra,
});
const withBlocks = (role: string, content: unknown[]) => body({ messages: [{ role, content }] });

/** Asserts the full error for a body: 400, invalid_request_error, message, param and code. */
function expectError(input: unknown, message: string, param: string | null, code: string): void {
  expect(rejection(() => parseMessagesRequest(input))).toEqual({
    status: 400,
    type: 'invalid_request_error',
    message,
    param,
    code,
  });
}

/** What Claude Code sends on a turn after a tool call, trimmed to a few tools. */
const claudeCodeRequest = {
  model: 'claude-sonnet-4-5-20250929',
  max_tokens: 32000,
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: '<system-reminder>\nThe date is 2026-11-27.\n</system-reminder>' },
        { type: 'text', text: 'The unit tests fail; fix them.', cache_control: { type: 'ephemeral' } },
      ],
    },
    {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'I should run the tests first.', signature: 'EqQBCkYIBxgCKkDsig==' },
        { type: 'text', text: 'Running the tests.' },
        {
          type: 'tool_use',
          id: 'toolu_01A09q90qw90lq917835lq9',
          name: 'Bash',
          input: { command: 'npm test', description: 'Run the unit tests' },
        },
      ],
    },
    {
      role: 'user',
      content: [
        {
          type: 'tool_result',
          tool_use_id: 'toolu_01A09q90qw90lq917835lq9',
          content: 'FAIL test/a.test.ts\n1 failing',
          is_error: false,
          cache_control: { type: 'ephemeral' },
        },
      ],
    },
  ],
  temperature: 1,
  system: [
    {
      type: 'text',
      text: "You are Claude Code, Anthropic's official CLI for Claude.",
      // Claude Code 2.1.88+ shares its static system prompt's cache entry across organisations.
      cache_control: { type: 'ephemeral', ttl: '1h', scope: 'global' },
    },
    {
      type: 'text',
      text: 'You are an interactive CLI tool that helps users with software engineering tasks.',
      cache_control: { type: 'ephemeral', ttl: '1h' },
    },
  ],
  tools: [
    {
      name: 'Bash',
      description: 'Executes a given bash command in a persistent shell session.',
      input_schema: {
        type: 'object',
        properties: {
          command: { type: 'string', description: 'The command to execute' },
          timeout: { type: 'number', description: 'Optional timeout in milliseconds' },
        },
        required: ['command'],
        additionalProperties: false,
        $schema: 'http://json-schema.org/draft-07/schema#',
      },
    },
    {
      name: 'mcp__github__create_issue',
      description: 'Create an issue',
      input_schema: { type: 'object', properties: { title: { type: 'string' } } },
      cache_control: { type: 'ephemeral' },
    },
  ],
  metadata: { user_id: 'user_2f1c_account_9a7e_session_44d0' },
  thinking: { type: 'enabled', budget_tokens: 31999 },
  context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
  output_config: { effort: 'high' },
  stream: true,
};

describe('messages: valid requests', () => {
  it('accepts a minimal request and returns it unchanged', () => {
    expect(parseMessagesRequest(body({}))).toEqual(body({}));
  });

  it('accepts a realistic Claude Code request', () => {
    expect(parseMessagesRequest(claudeCodeRequest)).toEqual(claudeCodeRequest);
  });

  it('accepts every user content block kind', () => {
    const input = withBlocks('user', [
      {
        type: 'text',
        text: 'As the report says',
        citations: [
          {
            type: 'char_location',
            cited_text: 'x',
            document_index: 0,
            document_title: null,
            start_char_index: 0,
            end_char_index: 1,
          },
          {
            type: 'page_location',
            cited_text: 'x',
            document_index: 1,
            document_title: 'Report',
            start_page_number: 1,
            end_page_number: 2,
          },
          {
            type: 'content_block_location',
            cited_text: 'x',
            document_index: 2,
            document_title: null,
            start_block_index: 0,
            end_block_index: 1,
          },
          {
            type: 'web_search_result_location',
            cited_text: 'x',
            encrypted_index: 'enc',
            title: null,
            url: 'https://example.com',
          },
          {
            type: 'search_result_location',
            cited_text: 'x',
            search_result_index: 0,
            source: 'kb://1',
            title: 'KB',
            start_block_index: 0,
            end_block_index: 0,
          },
        ],
      },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      {
        type: 'image',
        source: { type: 'url', url: 'https://example.com/cat.jpg' },
        transformations: { oversized_image: 'downsize' },
        cache_control: null,
      },
      { type: 'image', source: { type: 'file', file_id: 'file_011CNha8iCJcU1wXNR6q4V8w' } },
      {
        type: 'document',
        source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
        title: 'Report',
        context: 'Q3 numbers',
        citations: { enabled: true },
      },
      { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain text' } },
      {
        type: 'document',
        source: {
          type: 'content',
          content: [
            { type: 'text', text: 'chunk' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } },
          ],
        },
      },
      { type: 'document', source: { type: 'content', content: 'inline' } },
      { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
      { type: 'document', source: { type: 'file', file_id: 'file_1' }, cache_control: { type: 'ephemeral' } },
      {
        type: 'search_result',
        source: 'kb://1',
        title: 'KB',
        content: [{ type: 'text', text: 'fact' }],
        citations: { enabled: true },
      },
      {
        type: 'tool_result',
        tool_use_id: 'toolu_1',
        is_error: true,
        toolset_name: null,
        content: [
          { type: 'text', text: 'out' },
          { type: 'image', source: { type: 'base64', media_type: 'image/webp', data: 'UklGRg==' } },
          { type: 'search_result', source: 's', title: 't', content: [] },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'log' } },
          { type: 'tool_reference', tool_name: 'Bash' },
          {
            type: 'browser_state',
            tabs: [{ tab_id: 't1', title: 'Home', url: 'https://example.com', active: true }],
            state_changes: null,
          },
        ],
      },
      { type: 'tool_result', tool_use_id: 'toolu_2' },
    ]);
    expect(parseMessagesRequest(input)).toEqual(input);
  });

  it('accepts assistant blocks replayed from earlier answers, server tools included', () => {
    const input = withBlocks('assistant', [
      { type: 'thinking', thinking: 'hmm', signature: 'sig' },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
      {
        type: 'tool_use',
        id: 'toolu_1',
        name: 'get_weather',
        input: { city: 'Paris' },
        caller: { type: 'code_execution_20250825', tool_id: 'srvtoolu_1' },
      },
      {
        type: 'server_tool_use',
        id: 'srvtoolu_1',
        name: 'web_search',
        input: { query: 'weather' },
        caller: { type: 'direct' },
      },
      {
        type: 'web_search_tool_result',
        tool_use_id: 'srvtoolu_1',
        content: [
          { type: 'web_search_result', title: 'W', url: 'https://w.example', encrypted_content: 'e' },
        ],
      },
      {
        type: 'web_fetch_tool_result',
        tool_use_id: 'srvtoolu_2',
        content: { type: 'web_fetch_tool_result_error', error_code: 'url_not_accessible' },
      },
      { type: 'advisor_tool_result', tool_use_id: 'srvtoolu_3', content: { type: 'advisor_result' } },
      {
        type: 'code_execution_tool_result',
        tool_use_id: 'srvtoolu_4',
        content: { type: 'code_execution_result' },
      },
      { type: 'bash_code_execution_tool_result', tool_use_id: 'srvtoolu_5', content: { type: 'x' } },
      { type: 'text_editor_code_execution_tool_result', tool_use_id: 'srvtoolu_6', content: { type: 'x' } },
      { type: 'tool_search_tool_result', tool_use_id: 'srvtoolu_7', content: { type: 'x' } },
      { type: 'mcp_tool_use', id: 'mcptoolu_1', name: 'search', server_name: 'docs', input: {} },
      {
        type: 'mcp_tool_result',
        tool_use_id: 'mcptoolu_1',
        content: [{ type: 'text', text: 'r' }],
        is_error: false,
      },
      { type: 'container_upload', file_id: 'file_1' },
      {
        type: 'compaction',
        content: 'summary',
        encrypted_content: null,
        signature: 's',
        tool_changes: [{ type: 'tool_removal', tool: { type: 'tool_reference', name: 'Bash' } }],
      },
      { type: 'tool_addition', tool: { type: 'tool_reference', name: 'Read' } },
      { type: 'mcp_tool_listing', mcp_server_name: 'docs', tools: [{ name: 'search' }] },
      { type: 'fallback', from: { model: 'a' }, to: { model: 'b' } },
    ]);
    expect(parseMessagesRequest(input)).toEqual(input);
  });

  it('accepts server tools by their versioned type, custom tools in every spelling', () => {
    const tools = [
      { name: 'plain', input_schema: { type: 'object' } },
      { type: 'custom', name: 'typed', input_schema: { type: 'object' }, strict: true },
      { type: null, name: 'nulled', input_schema: { type: 'object', properties: null, required: null } },
      {
        name: 'everything',
        description: 'd',
        input_schema: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
        cache_control: { type: 'ephemeral', ttl: '5m' },
        allowed_callers: ['direct', 'code_execution_20250825'],
        defer_loading: true,
        eager_input_streaming: null,
        input_examples: [{ a: 'x' }],
      },
      { type: 'web_search_20250305', name: 'web_search', max_uses: 5, allowed_domains: ['example.com'] },
      { type: 'bash_20250124', name: 'bash' },
      { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool', max_characters: 10000 },
      { type: 'computer_20251124', name: 'computer', display_width_px: 1024, display_height_px: 768 },
      { type: 'code_execution_20250825', name: 'code_execution' },
      { type: 'memory_20250818', name: 'memory' },
      { type: 'tool_search_tool_bm25', name: 'tool_search_tool_bm25' },
      { type: 'mcp_toolset', mcp_server_name: 'docs', default_config: { enabled: true } },
    ];
    expect(parseMessagesRequest(body({ tools })).tools).toEqual(tools);
  });

  it('accepts every top-level field, GA and beta', () => {
    const input = body({
      messages: [
        user,
        {
          role: 'system',
          content: [{ type: 'text', text: 'Answer briefly now.' }],
          clear_at: 'next_user_message',
        },
        { role: 'system', output_config: { effort: 'low' }, clear_at: null },
      ],
      billing_policy: { type: 'billing_policy', bill_to: 'self' },
      cache_control: { type: 'ephemeral', ttl: '1h' },
      compaction: { type: 'summarize', instructions: null },
      container: { id: 'container_1', skills: [{ type: 'anthropic', skill_id: 'pptx', version: 'latest' }] },
      context_management: {
        edits: [
          {
            type: 'clear_tool_uses_20250919',
            trigger: { type: 'input_tokens', value: 100000 },
            keep: { type: 'tool_uses', value: 3 },
            clear_at_least: { type: 'input_tokens', value: 5000 },
            clear_tool_inputs: ['Bash'],
            exclude_tools: ['Read'],
          },
          { type: 'clear_thinking_20251015', keep: { type: 'thinking_turns', value: 2 } },
          { type: 'compact_20260112', instructions: 'Keep decisions', pause_after_compaction: false },
        ],
      },
      diagnostics: { previous_message_id: 'msg_1' },
      fallback_credit_token: { token: 'fct_1', mode: 'best_effort' },
      // Accepted when empty; a chain of models is refused (below).
      fallbacks: null,
      inference_geo: 'us',
      mcp_servers: [
        {
          type: 'url',
          name: 'docs',
          url: 'https://mcp.example.com/sse',
          authorization_token: null,
          tool_configuration: { allowed_tools: ['search'], enabled: true },
        },
      ],
      metadata: { user_id: null },
      output_config: {
        effort: 'max',
        format: { type: 'json_schema', schema: { type: 'object' } },
        task_budget: { type: 'tokens', total: 100000, remaining: null },
      },
      output_format: { type: 'json_schema', schema: { type: 'object' } },
      service_tier: 'standard_only',
      speed: 'fast',
      stop_sequences: ['\n\nHuman:', 'END'],
      stream: false,
      system: 'Be brief.',
      temperature: 0,
      thinking: {
        type: 'adaptive',
        display: 'summarized',
        block_binding: { prefix_mismatch_behavior: 'drop_block' },
      },
      thread: { type: 'continue', previous_message_id: 'msg_0' },
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      tools: [{ name: 'f', input_schema: { type: 'object' } }],
      top_k: 40,
      top_p: 0.9,
    });
    expect(parseMessagesRequest(input)).toEqual(input);
  });

  it.each([
    [{ type: 'enabled', budget_tokens: 1024, display: 'omitted' }],
    [{ type: 'disabled' }],
    [{ type: 'between_tools' }],
    [{ type: 'adaptive' }],
  ])('accepts thinking %j', (thinking) => {
    expect(parseMessagesRequest(body({ thinking })).thinking).toEqual(thinking);
  });

  it.each([
    [{ type: 'auto' }],
    [{ type: 'any' }],
    [{ type: 'tool', name: 'get_weather', disable_parallel_tool_use: false }],
    [{ type: 'none' }],
  ])('accepts tool_choice %j', (tool_choice) => {
    expect(parseMessagesRequest(body({ tool_choice })).tool_choice).toEqual(tool_choice);
  });

  it('accepts the documented extremes', () => {
    for (const extra of [
      { max_tokens: 0, temperature: 0, top_p: 0, top_k: 0 },
      { temperature: 1, top_p: 1, metadata: { user_id: 'u'.repeat(256) } },
      { container: 'container_011CPR5CNjB747bTd36fQLFk' },
      { fallback_credit_token: 'fct_1', thread: { type: 'create' } },
    ]) {
      expect(parseMessagesRequest(body(extra))).toEqual(body(extra));
    }
  });

  it.each([['default'], [[{ model: 'claude-opus-4-1' }]]])(
    'refuses fallbacks %j: the provider would answer with models Keyward did not route to',
    (fallbacks) => {
      expectError(
        body({ fallbacks }),
        "'fallbacks' asks the provider for models Keyward did not route to; leave it out and give the model alias fallbacks in Keyward's configuration instead",
        'fallbacks',
        'invalid_value',
      );
    },
  );

  it('takes tool call ids long enough to carry a Gemini thought signature, up to 16 384 characters', () => {
    const history = (id: string) =>
      body({
        messages: [
          { role: 'user', content: 'Weather?' },
          { role: 'assistant', content: [{ type: 'tool_use', id, name: 'get_weather', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: '18°C' }] },
        ],
      });
    const id = `fc-1__thought__${'A'.repeat(16_384 - 15)}`;
    expect(parseMessagesRequest(history(id))).toEqual(history(id));
    expectError(
      history(`${id}A`),
      "'messages[1].content[0].id' must be at most 16384 characters long",
      'messages[1].content[0].id',
      'invalid_value',
    );
  });
});

describe('messages: invalid requests', () => {
  it('requires a JSON object body', () => {
    for (const input of [null, [], 'text', 3, true]) {
      expectError(input, 'Request body must be a JSON object', null, 'invalid_body');
    }
    // No body at all (an empty body under Content-Type: application/json parses as undefined).
    expectError(undefined, 'Request body is empty; send a JSON object', null, 'empty_body');
  });

  it('names a missing required field', () => {
    expectError(
      { model: 'm', messages: [user] },
      "Missing required field 'max_tokens'",
      'max_tokens',
      'missing_field',
    );
    expectError(
      { max_tokens: 1, messages: [user] },
      "Missing required field 'model'",
      'model',
      'missing_field',
    );
    expectError(
      { model: 'm', max_tokens: 1 },
      "Missing required field 'messages'",
      'messages',
      'missing_field',
    );
    expectError(
      body({ messages: [{ content: 'x' }] }),
      "Missing required field 'messages[0].role'",
      'messages[0].role',
      'missing_field',
    );
    expectError(
      body({ messages: [{ role: 'user' }] }),
      "Missing required field 'messages[0].content'",
      'messages[0].content',
      'missing_field',
    );
    expectError(
      withBlocks('user', [{ type: 'tool_result', content: 'x' }]),
      "Missing required field 'messages[0].content[0].tool_use_id'",
      'messages[0].content[0].tool_use_id',
      'missing_field',
    );
    expectError(
      withBlocks('assistant', [{ type: 'thinking', thinking: 'x' }]),
      "Missing required field 'messages[0].content[0].signature'",
      'messages[0].content[0].signature',
      'missing_field',
    );
    expectError(
      body({ tools: [{ name: 'f' }] }),
      "Missing required field 'tools[0].input_schema'",
      'tools[0].input_schema',
      'missing_field',
    );
    expectError(
      body({ thinking: { type: 'enabled' } }),
      "Missing required field 'thinking.budget_tokens'",
      'thinking.budget_tokens',
      'missing_field',
    );
  });

  it('names unknown fields, header params included', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [body({ foo: 1 }), 'foo'],
      [body({ workspace_id: 'wrkspc_1' }), 'workspace_id'],
      [body({ messages: [{ role: 'user', content: 'x', name: 'alice' }] }), 'messages[0].name'],
      [
        withBlocks('user', [{ type: 'text', text: 'x', cache_controls: {} }]),
        'messages[0].content[0].cache_controls',
      ],
      [
        withBlocks('user', [{ type: 'image', source: { type: 'url', url: 'https://x', detail: 'high' } }]),
        'messages[0].content[0].source.detail',
      ],
      [
        withBlocks('assistant', [
          { type: 'web_search_tool_result', tool_use_id: 't', content: [], extra: 1 },
        ]),
        'messages[0].content[0].extra',
      ],
      [
        body({ tools: [{ name: 'f', input_schema: { type: 'object' }, parameters: {} }] }),
        'tools[0].parameters',
      ],
      [body({ metadata: { user_id: 'u', session_id: 's' } }), 'metadata.session_id'],
      [body({ thinking: { type: 'disabled', budget_tokens: 2000 } }), 'thinking.budget_tokens'],
      [
        body({ tool_choice: { type: 'none', disable_parallel_tool_use: true } }),
        'tool_choice.disable_parallel_tool_use',
      ],
      [
        body({ system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', region: 'x' } }] }),
        'system[0].cache_control.region',
      ],
    ];
    for (const [input, param] of cases) {
      expectError(input, `Unrecognized request field '${param}'`, param, 'unknown_field');
    }
  });

  it('says where beta flags go when the body carries them', () => {
    const betas = { betas: ['context-1m-2025-08-07'] };
    const words =
      "Unrecognized request field 'betas': send beta flags in the anthropic-beta header (comma-separated), not in the body";
    expectError(body(betas), words, 'betas', 'unknown_field');
    const counting = rejection(() =>
      parseCountTokensRequest({ model: 'm', messages: [{ role: 'user', content: 'x' }], ...betas }),
    );
    expect(counting).toMatchObject({ message: words, param: 'betas', code: 'unknown_field' });
  });

  it('lists the allowed values of a discriminator or enumerated field', () => {
    expectError(
      body({ system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', scope: 'x' } }] }),
      "Invalid value for 'system[0].cache_control.scope': expected one of global, org",
      'system[0].cache_control.scope',
      'invalid_value',
    );
    expectError(
      body({ messages: [{ role: 'tool', content: 'x' }] }),
      "Invalid value for 'messages[0].role': expected one of user, assistant, system",
      'messages[0].role',
      'invalid_value',
    );
    expectError(
      withBlocks('user', [{ type: 'video', url: 'x' }]),
      "Invalid value for 'messages[0].content[0].type': expected one of text, image, document, search_result, " +
        'thinking, redacted_thinking, tool_use, tool_result, server_tool_use, web_search_tool_result, ' +
        'web_fetch_tool_result, advisor_tool_result, code_execution_tool_result, bash_code_execution_tool_result, ' +
        'text_editor_code_execution_tool_result, tool_search_tool_result, mcp_tool_use, mcp_tool_result, ' +
        'container_upload, compaction, tool_addition, tool_removal, mcp_tool_listing, fallback',
      'messages[0].content[0].type',
      'invalid_value',
    );
    expectError(
      withBlocks('user', [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'thinking' }] }]),
      "Invalid value for 'messages[0].content[0].content[0].type': expected one of text, image, search_result, " +
        'document, tool_reference, browser_state',
      'messages[0].content[0].content[0].type',
      'invalid_value',
    );
    expectError(
      body({ system: [{ type: 'image', source: { type: 'url', url: 'https://x' } }] }),
      "Invalid value for 'system[0].type': expected text",
      'system[0].type',
      'invalid_value',
    );
    expectError(
      withBlocks('user', [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'x' } }]),
      "Invalid value for 'messages[0].content[0].source.media_type': expected one of image/jpeg, image/png, " +
        'image/gif, image/webp',
      'messages[0].content[0].source.media_type',
      'invalid_value',
    );
    expectError(
      withBlocks('user', [
        { type: 'document', source: { type: 'base64', media_type: 'text/plain', data: 'x' } },
      ]),
      "Invalid value for 'messages[0].content[0].source.media_type': expected application/pdf",
      'messages[0].content[0].source.media_type',
      'invalid_value',
    );
    expectError(
      body({ system: [{ type: 'text', text: 's', cache_control: { type: 'ephemeral', ttl: '10m' } }] }),
      "Invalid value for 'system[0].cache_control.ttl': expected one of 5m, 1h",
      'system[0].cache_control.ttl',
      'invalid_value',
    );
    expectError(
      body({ tool_choice: { type: 'required' } }),
      "Invalid value for 'tool_choice.type': expected one of auto, any, tool, none",
      'tool_choice.type',
      'invalid_value',
    );
    expectError(
      body({ thinking: { type: 'on' } }),
      "Invalid value for 'thinking.type': expected one of enabled, disabled, between_tools, adaptive",
      'thinking.type',
      'invalid_value',
    );
    expectError(
      body({ output_config: { effort: 'extreme' } }),
      "Invalid value for 'output_config.effort': expected one of low, medium, high, xhigh, max",
      'output_config.effort',
      'invalid_value',
    );
    expectError(
      body({ service_tier: 'priority' }),
      "Invalid value for 'service_tier': expected one of auto, standard_only",
      'service_tier',
      'invalid_value',
    );
  });

  it('checks tool names and server tool types', () => {
    expectError(
      body({ tools: [{ name: 'mcp/github.create', input_schema: { type: 'object' } }] }),
      "Invalid format for 'tools[0].name': expected a string matching /^[a-zA-Z0-9_-]+$/",
      'tools[0].name',
      'invalid_value',
    );
    expectError(
      body({ tools: [{ name: 'f'.repeat(129), input_schema: { type: 'object' } }] }),
      "'tools[0].name' must be at most 128 characters long",
      'tools[0].name',
      'invalid_value',
    );
    const toolTypes =
      "Invalid format for 'tools[0].type': expected a server tool's dated type such as web_search_20250305; " +
      'a custom tool takes name and input_schema, with no type (or type "custom")';
    expectError(
      body({ tools: [{ type: 'websearch', name: 'web_search' }] }),
      toolTypes,
      'tools[0].type',
      'invalid_value',
    );
    expectError(
      body({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }] }),
      toolTypes,
      'tools[0].type',
      'invalid_value',
    );
    expectError(
      body({ tools: [{ name: 'f', input_schema: { type: 'array' } }] }),
      "Invalid value for 'tools[0].input_schema.type': expected object",
      'tools[0].input_schema.type',
      'invalid_value',
    );
  });

  it('says what type was expected, never echoing the value', () => {
    const secret = 'sk-ant-api03-secret';
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [body({ max_tokens: secret }), 'max_tokens', 'expected number, received string'],
      [body({ stream: 'true' }), 'stream', 'expected boolean, received string'],
      [body({ max_tokens: 1.5 }), 'max_tokens', 'expected integer, received number'],
      [
        body({ messages: [{ role: 'user', content: 5 }] }),
        'messages[0].content',
        'expected string or array, received number',
      ],
      [body({ system: 7 }), 'system', 'expected string or array, received number'],
      [body({ metadata: { user_id: 42 } }), 'metadata.user_id', 'expected string, received number'],
      [body({ stop_sequences: ['a', 7] }), 'stop_sequences[1]', 'expected string, received number'],
      [
        withBlocks('assistant', [{ type: 'tool_use', id: 't', name: 'f', input: secret }]),
        'messages[0].content[0].input',
        'expected object, received string',
      ],
    ];
    for (const [input, param, expected] of cases) {
      const error = rejection(() => parseMessagesRequest(input));
      expect(error).toEqual({
        status: 400,
        type: 'invalid_request_error',
        message: `Invalid type for '${param}': ${expected}`,
        param,
        code: 'invalid_type',
      });
      expect(error.message).not.toContain(secret);
    }
  });

  it('enforces the documented ranges and our bounds', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ max_tokens: -1 }, 'max_tokens', "'max_tokens' must be at least 0"],
      [{ temperature: 1.5 }, 'temperature', "'temperature' must be at most 1"],
      [{ temperature: -0.1 }, 'temperature', "'temperature' must be at least 0"],
      [{ top_p: 1.1 }, 'top_p', "'top_p' must be at most 1"],
      [{ top_k: -1 }, 'top_k', "'top_k' must be at least 0"],
      [
        { thinking: { type: 'enabled', budget_tokens: 1023 } },
        'thinking.budget_tokens',
        "'thinking.budget_tokens' must be at least 1024",
      ],
      [{ messages: [] }, 'messages', "'messages' must have at least 1 item"],
      [{ model: '' }, 'model', "'model' must be at least 1 character long"],
      [
        { metadata: { user_id: 'u'.repeat(257) } },
        'metadata.user_id',
        "'metadata.user_id' must be at most 256 characters long",
      ],
      [
        { stop_sequences: Array.from({ length: 257 }, () => 'x') },
        'stop_sequences',
        "'stop_sequences' must have at most 256 items",
      ],
      [
        { tools: Array.from({ length: 1001 }, () => ({ name: 'f', input_schema: { type: 'object' } })) },
        'tools',
        "'tools' must have at most 1000 items",
      ],
      [
        {
          messages: [
            { role: 'user', content: Array.from({ length: 1001 }, () => ({ type: 'text', text: 'x' })) },
          ],
        },
        'messages[0].content',
        "'messages[0].content' must have at most 1000 items",
      ],
      [
        {
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  tool_use_id: 't',
                  content: [{ type: 'tool_reference', tool_name: 'x'.repeat(65) }],
                },
              ],
            },
          ],
        },
        'messages[0].content[0].content[0].tool_name',
        "'messages[0].content[0].content[0].tool_name' must be at most 64 characters long",
      ],
    ];
    for (const [extra, param, message] of cases) {
      expectError(body(extra), message, param, 'invalid_value');
    }
    expectError(
      body({ messages: Array.from({ length: 100_001 }, () => user) }),
      "'messages' must have at most 100000 items",
      'messages',
      'invalid_value',
    );
  });
});

describe('count_tokens', () => {
  it('accepts a Messages body without the generation settings', () => {
    const input = {
      model: 'claude-sonnet-4-5',
      messages: claudeCodeRequest.messages,
      system: claudeCodeRequest.system,
      tools: claudeCodeRequest.tools,
      thinking: { type: 'enabled', budget_tokens: 2048 },
      tool_choice: { type: 'auto' },
      context_management: { edits: [] },
      output_config: { effort: 'low' },
      mcp_servers: [],
    };
    expect(parseCountTokensRequest(input)).toEqual(input);
  });

  it('refuses the generation settings it does not take', () => {
    for (const field of ['max_tokens', 'stream', 'metadata', 'temperature', 'stop_sequences']) {
      const input = { model: 'm', messages: [user], [field]: field === 'metadata' ? {} : 1 };
      expect(rejection(() => parseCountTokensRequest(input))).toEqual({
        status: 400,
        type: 'invalid_request_error',
        message: `Unrecognized request field '${field}'`,
        param: field,
        code: 'unknown_field',
      });
    }
  });

  it('names a missing field', () => {
    expect(rejection(() => parseCountTokensRequest({ messages: [user] }))).toEqual({
      status: 400,
      type: 'invalid_request_error',
      message: "Missing required field 'model'",
      param: 'model',
      code: 'missing_field',
    });
  });
});
