import { randomUUID } from 'node:crypto';
import { fileReference } from '../../canonical/file-reference.js';
import { readSignature, shownSignature, signaturePrefix } from '../../canonical/foreign-signature.js';
import {
  type AssistantPart,
  type BlockDelta,
  type BlockStart,
  type ChatRequest,
  type ChatResponse,
  type ChatUsage,
  type DocumentPart,
  type ImagePart,
  type Message,
  type ReasoningSigner,
  type StopReason,
  type StreamEvent,
  type TextPart,
  type ToolChoice,
  type ToolDefinition,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import { badRequest, type GatewayError } from '../../errors/gateway-error.js';
import { anthropicToolUseId as toolUseId } from '../../providers/index.js';
import { traced, tracedAll, tracedClientParam } from '../part-origins.js';
import type { ChatSurface } from '../types.js';
import { anthropicErrorBody, anthropicErrorEvent, anthropicField } from './envelope.js';
import type { ContentBlock, CountTokensRequest, MessagesRequest } from './schema.js';

/**
 * The Anthropic Messages surface over the canonical form, for providers that speak another
 * format (Anthropic providers get the validated body untouched).
 *
 * Going in, what the canonical form has no room for is dropped where leaving it out costs at most
 * some caching, bookkeeping or a hint, and the messages and tools arrive whole: `cache_control`
 * everywhere (prompt caching is each provider's own affair), citations and citation settings, a
 * document's `context`, image `transformations`, a replayed tool call's `caller`,
 * `context_management`, `compaction`, `diagnostics`, `billing_policy`, `fallbacks`,
 * `fallback_credit_token`, `inference_geo`, `service_tier`, `speed`, `output_config.task_budget`,
 * thinking `display` and `block_binding`, and tool-definition extras (`allowed_callers`,
 * `defer_loading`, `eager_input_streaming`, `input_examples`). What would change the answer is
 * refused with UnsupportedFeature instead: server tools and the blocks they produced, MCP
 * servers, containers, server-side threads, tool additions and removals inside the conversation,
 * search results, and `max_tokens: 0` (a prompt cache warming, which no other format has: they
 * refuse 0 or read it as no limit). System messages inside the conversation stay instructions at
 * their place.
 * A provider's refusal of a canonical part is named by the client's path to it (`clientParam`).
 *
 * Coming out, answers follow the SDK's `Message` and stream event types, and what the canonical
 * answer has nothing to say about is left out, as the API itself leaves it out (no `citations`,
 * `container`, `diagnostics`, `stop_details` or usage details): clients such as the AI SDK accept
 * those fields absent, not null. `stop_reason` and `stop_sequence` are null where the API sends
 * null, and cache token counts 0.
 */

/** A validated body of either endpoint; count_tokens bodies lack the generation settings. */
type SurfaceBody = MessagesRequest | CountTokensRequest;
type BodyMessage = SurfaceBody['messages'][number];
type SystemMessage = Extract<BodyMessage, { role: 'system' }>;
type Tool = NonNullable<SurfaceBody['tools']>[number];
type CustomTool = Extract<Tool, { input_schema: unknown }>;
type ToolResultBlock = Extract<ContentBlock, { type: 'tool_result' }>;
type ResultBlock = Exclude<NonNullable<ToolResultBlock['content']>, string>[number];
type ImageBlock = Extract<ContentBlock, { type: 'image' }>;
type DocumentBlock = Extract<ContentBlock, { type: 'document' }>;
type ContentPart = TextPart | ImagePart | DocumentPart;
type Effort = NonNullable<NonNullable<SurfaceBody['output_config']>['effort']>;

type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal';

interface AnthropicUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
  output_tokens_details?: { thinking_tokens: number };
}

type AnthropicBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | {
      type: 'tool_use';
      id: string;
      name: string;
      input: Record<string, unknown>;
      caller: { type: 'direct' };
    };

/** The SDK's `RefusalStopDetails`; the canonical answer never knows the category or explanation. */
interface StopDetails {
  type: 'refusal';
}

interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: AnthropicBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  stop_details?: StopDetails;
  usage: AnthropicUsage;
}

// ---- Request: Anthropic body → canonical ----

const text = (value: string): TextPart => ({ type: 'text', text: value });

const needsAnthropic = (what: string, param: string): UnsupportedFeature =>
  new UnsupportedFeature(`${what} need an Anthropic model`, param);

