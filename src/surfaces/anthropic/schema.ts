import { z } from 'zod';

/**
 * The bodies of Anthropic's `POST /v1/messages` and `POST /v1/messages/count_tokens`, field by
 * field, as the official SDK (@anthropic-ai/sdk 1.x) types them: the union of the GA and the beta
 * params, since Claude Code and other clients call the beta API with the same paths. Every object
 * is strict: a field the gateway does not know is refused, never forwarded blindly to a provider.
 * The SDK's header params (`betas`, `user_profile_id`, `workspace_id`) are headers, not body
 * fields, and are refused here like any unknown field (`betas` with the header it belongs in,
 * see validate.ts).
 *
 * `temperature`, `top_p` and `top_k` are no longer in the SDK's types, but the API still takes
 * them and clients (Claude Code among them) still send them, so they are accepted with the
 * API's documented ranges.
 *
 * Bounds are the API's where it documents them: messages ≤ 100 000, custom tool names
 * `^[a-zA-Z0-9_-]{1,128}$`, tool reference names ≤ 64 characters, thinking budgets ≥ 1 024.
 * Where it does not, they are generous but finite: content blocks per message (and system
 * blocks, tool result blocks, citations) ≤ 1 000, tools ≤ 1 000, stop sequences ≤ 256, other
 * lists (MCP servers, skills, context edits, domains, fallbacks) ≤ 256, ids and names ≤ 256
 * characters, `metadata.user_id` ≤ 256 characters. Tool call ids replayed in `tool_use` and
 * `tool_result` blocks may have up to 16 384: the ids the gateway gives Gemini's calls carry their
 * thought signature (see providers/gemini/codec.ts), often well over a thousand characters. Free text is
 * bounded only by the body size limit.
 *
 * Two families are checked loosely, on purpose:
 * - Server tools (`web_search_20250305`, `bash_20250124`, `computer_…`, `mcp_toolset`, …): about
 *   thirty versioned types with nested toolset configurations, new ones every few weeks. They are
 *   accepted by a `type` pattern with their other fields unchecked; only Anthropic can run them,
 *   and it validates them itself (the canonical mapping refuses them for every other provider).
 * - The inner `content` of server-generated blocks replayed from earlier answers (web search
 *   results, code execution output, tool listings, …): the gateway never reads it, it goes back
 *   only to Anthropic, which produced it. Those blocks' own fields are checked strictly.
 */

const MAX_MESSAGES = 100_000;
const MAX_BLOCKS = 1_000;
const MAX_TOOLS = 1_000;
const MAX_STOP_SEQUENCES = 256;
const MAX_LIST = 256;
const MAX_TOOL_CALL_ID = 16_384;

/** Free-form JSON: tool input schemas and inputs. Checked by the provider, not here. */
const jsonObject = z.record(z.string(), z.unknown());
/** Server-generated content the gateway never reads (see the header). */
const opaque = z.union([jsonObject, z.array(z.unknown()).max(MAX_BLOCKS)]);
/** Ids and names with no documented limit. */
const identifier = z.string().min(1).max(256);
/** The id of a custom tool call, which may carry a Gemini thought signature (see the header). */
const toolCallId = z.string().min(1).max(MAX_TOOL_CALL_ID);
/** Custom tool names: the API's documented rule. */
const toolName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[a-zA-Z0-9_-]+$/);
const count = z.number().int().min(0);

/**
 * `scope` (beta `prompt-caching-scope-2026-01-05`) widens who may read the cache entry: `global`
 * shares a prefix identical for everyone (Claude Code's static system prompt) across
 * organisations, `org` is the default. The SDK does not type it yet; these are the values Claude
 * Code's own types give it.
 */
const cacheControl = z
  .strictObject({
    type: z.literal('ephemeral'),
    ttl: z.enum(['5m', '1h']).optional(),
    scope: z.enum(['global', 'org']).optional(),
  })
  .nullable()
  .optional();

/** Who made a tool call: the model directly, or code the model ran in a code execution tool. */
const caller = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('direct') }),
    z.strictObject({ type: z.literal('code_execution_20250825'), tool_id: identifier }),
    z.strictObject({ type: z.literal('code_execution_20260120'), tool_id: identifier }),
  ])
  .optional();