function toCanonical(body: SurfaceBody): ChatRequest {
  if (body.mcp_servers && body.mcp_servers.length > 0) throw needsAnthropic('MCP servers', 'mcp_servers');
  const generation = 'max_tokens' in body ? body : undefined;
  if (generation?.thread) throw needsAnthropic('Server-side threads', 'thread');
  // A container holds files and skills the code execution tools work on, at Anthropic only.
  if (generation?.container) throw needsAnthropic('Containers', 'container');
  if (generation?.max_tokens === 0) {
    throw new UnsupportedFeature(
      "0 only warms Anthropic's prompt cache; use an Anthropic model or a limit of at least 1",
      'max_tokens',
    );
  }
  // Tool results name their tool for formats (Gemini) that match results to calls by name.
  const toolNames = new Map<string, string>();
  const messages = visibleMessages(body.messages).map(([message, i]) =>
    toMessage(message, `messages[${i}]`, toolNames),
  );
  const tools = body.tools?.map((tool, i) => toTool(tool, `tools[${i}]`));
  const choice = body.tool_choice;
  const thinking = toThinking(body.thinking, lastEffort(body));
  const format = body.output_config?.format ?? body.output_format;
  const stop = generation?.stop_sequences;
  const user = generation?.metadata?.user_id;
  return {
    model: body.model,
    system: toSystem(body.system),
    messages,
    ...(tools && tools.length > 0 && { tools }),
    ...(choice && { toolChoice: toToolChoice(choice) }),
    ...(choice?.type !== 'none' &&
      choice?.disable_parallel_tool_use === true && { parallelToolCalls: false }),
    ...(generation && { maxTokens: generation.max_tokens }),
    ...(generation?.temperature !== undefined && { temperature: generation.temperature }),
    ...(generation?.top_p !== undefined && { topP: generation.top_p }),
    ...(generation?.top_k !== undefined && { topK: generation.top_k }),
    ...(stop && stop.length > 0 && { stop }),
    ...(format && {
      responseFormat: { type: 'json_schema', name: 'response', schema: format.schema, constrained: true },
    }),
    ...(thinking && { thinking }),
    ...(user && { user }),
    stream: generation?.stream === true,
  };
}

function toSystem(system: SurfaceBody['system']): TextPart[] {
  if (system === undefined || system === '') return [];
  if (typeof system === 'string') return [{ type: 'text', text: system }];
  return system.map((block) => ({ type: 'text', text: block.text }));
}

function toMessage(message: BodyMessage, path: string, toolNames: Map<string, string>): Message {
  if (message.role === 'system') return traced(toInstruction(message, path), path);
  const { content } = message;
  const blocks: ContentBlock[] = typeof content === 'string' ? [{ type: 'text', text: content }] : content;
  // A string is one text part, which the client knows as the message's `content`.
  const where = (j: number) => (typeof content === 'string' ? `${path}.content` : `${path}.content[${j}]`);
  if (message.role === 'user') {
    return traced(
      {
        role: 'user',
        content: blocks.flatMap((block, j) => tracedAll(toUserParts(block, where(j), toolNames), where(j))),
      },
      path,
    );
  }
  return traced(
    {
      role: 'assistant',
      content: blocks.map((block, j) => traced(toAssistantPart(block, where(j), toolNames), where(j))),
    },
    path,
  );
}

/**
 * A system message inside the conversation stays an instruction at its place (each provider's
 * encoder keeps the place where its format can). Tool additions and removals change which tools
 * the model may call from there on, which only Anthropic tracks.
 */
function toInstruction(message: SystemMessage, path: string): Message {
  const { content } = message;
  if (content === undefined || typeof content === 'string') {
    return { role: 'system', content: content ? tracedAll([text(content)], `${path}.content`) : [] };
  }
  return {
    role: 'system',
    content: content.map((block, j) => {
      if (block.type !== 'text') throw needsAnthropic(`'${block.type}' blocks`, `${path}.content[${j}]`);
      return traced(text(block.text), `${path}.content[${j}]`);
    }),
  };
}

/**
 * The messages the model sees: a system message with `clear_at: "next_user_message"` is hidden
 * once a user message follows it (Anthropic keeps it in the array but no longer shows it).
 */
function visibleMessages(messages: readonly BodyMessage[]): Array<[BodyMessage, number]> {
  let userAfter = false;
  const visible: Array<[BodyMessage, number]> = [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role === 'user') userAfter = true;
    if (message.role === 'system' && message.clear_at === 'next_user_message' && userAfter) continue;
    visible.push([message, i]);
  }
  return visible.reverse();
}

/** The effort for the coming answer: the last system message that sets one overrides the body's. */
function lastEffort(body: SurfaceBody): Effort | undefined {
  let effort = body.output_config?.effort ?? undefined;
  for (const message of body.messages) {
    if (message.role === 'system' && message.output_config?.effort) effort = message.output_config.effort;
  }
  return effort;
}

function toUserParts(block: ContentBlock, path: string, toolNames: Map<string, string>): UserPart[] {
  switch (block.type) {
    case 'text':
      return [{ type: 'text', text: block.text }];
    case 'image':
      return [toImage(block)];
    case 'document':
      return toDocument(block);
    case 'tool_result': {
      const name = toolNames.get(block.tool_use_id);
      return [
        {
          type: 'tool_result',
          toolCallId: block.tool_use_id,
          ...(name !== undefined && { name }),
          content: toResultContent(block.content, `${path}.content`),
          ...(block.is_error !== undefined && { isError: block.is_error }),
        },
      ];
    }
    case 'thinking':
    case 'redacted_thinking':
    case 'tool_use':
      throw misplaced(block.type, 'assistant', path);
    default:
      throw needsAnthropic(`'${block.type}' blocks`, path);
  }
}

function toAssistantPart(block: ContentBlock, path: string, toolNames: Map<string, string>): AssistantPart {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text };
    case 'thinking': {
      // An empty signature is what answers from other formats carried: there is none to replay.
      if (!block.signature) return { type: 'thinking', text: block.thinking };
      const { value, signedBy } = readSignature(block.signature, 'anthropic');
      return { type: 'thinking', text: block.thinking, signature: value, ...(signedBy && { signedBy }) };
    }
    case 'redacted_thinking': {
      const { value, signedBy } = readSignature(block.data, 'anthropic');
      return { type: 'redacted_thinking', data: value, ...(signedBy && { signedBy }) };
    }
    case 'tool_use':
      toolNames.set(block.id, block.name);
      return { type: 'tool_call', id: block.id, name: block.name, arguments: JSON.stringify(block.input) };
    case 'image':
    case 'document':
    case 'tool_result':
      throw misplaced(block.type, 'user', path);
    default:
      throw needsAnthropic(`'${block.type}' blocks`, path);
  }
}

function toImage(block: ImageBlock): ImagePart {
  const { source } = block;
  switch (source.type) {
    case 'base64':
      return { type: 'image', source: { kind: 'base64', mediaType: source.media_type, data: source.data } };
    case 'url':
      return { type: 'image', source: { kind: 'url', url: source.url } };
    case 'file':
      return { type: 'image', source: fileReference(source.file_id, 'anthropic') };
  }
}

/**
 * A document as canonical parts. Plain-text and inline-content documents are their text (and
 * images): every format can carry those, while few take a text file. The title stands in for a
 * file name, which formats such as OpenAI's show the model.
 */
function toDocument(block: DocumentBlock): ContentPart[] {
  const { source } = block;
  const filename = block.title ? { filename: block.title } : {};
  switch (source.type) {
    case 'base64':
      return [
        {
          type: 'document',
          source: { kind: 'base64', mediaType: source.media_type, data: source.data },
          ...filename,
        },
      ];
    case 'url':
      return [{ type: 'document', source: { kind: 'url', url: source.url }, ...filename }];
    case 'file':
      return [{ type: 'document', source: fileReference(source.file_id, 'anthropic'), ...filename }];
    case 'text':
      return [{ type: 'text', text: source.data }];
    case 'content':
      if (typeof source.content === 'string') return [{ type: 'text', text: source.content }];
      return source.content.map((inner) =>
        inner.type === 'text' ? { type: 'text', text: inner.text } : toImage(inner),
      );
  }
}

function toResultContent(content: ToolResultBlock['content'], path: string): ContentPart[] {
  if (content === undefined) return [];
  if (typeof content === 'string') return tracedAll([text(content)], path);
  return content.flatMap((block: ResultBlock, k) =>
    tracedAll(toResultParts(block, `${path}[${k}]`), `${path}[${k}]`),
  );
}

function toResultParts(block: ResultBlock, path: string): ContentPart[] {
  switch (block.type) {
    case 'text':
      return [text(block.text)];
    case 'image':
      return [toImage(block)];
    case 'document':
      return toDocument(block);
    default:
      throw needsAnthropic(`'${block.type}' blocks`, path);
  }
}