// Citations replayed on text blocks of earlier answers.
const citation = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('char_location'),
    cited_text: z.string(),
    document_index: count,
    document_title: z.string().nullable(),
    start_char_index: count,
    end_char_index: count,
  }),
  z.strictObject({
    type: z.literal('page_location'),
    cited_text: z.string(),
    document_index: count,
    document_title: z.string().nullable(),
    start_page_number: count,
    end_page_number: count,
  }),
  z.strictObject({
    type: z.literal('content_block_location'),
    cited_text: z.string(),
    document_index: count,
    document_title: z.string().nullable(),
    start_block_index: count,
    end_block_index: count,
  }),
  z.strictObject({
    type: z.literal('web_search_result_location'),
    cited_text: z.string(),
    encrypted_index: z.string(),
    title: z.string().nullable(),
    url: z.string(),
  }),
  z.strictObject({
    type: z.literal('search_result_location'),
    cited_text: z.string(),
    search_result_index: count,
    source: z.string(),
    title: z.string().nullable(),
    start_block_index: count,
    end_block_index: count,
  }),
]);

const citationsConfig = z.strictObject({ enabled: z.boolean().optional() });

// Content blocks.
const textBlock = z.strictObject({
  type: z.literal('text'),
  text: z.string(),
  cache_control: cacheControl,
  citations: z.array(citation).max(MAX_BLOCKS).nullable().optional(),
});

const imageBlock = z.strictObject({
  type: z.literal('image'),
  source: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('base64'),
      media_type: z.enum(['image/jpeg', 'image/png', 'image/gif', 'image/webp']),
      data: z.string().min(1),
    }),
    z.strictObject({ type: z.literal('url'), url: z.string().min(1) }),
    z.strictObject({ type: z.literal('file'), file_id: identifier }),
  ]),
  cache_control: cacheControl,
  transformations: z
    .strictObject({ oversized_image: z.enum(['downsize', 'error']).optional() })
    .nullable()
    .optional(),
});

const documentBlock = z.strictObject({
  type: z.literal('document'),
  source: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('base64'),
      media_type: z.literal('application/pdf'),
      data: z.string().min(1),
    }),
    z.strictObject({ type: z.literal('text'), media_type: z.literal('text/plain'), data: z.string() }),
    z.strictObject({
      type: z.literal('content'),
      content: z.union([
        z.string(),
        z.array(z.discriminatedUnion('type', [textBlock, imageBlock])).max(MAX_BLOCKS),
      ]),
    }),
    z.strictObject({ type: z.literal('url'), url: z.string().min(1) }),
    z.strictObject({ type: z.literal('file'), file_id: identifier }),
  ]),
  cache_control: cacheControl,
  citations: citationsConfig.nullable().optional(),
  context: z.string().nullable().optional(),
  title: z.string().nullable().optional(),
});

const searchResultBlock = z.strictObject({
  type: z.literal('search_result'),
  content: z.array(textBlock).max(MAX_BLOCKS),
  source: z.string(),
  title: z.string(),
  cache_control: cacheControl,
  citations: citationsConfig.optional(),
});

const toolReferenceBlock = z.strictObject({
  type: z.literal('tool_reference'),
  tool_name: z.string().min(1).max(64),
  cache_control: cacheControl,
});

const browserStateBlock = z.strictObject({
  type: z.literal('browser_state'),
  tabs: z
    .array(
      z.strictObject({
        tab_id: identifier,
        title: z.string(),
        url: z.string(),
        active: z.boolean().optional(),
      }),
    )
    .max(MAX_LIST),
  cache_control: cacheControl,
  state_changes: z.array(jsonObject).max(MAX_LIST).nullable().optional(),
});

const thinkingBlock = z.strictObject({
  type: z.literal('thinking'),
  thinking: z.string(),
  signature: z.string(),
});

const redactedThinkingBlock = z.strictObject({ type: z.literal('redacted_thinking'), data: z.string() });

// Tool calls replayed from earlier answers. Names are not held to `toolName`: the model produced
// them, possibly another provider's model with other naming rules.
const toolUseBlock = z.strictObject({
  type: z.literal('tool_use'),
  id: toolCallId,
  name: identifier,
  input: jsonObject,
  cache_control: cacheControl,
  caller,
  toolset_name: z.string().nullable().optional(),
});