function toTool(tool: Tool, path: string): ToolDefinition {
  if (!isCustomTool(tool)) throw needsAnthropic('Server tools', path);
  // Traced, as its parameters are, so that a refusal of its strict names the client's tool.
  return traced(
    {
      name: tool.name,
      ...(tool.description !== undefined && { description: tool.description }),
      // Traced so that a refusal of part of it names the client's field.
      parameters: traced(tool.input_schema, `${path}.input_schema`),
      ...(tool.strict !== undefined && { strict: tool.strict }),
      // Anthropic's strict tools hold the call to the schema as OpenAI's strict mode does only in its subset.
      ...(tool.strict === true && { constrained: true }),
    },
    path,
  );
}

function isCustomTool(tool: Tool): tool is CustomTool {
  return tool.type === undefined || tool.type === null || tool.type === 'custom';
}

function toToolChoice(choice: NonNullable<SurfaceBody['tool_choice']>): ToolChoice {
  switch (choice.type) {
    case 'auto':
      return { type: 'auto' };
    case 'any':
      return { type: 'required' };
    case 'tool':
      return { type: 'tool', name: choice.name };
    case 'none':
      return { type: 'none' };
  }
}

/**
 * Anthropic's thinking switch and `output_config.effort` in one. Adaptive and between-tools
 * thinking leave the amount to the model, which is what "enabled without a budget" means.
 */
function toThinking(config: SurfaceBody['thinking'], effort: Effort | undefined): ChatRequest['thinking'] {
  let thinking: ChatRequest['thinking'];
  switch (config?.type) {
    case 'enabled':
      thinking = { enabled: true, budgetTokens: config.budget_tokens };
      break;
    case 'disabled':
      thinking = { enabled: false };
      break;
    case 'adaptive':
    case 'between_tools':
      thinking = { enabled: true };
      break;
  }
  return effort ? { ...(thinking ?? { enabled: true }), effort } : thinking;
}

// ---- Answer: canonical → Anthropic ----

const STOP_REASONS: Readonly<Record<StopReason, AnthropicStopReason>> = {
  end_turn: 'end_turn',
  max_tokens: 'max_tokens',
  stop_sequence: 'stop_sequence',
  tool_use: 'tool_use',
  pause_turn: 'pause_turn',
  refusal: 'refusal',
  content_filter: 'refusal',
};

/**
 * A block in a message of the wrong role, which no provider takes: the request's own fault.
 * Anthropic's envelope has no `param`, so the message names the block as Anthropic does.
 */
const misplaced = (type: string, role: 'user' | 'assistant', path: string): GatewayError =>
  badRequest(`${anthropicField(path)}: '${type}' blocks belong in ${role} messages`, {
    param: path,
    code: 'invalid_value',
  });

const hex24 = (): string => randomUUID().replace(/-/g, '').slice(0, 24);

const messageId = (id: string): string => id || `msg_${hex24()}`;

/**
 * A tool call's arguments as the object Anthropic's `input` must be. Arguments cut off by the
 * token limit are unfinished JSON: the call is kept with an empty input (the stop reason says it
 * is incomplete), so the rest of the answer is not lost. Unreadable arguments of a finished answer
 * are the provider's fault and fail it.
 */
function toolInput(args: string, param: string, truncated: boolean): Record<string, unknown> {
  if (args.trim() === '') return {};
  let input: unknown;
  try {
    input = JSON.parse(args);
  } catch {
    if (truncated) return {};
    throw new UnsupportedFeature('Tool call arguments are not valid JSON', param);
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new UnsupportedFeature('Tool call arguments are not a JSON object', param);
  }
  return input as Record<string, unknown>;
}

/** Anthropic's `input_tokens` excludes cache reads and writes; the canonical count includes them. */
function toUsage(usage: Partial<ChatUsage>): AnthropicUsage {
  const cached = usage.cachedTokens ?? 0;
  const created = usage.cacheCreationTokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage.inputTokens ?? 0) - cached - created),
    cache_creation_input_tokens: created,
    cache_read_input_tokens: cached,
    output_tokens: usage.outputTokens ?? 0,
    ...(usage.reasoningTokens !== undefined && {
      output_tokens_details: { thinking_tokens: usage.reasoningTokens },
    }),
  };
}

/** `stop_details`, present only for a refusal. */
const stopDetails = (reason: AnthropicStopReason): { stop_details?: StopDetails } =>
  reason === 'refusal' ? { stop_details: { type: 'refusal' } } : {};

function toBlock(part: AssistantPart, index: number, truncated: boolean): AnthropicBlock {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'thinking':
      return {
        type: 'thinking',
        thinking: part.text,
        signature:
          part.signature === undefined ? '' : shownSignature(part.signature, part.signedBy, 'anthropic'),
      };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: shownSignature(part.data, part.signedBy, 'anthropic') };
    case 'tool_call':
      return {
        type: 'tool_use',
        id: toolUseId(part.id),
        name: part.name,
        input: toolInput(part.arguments, `content[${index}].input`, truncated),
        caller: { type: 'direct' },
      };
  }
}

function fromCanonical(response: ChatResponse): AnthropicMessage {
  const stopReason = STOP_REASONS[response.stopReason];
  return {
    id: messageId(response.id),
    type: 'message',
    role: 'assistant',
    model: response.model,
    content: response.content.map((part, i) => toBlock(part, i, response.stopReason === 'max_tokens')),
    stop_reason: stopReason,
    stop_sequence: response.stopSequence ?? null,
    ...stopDetails(stopReason),
    usage: toUsage(response.usage),
  };
}

// ---- Stream: canonical events → Anthropic SSE ----

const sse = (type: string, payload: object): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;

/** A block as `content_block_start` opens it: empty, filled by the deltas that follow. */
function openBlock(block: BlockStart): AnthropicBlock {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: '' };
    case 'thinking':
      return { type: 'thinking', thinking: '', signature: '' };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: shownSignature(block.data, block.signedBy, 'anthropic') };
    case 'tool_call':
      // A Gemini thought signature has no place in Anthropic's format and is dropped.
      return {
        type: 'tool_use',
        id: toolUseId(block.id),
        name: block.name,
        input: {},
        caller: { type: 'direct' },
      };
  }
}

function toDelta(delta: BlockDelta): Record<string, string> {
  switch (delta.type) {
    case 'text':
      return { type: 'text_delta', text: delta.text };
    case 'thinking':
      return { type: 'thinking_delta', thinking: delta.text };
    case 'signature':
      return { type: 'signature_delta', signature: delta.signature };
    case 'arguments':
      return { type: 'input_json_delta', partial_json: delta.json };
  }
}

function encodeEvent(event: StreamEvent): string {
  switch (event.type) {
    case 'start': {
      // The input the provider counted as it started (LangChain reads input only here), and no
      // output: `message_delta` carries the whole answer's, and LangChain adds the two.
      const { inputTokens, cachedTokens, cacheCreationTokens } = event.usage ?? {};
      const message: AnthropicMessage = {
        id: messageId(event.id),
        type: 'message',
        role: 'assistant',
        model: event.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: toUsage({ inputTokens, cachedTokens, cacheCreationTokens }),
      };
      return sse('message_start', { message });
    }
    case 'block_start':
      return sse('content_block_start', { index: event.index, content_block: openBlock(event.block) });
    case 'block_delta':
      return sse('content_block_delta', { index: event.index, delta: toDelta(event.delta) });
    case 'block_stop':
      return sse('content_block_stop', { index: event.index });
    case 'finish': {
      const stopReason = STOP_REASONS[event.stopReason];
      const usage = toUsage(event.usage);
      return (
        sse('message_delta', {
          delta: {
            stop_reason: stopReason,
            stop_sequence: event.stopSequence ?? null,
            ...stopDetails(stopReason),
          },
          // The SDK's MessageDeltaUsage: the whole message's totals.
          usage,
        }) + sse('message_stop', {})
      );
    }
  }
}

export const anthropicSurface: ChatSurface<MessagesRequest> = {
  format: 'anthropic',
  toCanonical,
  // Top-level fields keep their canonical (OpenAI) names, which are Anthropic's too, but for this one.
  clientParam: (param, request) => (param === 'stop' ? 'stop_sequences' : tracedClientParam(param, request)),
  fromCanonical,
  // Anthropic's stream always carries usage, asked for or not.
  streamEncoder: () => {
    // Thinking blocks another format signed whose signature has not begun: its first piece goes
    // out behind the prefix that names the signer (`shownSignature`).
    const wrapping = new Map<number, ReasoningSigner>();
    return {
      event(event: StreamEvent): string {
        if (event.type === 'block_start' && event.block.type === 'thinking') {
          const { signedBy } = event.block;
          if (signedBy !== undefined && signedBy !== 'anthropic') wrapping.set(event.index, signedBy);
        } else if (event.type === 'block_delta' && event.delta.type === 'signature') {
          const signedBy = wrapping.get(event.index);
          if (signedBy !== undefined) {
            wrapping.delete(event.index);
            const signature = signaturePrefix(signedBy) + event.delta.signature;
            return encodeEvent({ ...event, delta: { type: 'signature', signature } });
          }
        }
        return encodeEvent(event);
      },
    };
  },
  errorBody: anthropicErrorBody,
  errorEvent: anthropicErrorEvent,
};