const toolResultBlock = z.strictObject({
  type: z.literal('tool_result'),
  tool_use_id: toolCallId,
  cache_control: cacheControl,
  content: z
    .union([
      z.string(),
      z
        .array(
          z.discriminatedUnion('type', [
            textBlock,
            imageBlock,
            searchResultBlock,
            documentBlock,
            toolReferenceBlock,
            browserStateBlock,
          ]),
        )
        .max(MAX_BLOCKS),
    ])
    .optional(),
  is_error: z.boolean().optional(),
  toolset_name: z.string().nullable().optional(),
});

// Blocks Anthropic's own server tools produced in earlier answers (see the header).
const serverToolUseBlock = z.strictObject({
  type: z.literal('server_tool_use'),
  id: identifier,
  name: z.enum([
    'advisor',
    'web_search',
    'web_fetch',
    'code_execution',
    'bash_code_execution',
    'text_editor_code_execution',
    'tool_search_tool_regex',
    'tool_search_tool_bm25',
  ]),
  input: jsonObject,
  cache_control: cacheControl,
  caller,
});

const serverResult = <T extends string>(type: T) =>
  z.strictObject({
    type: z.literal(type),
    tool_use_id: identifier,
    content: opaque,
    cache_control: cacheControl,
  });

const webSearchResultBlock = serverResult('web_search_tool_result').extend({ caller });
const webFetchResultBlock = serverResult('web_fetch_tool_result').extend({ caller });

const mcpToolUseBlock = z.strictObject({
  type: z.literal('mcp_tool_use'),
  id: identifier,
  name: identifier,
  server_name: identifier,
  input: jsonObject,
  cache_control: cacheControl,
});

const mcpToolResultBlock = z.strictObject({
  type: z.literal('mcp_tool_result'),
  tool_use_id: identifier,
  cache_control: cacheControl,
  content: z.union([z.string(), z.array(textBlock).max(MAX_BLOCKS)]).optional(),
  is_error: z.boolean().optional(),
});

const containerUploadBlock = z.strictObject({
  type: z.literal('container_upload'),
  file_id: identifier,
  cache_control: cacheControl,
});

const toolAdditionBlock = z.strictObject({
  type: z.literal('tool_addition'),
  tool: jsonObject,
  cache_control: cacheControl,
});

const toolRemovalBlock = z.strictObject({
  type: z.literal('tool_removal'),
  tool: jsonObject,
  cache_control: cacheControl,
});

const compactionBlock = z.strictObject({
  type: z.literal('compaction'),
  cache_control: cacheControl,
  content: z.string().nullable().optional(),
  encrypted_content: z.string().nullable().optional(),
  signature: z.string().nullable().optional(),
  tool_changes: z
    .array(z.discriminatedUnion('type', [toolAdditionBlock, toolRemovalBlock]))
    .max(MAX_TOOLS)
    .nullable()
    .optional(),
});

const mcpToolListingBlock = z.strictObject({
  type: z.literal('mcp_tool_listing'),
  mcp_server_name: identifier,
  tools: z.array(jsonObject).max(MAX_TOOLS),
});

const fallbackBlock = z.strictObject({
  type: z.literal('fallback'),
  from: jsonObject,
  to: jsonObject,
  trigger: z.unknown().optional(),
});

const contentBlock = z.discriminatedUnion('type', [
  textBlock,
  imageBlock,
  documentBlock,
  searchResultBlock,
  thinkingBlock,
  redactedThinkingBlock,
  toolUseBlock,
  toolResultBlock,
  serverToolUseBlock,
  webSearchResultBlock,
  webFetchResultBlock,
  serverResult('advisor_tool_result'),
  serverResult('code_execution_tool_result'),
  serverResult('bash_code_execution_tool_result'),
  serverResult('text_editor_code_execution_tool_result'),
  serverResult('tool_search_tool_result'),
  mcpToolUseBlock,
  mcpToolResultBlock,
  containerUploadBlock,
  compactionBlock,
  toolAdditionBlock,
  toolRemovalBlock,
  mcpToolListingBlock,
  fallbackBlock,
]);

// A string is by far the common case, so it is the union's first branch.
const messageContent = z.union([z.string(), z.array(contentBlock).max(MAX_BLOCKS)]);

const effort = z.enum(['low', 'medium', 'high', 'xhigh', 'max']).nullable().optional();

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('user'), content: messageContent }),
  z.strictObject({ role: z.literal('assistant'), content: messageContent }),
  /** A system message inside the conversation (beta). */
  z.strictObject({
    role: z.literal('system'),
    content: z
      .union([
        z.string(),
        z
          .array(z.discriminatedUnion('type', [textBlock, toolAdditionBlock, toolRemovalBlock]))
          .max(MAX_BLOCKS),
      ])
      .optional(),
    clear_at: z.enum(['next_user_message', 'never']).nullable().optional(),
    output_config: z.strictObject({ effort }).nullable().optional(),
  }),
]);

const system = z.union([z.string(), z.array(textBlock).max(MAX_BLOCKS)]);

// Tools.
const customTool = z.strictObject({
  type: z.literal('custom').nullable().optional(),
  name: toolName,
  description: z.string().optional(),
  input_schema: z.looseObject({
    type: z.literal('object'),
    properties: z.unknown().optional(),
    required: z.array(z.string()).nullable().optional(),
  }),
  cache_control: cacheControl,
  strict: z.boolean().optional(),
  allowed_callers: z
    .array(
      z.enum(['direct', 'code_execution_20250825', 'code_execution_20260120', 'code_execution_20260521']),
    )
    .max(MAX_LIST)
    .optional(),
  defer_loading: z.boolean().optional(),
  eager_input_streaming: z.boolean().nullable().optional(),
  input_examples: z.array(jsonObject).max(MAX_LIST).optional(),
});

/**
 * Anthropic's server and client-run tools by their versioned type (see the header). A tool whose
 * `type` is neither this nor `custom` is explained by this branch (an OpenAI-shaped
 * `{type: "function", function: {…}}` among them), so its words say what both kinds take.
 */
const serverTool = z.looseObject({
  type: z
    .string()
    .max(128)
    .regex(
      /^(?:[a-z][a-z0-9_]*_\d{8}|mcp_toolset|tool_search_tool_(?:bm25|regex))$/,
      'a server tool\'s dated type such as web_search_20250305; a custom tool takes name and input_schema, with no type (or type "custom")',
    ),
});

// The custom tool comes first: with no `type`, it is the branch an error is explained by.
const tool = z.union([customTool, serverTool]);

const toolChoice = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.strictObject({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.strictObject({
    type: z.literal('tool'),
    name: toolName,
    disable_parallel_tool_use: z.boolean().optional(),
  }),
  z.strictObject({ type: z.literal('none') }),
]);

const thinkingDisplay = z.enum(['summarized', 'omitted', 'updates']).nullable().optional();
const blockBinding = z
  .strictObject({ prefix_mismatch_behavior: z.enum(['error', 'drop_block']).nullable().optional() })
  .nullable()
  .optional();

const thinkingEnabled = z.strictObject({
  type: z.literal('enabled'),
  budget_tokens: z.number().int().min(1_024),
  block_binding: blockBinding,
  display: thinkingDisplay,
});
const thinkingDisabled = z.strictObject({ type: z.literal('disabled') });
const thinkingBetweenTools = z.strictObject({ type: z.literal('between_tools') });
const thinkingAdaptive = z.strictObject({
  type: z.literal('adaptive'),
  block_binding: blockBinding,
  display: thinkingDisplay,
});
const thinking = z.discriminatedUnion('type', [
  thinkingEnabled,
  thinkingDisabled,
  thinkingBetweenTools,
  thinkingAdaptive,
]);

const jsonOutputFormat = z.strictObject({ type: z.literal('json_schema'), schema: jsonObject });

const outputConfig = z.strictObject({
  effort,
  format: jsonOutputFormat.nullable().optional(),
  task_budget: z
    .strictObject({ type: z.literal('tokens'), total: count, remaining: count.nullable().optional() })
    .nullable()
    .optional(),
});

const tokensValue = (type: 'input_tokens' | 'tool_uses') =>
  z.strictObject({ type: z.literal(type), value: count });

const contextEdit = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('clear_tool_uses_20250919'),
    clear_at_least: tokensValue('input_tokens').nullable().optional(),
    clear_tool_inputs: z
      .union([z.boolean(), z.array(identifier).max(MAX_TOOLS)])
      .nullable()
      .optional(),
    exclude_tools: z.array(identifier).max(MAX_TOOLS).nullable().optional(),
    keep: tokensValue('tool_uses').optional(),
    trigger: z.discriminatedUnion('type', [tokensValue('input_tokens'), tokensValue('tool_uses')]).optional(),
  }),
  z.strictObject({
    type: z.literal('clear_thinking_20251015'),
    keep: z
      .union([
        z.literal('all'),
        z.discriminatedUnion('type', [
          z.strictObject({ type: z.literal('thinking_turns'), value: count }),
          z.strictObject({ type: z.literal('all') }),
        ]),
      ])
      .optional(),
  }),
  z.strictObject({
    type: z.literal('compact_20260112'),
    instructions: z.string().nullable().optional(),
    pause_after_compaction: z.boolean().optional(),
    trigger: tokensValue('input_tokens').nullable().optional(),
  }),
]);

const mcpServer = z.strictObject({
  type: z.literal('url'),
  name: identifier,
  url: z.string().min(1),
  authorization_token: z.string().nullable().optional(),
  tool_configuration: z
    .strictObject({
      allowed_tools: z.array(identifier).max(MAX_TOOLS).nullable().optional(),
      enabled: z.boolean().nullable().optional(),
    })
    .nullable()
    .optional(),
});

const container = z.union([
  identifier,
  z.strictObject({
    id: identifier.nullable().optional(),
    skills: z
      .array(
        z.strictObject({
          type: z.enum(['anthropic', 'custom']),
          skill_id: identifier,
          version: identifier.optional(),
        }),
      )
      .max(MAX_LIST)
      .nullable()
      .optional(),
  }),
]);

const speed = z.enum(['standard', 'fast']).nullable().optional();

/** A fallback model: the SDK types it with an index signature, so unknown keys pass. */
const fallback = z.looseObject({
  model: identifier,
  max_tokens: count.nullable().optional(),
  output_config: outputConfig.nullable().optional(),
  speed,
  thinking: thinking.nullable().optional(),
});

/** The fields `/v1/messages` and `/v1/messages/count_tokens` share. */
const sharedFields = {
  model: identifier,
  messages: z.array(message).min(1).max(MAX_MESSAGES),
  billing_policy: z
    .strictObject({ type: z.literal('billing_policy'), bill_to: z.enum(['self', 'user_profile']).optional() })
    .nullable()
    .optional(),
  cache_control: cacheControl,
  compaction: z
    .strictObject({ type: z.literal('summarize'), instructions: z.string().nullable().optional() })
    .nullable()
    .optional(),
  context_management: z
    .strictObject({ edits: z.array(contextEdit).max(MAX_LIST).optional() })
    .nullable()
    .optional(),
  mcp_servers: z.array(mcpServer).max(MAX_LIST).optional(),
  output_config: outputConfig.optional(),
  /** Deprecated in favour of `output_config.format`, still accepted by the beta API. */
  output_format: jsonOutputFormat.nullable().optional(),
  speed,
  system: system.optional(),
  thinking: thinking.optional(),
  tool_choice: toolChoice.optional(),
  tools: z.array(tool).max(MAX_TOOLS).optional(),
};

export const messagesRequestSchema = z.strictObject({
  ...sharedFields,
  /** 0 only warms the prompt cache. */
  max_tokens: count,
  container: container.nullable().optional(),
  diagnostics: z
    .strictObject({ previous_message_id: identifier.nullable().optional() })
    .nullable()
    .optional(),
  fallback_credit_token: z
    .union([
      z.string().min(1),
      z.strictObject({ token: z.string().min(1), mode: z.enum(['strict', 'best_effort']).optional() }),
    ])
    .nullable()
    .optional(),
  fallbacks: z
    .union([z.literal('default'), z.array(fallback).max(MAX_LIST)])
    .nullable()
    .optional(),
  inference_geo: z.string().max(256).nullable().optional(),
  metadata: z.strictObject({ user_id: z.string().max(256).nullable().optional() }).optional(),
  service_tier: z.enum(['auto', 'standard_only']).optional(),
  stop_sequences: z.array(z.string()).max(MAX_STOP_SEQUENCES).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  thread: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('create') }),
      z.strictObject({ type: z.literal('continue'), previous_message_id: identifier }),
    ])
    .nullable()
    .optional(),
  top_k: count.optional(),
  top_p: z.number().min(0).max(1).optional(),
});

export const countTokensRequestSchema = z.strictObject(sharedFields);

export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;
/** A block of a user or assistant message. */
export type ContentBlock = z.infer<typeof contentBlock>;
