import { createHash } from 'node:crypto';
import { offerAllowedOnly } from '../../canonical/allowed-tools.js';
import { functionArguments } from '../../canonical/custom-tools.js';
import {
  type AssistantPart,
  type ChatRequest,
  type ChatResponse,
  type ChatUsage,
  type DocumentPart,
  type ImagePart,
  type Message,
  type ReasoningEffort,
  replayableTo,
  type StopReason,
  type TextPart,
  type ToolCallPart,
  type ToolChoice,
  type ToolDefinition,
  type ToolResultPart,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import { documentText } from '../../canonical/text-document.js';
import type { Usage } from '../types.js';
import {
  argumentsObject,
  count,
  generatedCallId,
  isRecord,
  refuseAudioVideo,
  refuseForeignFile,
  refuseLogprobs,
  unreportedUsage,
} from '../wire-values.js';
import { refusesTemperature } from './passthrough.js';
import { strictSchema } from './strict-schema.js';

/**
 * Canonical chat ⇄ Anthropic's Messages API body. The canonical form follows Anthropic's content
 * blocks, so most of the mapping is one to one; what differs is where Anthropic is stricter
 * (required `max_tokens`, tool results first in their turn, signed thinking only, ids of a fixed
 * alphabet, no text or stop sequences of only whitespace, a temperature of at most 1 and never
 * together with `top_p`, while the model thinks a temperature of 1 only, no `top_k` and a `top_p`
 * of at least 0.95, signed thinking at the start of a tool loop it continues, structured
 * outputs' and strict tools' schemas in the subset its constrained decoding takes) and where it
 * has no equivalent (`json_object`, effort-only thinking, a seed or penalties, which are refused).
 */

type Block = Record<string, unknown>;
type ContentPart = TextPart | ImagePart | DocumentPart;

/** Anthropic requires `max_tokens`; this is what a request that names no limit gets. */
const DEFAULT_MAX_TOKENS = 4096;
/** The lowest top_p Anthropic takes while the model thinks. */
const MIN_THINKING_TOP_P = 0.95;
/** Anthropic refuses thinking budgets below this. */
const MIN_THINKING_BUDGET = 1024;
/**
 * Thinking budgets for an effort given without a budget (OpenAI's `reasoning_effort`). `max` is
 * Claude Code's own largest budget; `medium` also serves thinking switched on with neither.
 */
const EFFORT_BUDGETS: Record<Exclude<ReasoningEffort, 'none'>, number> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 24576,
  max: 31999,
};
/** Anthropic has no plain JSON mode; `json_object` becomes this instruction at the end of the system prompt. */
export const JSON_OBJECT_INSTRUCTION =
  'Respond with a single JSON object and nothing else: no prose and no Markdown code fences.';

/** The image types Anthropic reads. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const TOOL_USE_ID = /^[a-zA-Z0-9_-]+$/;
/** A rewritten id keeps at most this much of the original, then its hash. */
const MAX_ID_STEM = 200;

/**
 * The Messages API body for `/messages`, or for `/messages/count_tokens` with `countTokens`
 * (which takes no generation settings: limits, sampling, stop sequences, metadata, stream).
 */
export function encodeAnthropicRequest(
  given: ChatRequest,
  options: { countTokens?: boolean },
): Record<string, unknown> {
  // Anthropic has no allowed-tools choice: it is offered only those tools.
  const request = offerAllowedOnly(given);
  const tools = request.tools ?? [];
  const system = encodeSystem(request);
  const messages = encodeMessages(request.messages);
  const thinking = encodeThinking(request, messages);
  const toolChoice = tools.length > 0 ? encodeToolChoice(request, thinking?.enabled === true) : undefined;
  const format = request.responseFormat;
  const common = {
    ...(system !== undefined && { system }),
    messages,
    ...(tools.length > 0 && { tools: tools.map(encodeTool) }),
    ...(toolChoice && { tool_choice: toolChoice }),
    ...(thinking && { thinking: thinking.config }),
    ...(format?.type === 'json_schema' &&
      format.schema !== undefined && {
        output_config: {
          format: {
            type: 'json_schema',
            schema: strictSchema(format.schema, 'response_format.json_schema.schema'),
          },
        },
      }),
  };
  if (options.countTokens) return { model: request.model, ...common };
  refuseUnsupportedSampling(request);
  refuseLogprobs(request, 'Anthropic');
  const asked = withoutUntakenDefault(request, thinking?.enabled === true);
  if (thinking?.enabled === true) refuseSamplingWhileThinking(asked);
  const sampling = encodeSampling(asked);
  return {
    model: request.model,
    max_tokens: request.maxTokens ?? thinking?.maxTokens ?? DEFAULT_MAX_TOKENS,
    ...common,
    ...(request.stop !== undefined &&
      request.stop.length > 0 && { stop_sequences: encodeStop(request.stop) }),
    ...sampling,
    ...(request.user !== undefined && { metadata: { user_id: request.user } }),
    ...(request.stream && { stream: true }),
  };
}

/**
 * Anthropic has no seed and no frequency or presence penalty. Sending the request without them
 * would answer a different question, so it is refused; a penalty of 0 is no penalty and is
 * dropped.
 */
function refuseUnsupportedSampling(request: ChatRequest): void {
  if (request.seed !== undefined) {
    throw new UnsupportedFeature('Anthropic models do not take a seed', 'seed');
  }
  if (request.frequencyPenalty !== undefined && request.frequencyPenalty !== 0) {
    throw new UnsupportedFeature('Anthropic models do not take a frequency penalty', 'frequency_penalty');
  }
  if (request.presencePenalty !== undefined && request.presencePenalty !== 0) {
    throw new UnsupportedFeature('Anthropic models do not take a presence penalty', 'presence_penalty');
  }
}

/** `request` without an alias's default temperature that Anthropic would refuse (see `temperatureIsDefault`). */
function withoutUntakenDefault(request: ChatRequest, thinking: boolean): ChatRequest {
  const { temperature } = request;
  if (!request.temperatureIsDefault || temperature === undefined) return request;
  if (!refusesTemperature(temperature, thinking)) return request;
  const { temperature: _left, ...rest } = request;
  return rest;
}

/**
 * Anthropic refuses a temperature other than 1 and any top_k while the model thinks, and takes a
 * top_p only from 0.95 to 1. Left out, they would give an answer sampled otherwise than the client
 * asked (a temperature of 0 for repeatable output), so they are refused, as a forced tool call is.
 * Worded without field names: the param names each as the client's surface sent it.
 */
function refuseSamplingWhileThinking(request: ChatRequest): void {
  const { temperature, topP, topK } = request;
  if (temperature !== undefined && temperature !== 1) {
    throw new UnsupportedFeature(
      'Anthropic takes no temperature but 1 while the model thinks',
      'temperature',
    );
  }
  if (topK !== undefined) {
    throw new UnsupportedFeature('Anthropic takes no top-k sampling while the model thinks', 'top_k');
  }
  if (topP !== undefined && topP < MIN_THINKING_TOP_P) {
    throw new UnsupportedFeature(
      `Anthropic takes a top-p from ${MIN_THINKING_TOP_P} to 1 while the model thinks`,
      'top_p',
    );
  }
}

/**
 * Temperature, top_p and top_k. Anthropic's temperature runs from 0 to 1 (OpenAI's to 2), so a
 * higher one is refused rather than quietly lowered. Current models refuse `temperature` and
 * `top_p` together, which OpenAI clients often send both of: only one goes, `top_p` when the
 * temperature is Anthropic's default (1, no setting at all), else the temperature, as Anthropic
 * advises.
 */
function encodeSampling(request: ChatRequest): Block {
  const { temperature, topP, topK } = request;
  if (temperature !== undefined && temperature > 1) {
    throw new UnsupportedFeature('Anthropic takes a temperature from 0 to 1', 'temperature');
  }
  const both = temperature !== undefined && topP !== undefined;
  return {
    ...(temperature !== undefined && !(both && temperature === 1) && { temperature }),
    ...(topP !== undefined && !(both && temperature !== 1) && { top_p: topP }),
    ...(topK !== undefined && { top_k: topK }),
  };
}

/** Text Anthropic takes as no text at all: it refuses blocks (and stop sequences) of only whitespace. */
const blank = (text: string): boolean => text.trim() === '';

/**
 * Anthropic refuses stop sequences that are empty or only whitespace (`\n`, a favourite of
 * completion-style clients); leaving one out would let the answer run past where it was asked to
 * stop, so the request is refused instead.
 */
function encodeStop(stop: string[]): string[] {
  if (stop.some(blank)) {
    throw new UnsupportedFeature(
      'Anthropic takes only stop sequences with a non-whitespace character',
      'stop',
    );
  }
  return stop;
}

/** One part goes as a plain string, several as text blocks, so that each keeps its boundary. */
function encodeSystem(request: ChatRequest): string | Block[] | undefined {
  const texts = request.system.map(({ text }) => text).filter((text) => !blank(text));
  // A schema-less `json_schema` asks for JSON all the same, so it gets the instruction too.
  const format = request.responseFormat;
  if (format?.type === 'json_object' || (format?.type === 'json_schema' && format.schema === undefined)) {
    texts.push(JSON_OBJECT_INSTRUCTION);
  }
  if (texts.length === 0) return undefined;
  if (texts.length === 1) return texts[0];
  return texts.map((text) => ({ type: 'text', text }));
}

/**
 * Anthropic refuses text blocks that are empty or only whitespace, and turns without content, so
 * both are left out (a turn that held only those, or only unsigned thinking, disappears; Anthropic
 * joins the turns around it). It refuses a request with no turn at all as well, which the client
 * is told in its own terms (the last message it sent, or its messages when it sent none) rather
 * than as the provider's refusal of a body it never wrote.
 */
function encodeMessages(messages: Message[]): Block[] {
  const out: Block[] = [];
  messages.forEach((message, i) => {
    const path = `messages[${i}].content`;
    // An instruction inside the conversation stays one, where it stood (Anthropic's system message).
    const content =
      message.role === 'assistant'
        ? encodeAssistantContent(message.content, path)
        : encodeUserContent(message.content, path);
    if (content.length > 0) out.push({ role: message.role, content });
  });
  if (out.length === 0) {
    throw new UnsupportedFeature(
      'Anthropic needs a message with content, and none is left once text of only whitespace and thinking it cannot take back are left out; send a message with text',
      messages.length > 0 ? `messages[${messages.length - 1}]` : 'messages',
    );
  }
  return out;
}

/** Anthropic requires a turn's tool results before anything else in it. */
function encodeUserContent(parts: UserPart[], path: string): Block[] {
  const results: Block[] = [];
  const rest: Block[] = [];
  parts.forEach((part, j) => {
    const param = `${path}[${j}]`;
    if (part.type === 'tool_result') results.push(encodeToolResult(part, param));
    else if (part.type === 'audio' || part.type === 'video') refuseAudioVideo(part, 'Anthropic', param);
    else if (part.type !== 'text') rest.push(encodeMedia(part, param));
    else if (!blank(part.text)) rest.push({ type: 'text', text: part.text });
  });
  return [...results, ...rest];
}

function encodeAssistantContent(parts: AssistantPart[], path: string): Block[] {
  const out: Block[] = [];
  parts.forEach((part, j) => {
    switch (part.type) {
      case 'text':
        if (!blank(part.text)) out.push({ type: 'text', text: part.text });
        break;
      // Anthropic takes thinking back only with its own signature; unsigned reasoning (a summary,
      // an OpenAI-format provider's) or another provider's signed one cannot be replayed and is
      // dropped.
      case 'thinking':
        if (part.signature && replayableTo(part, 'anthropic'))
          out.push({ type: 'thinking', thinking: part.text, signature: part.signature });
        break;
      case 'redacted_thinking':
        if (replayableTo(part, 'anthropic')) out.push({ type: 'redacted_thinking', data: part.data });
        break;
      case 'tool_call':
        out.push(encodeToolUse(part, `${path}[${j}]`));
        break;
    }
  });
  return out;
}

function encodeToolUse(part: ToolCallPart, param: string): Block {
  return {
    type: 'tool_use',
    id: toolUseId(part.id),
    name: part.name,
    input: argumentsObject(functionArguments(part), 'Anthropic', `${param}.arguments`),
  };
}

function encodeToolResult(part: ToolResultPart, param: string): Block {
  const content: Block[] = [];
  part.content.forEach((inner, k) => {
    if (inner.type !== 'text') content.push(encodeMedia(inner, `${param}.content[${k}]`));
    else if (!blank(inner.text)) content.push({ type: 'text', text: inner.text });
  });
  return {
    type: 'tool_result',
    tool_use_id: toolUseId(part.toolCallId),
    ...(content.length > 0 && { content }),
    ...(part.isError === true && { is_error: true }),
  };
}

/**
 * Other providers' tool call ids may hold characters Anthropic refuses (`functions.get:0`). Such
 * an id is rewritten the same way in the call and in its result, so the two still match, with a
 * hash of the original so that ids differing only in those characters stay apart.
 */
export function toolUseId(id: string): string {
  if (TOOL_USE_ID.test(id)) return id;
  if (id === '') return generatedCallId();
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${id.slice(0, MAX_ID_STEM).replace(/[^a-zA-Z0-9_-]/g, '_')}_${hash}`;
}

function encodeMedia(part: Exclude<ContentPart, TextPart>, param: string): Block {
  return part.type === 'image' ? encodeImage(part, param) : encodeDocument(part, param);
}

/** Anthropic reads image URLs itself, so a URL goes as one; the gateway never fetches it. */
function encodeImage(part: ImagePart, param: string): Block {
  const { source } = part;
  switch (source.kind) {
    case 'base64': {
      // `image/jpg` is a common misspelling of JPEG's media type, which Anthropic takes only as `image/jpeg`.
      const mediaType = source.mediaType === 'image/jpg' ? 'image/jpeg' : source.mediaType;
      if (!IMAGE_TYPES.has(mediaType)) {
        throw new UnsupportedFeature('Anthropic takes images as JPEG, PNG, GIF or WebP', `${param}.source`);
      }
      return { type: 'image', source: { type: 'base64', media_type: mediaType, data: source.data } };
    }
    case 'url':
      return { type: 'image', source: { type: 'url', url: source.url } };
    case 'file':
      refuseForeignFile(source, 'anthropic', 'Anthropic', `${param}.source`);
      return { type: 'image', source: { type: 'file', file_id: source.fileId } };
  }
}

/**
 * Anthropic takes documents as PDFs (inline, by URL, or as an uploaded file) or as plain text,
 * which it wants as the text itself rather than base64 (any `text/*` document goes so). The file
 * name becomes the title.
 */
function encodeDocument(part: DocumentPart, param: string): Block {
  const { source } = part;
  const title = part.filename !== undefined ? { title: part.filename } : {};
  switch (source.kind) {
    case 'base64': {
      if (source.mediaType === 'application/pdf') {
        return {
          type: 'document',
          source: { type: 'base64', media_type: 'application/pdf', data: source.data },
          ...title,
        };
      }
      // Anthropic's text source is `text/plain` alone; Markdown, CSV and the like are text too.
      const data = documentText(part, `${param}.source`);
      if (data === undefined) {
        throw new UnsupportedFeature('Anthropic takes documents as PDF or plain text', `${param}.source`);
      }
      return { type: 'document', source: { type: 'text', media_type: 'text/plain', data }, ...title };
    }
    case 'url':
      return { type: 'document', source: { type: 'url', url: source.url }, ...title };
    case 'file':
      refuseForeignFile(source, 'anthropic', 'Anthropic', `${param}.source`);
      return { type: 'document', source: { type: 'file', file_id: source.fileId }, ...title };
  }
}

/**
 * Anthropic requires `type: 'object'`, which a tool without parameters (`{}` in OpenAI's format)
 * lacks. A strict tool's schema is held to what structured outputs take.
 */
function encodeTool(tool: ToolDefinition, i: number): Block {
  const schema = { type: 'object', ...tool.parameters };
  return {
    name: tool.name,
    ...(tool.description !== undefined && { description: tool.description }),
    input_schema: tool.strict === true ? strictSchema(schema, `tools[${i}].function.parameters`) : schema,
    ...(tool.strict !== undefined && { strict: tool.strict }),
  };
}

/**
 * Parallel tool calls are switched off on the tool choice itself, so `parallelToolCalls: false`
 * alone brings an explicit `auto`. `none` has no such switch: no tool is called at all.
 */
function encodeToolChoice(request: ChatRequest, thinking: boolean): Block | undefined {
  const disable = request.parallelToolCalls === false;
  const choice: ToolChoice | undefined = request.toolChoice ?? (disable ? { type: 'auto' } : undefined);
  if (choice === undefined) return undefined;
  const serial = disable ? { disable_parallel_tool_use: true } : {};
  const forced = choice.type === 'required' || choice.type === 'tool';
  if (forced && thinking) {
    throw new UnsupportedFeature('Anthropic cannot force a tool call while the model thinks', 'tool_choice');
  }
  switch (choice.type) {
    case 'auto':
      return { type: 'auto', ...serial };
    case 'none':
      return { type: 'none' };
    case 'required':
      return { type: 'any', ...serial };
    case 'tool':
      return { type: 'tool', name: choice.name, ...serial };
  }
}

/** OpenAI's `reasoning_effort: none` switches thinking off whatever `enabled` says. */
const thinkingOn = (thinking: ChatRequest['thinking']): boolean =>
  thinking?.enabled === true && thinking.effort !== 'none';

/**
 * Whether the request continues a tool loop (its last turn holds tool results) whose assistant
 * turn does not start with thinking. The turn runs back through every assistant message answered
 * by tool results only. With thinking on, Anthropic refuses such a request: the turn a tool loop
 * continues must start with its signed thinking, which a client of another format (OpenAI's Chat
 * Completions) has nowhere to keep and send back, and which a loop begun with another provider
 * never had (its thinking is dropped in `encodeAssistantContent`).
 */
function continuesUnthoughtToolLoop(messages: Block[]): boolean {
  const first = (blocks: unknown): unknown =>
    Array.isArray(blocks) && isRecord(blocks[0]) ? blocks[0].type : undefined;
  let turn: Block | undefined;
  for (let i = messages.length - 1; i >= 1; i -= 2) {
    const results = messages[i]!;
    const answer = messages[i - 1]!;
    if (results.role !== 'user' || first(results.content) !== 'tool_result' || answer.role !== 'assistant')
      break;
    turn = answer;
  }
  if (turn === undefined) return false;
  const opening = first(turn.content);
  return opening !== 'thinking' && opening !== 'redacted_thinking';
}

/** The thinking budget a request asks for, before any fitting under its own `max_tokens`. */
function wantedBudget(thinking: NonNullable<ChatRequest['thinking']>): number {
  const effort = thinking.effort === undefined || thinking.effort === 'none' ? 'medium' : thinking.effort;
  return Math.max(MIN_THINKING_BUDGET, thinking.budgetTokens ?? EFFORT_BUDGETS[effort]);
}

/**
 * The most `max_tokens` a request that names none is sent (what `encodeAnthropicRequest` fills
 * in; less when a tool loop turns thinking off): what admission must reserve for it.
 */
export function anthropicDefaultOutput(request: ChatRequest): number {
  const { thinking } = request;
  return thinking && thinkingOn(thinking) ? wantedBudget(thinking) + DEFAULT_MAX_TOKENS : DEFAULT_MAX_TOKENS;
}

/**
 * The thinking config and, with it, the `max_tokens` a request without one gets (room for the
 * whole budget plus a default-sized answer, as Anthropic counts thinking within `max_tokens`).
 * Anthropic's effort setting (`output_config.effort`) is not used: only some models take it,
 * while every thinking model takes a budget, so an effort becomes one. A budget that would not
 * fit under the request's own `max_tokens` is lowered to fit, as Anthropic requires. A request
 * that continues a tool loop without the thinking that began it goes with thinking off, as
 * Anthropic advises: the model thinks again on the next turn that is not a tool loop's.
 */
function encodeThinking(
  request: ChatRequest,
  messages: Block[],
): { enabled: boolean; config: Block; maxTokens?: number } | undefined {
  const { thinking, maxTokens } = request;
  if (!thinking) return undefined;
  if (!thinkingOn(thinking) || continuesUnthoughtToolLoop(messages)) {
    return { enabled: false, config: { type: 'disabled' } };
  }
  const wanted = wantedBudget(thinking);
  if (maxTokens !== undefined && maxTokens <= MIN_THINKING_BUDGET) {
    // Worded without a field name: the param names it, as each surface's client sent it.
    throw new UnsupportedFeature(
      `Anthropic needs an output limit above ${MIN_THINKING_BUDGET} tokens for thinking, its smallest budget`,
      'max_tokens',
    );
  }
  const budget = maxTokens === undefined ? wanted : Math.min(wanted, maxTokens - 1);
  return {
    enabled: true,
    config: { type: 'enabled', budget_tokens: budget },
    maxTokens: budget + DEFAULT_MAX_TOKENS,
  };
}

// ---- Answer: Anthropic → canonical ----

const STOP_REASONS: Readonly<Record<string, StopReason>> = {
  end_turn: 'end_turn',
  max_tokens: 'max_tokens',
  stop_sequence: 'stop_sequence',
  tool_use: 'tool_use',
  pause_turn: 'pause_turn',
  refusal: 'refusal',
  // The answer was cut by the context window rather than by max_tokens; for clients it is the same.
  model_context_window_exceeded: 'max_tokens',
};

/** A missing or unknown stop reason is taken as a normal end. */
export const anthropicStopReason = (reason: unknown): StopReason =>
  (typeof reason === 'string' ? STOP_REASONS[reason] : undefined) ?? 'end_turn';

/** A successful `/messages` answer. Server tool blocks (web search, code execution) are left out. */
export function decodeAnthropicResponse(payload: unknown): ChatResponse {
  if (!isRecord(payload)) throw new Error('an Anthropic answer is a JSON object');
  const blocks = Array.isArray(payload.content) ? payload.content : [];
  const content: AssistantPart[] = [];
  for (const block of blocks) {
    const part = isRecord(block) ? decodeBlock(block) : undefined;
    if (part) content.push(part);
  }
  return {
    id: typeof payload.id === 'string' ? payload.id : '',
    model: typeof payload.model === 'string' ? payload.model : '',
    content,
    stopReason: anthropicStopReason(payload.stop_reason),
    ...(typeof payload.stop_sequence === 'string' && { stopSequence: payload.stop_sequence }),
    usage: anthropicUsage(payload.usage),
  };
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

function decodeBlock(block: Record<string, unknown>): AssistantPart | undefined {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: text(block.text) };
    case 'thinking': {
      const signature = text(block.signature);
      return {
        type: 'thinking',
        text: text(block.thinking),
        ...(signature !== '' && { signature }),
        signedBy: 'anthropic',
      };
    }
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: text(block.data), signedBy: 'anthropic' };
    case 'tool_use':
      return {
        type: 'tool_call',
        id: text(block.id) || generatedCallId(),
        name: text(block.name),
        arguments: JSON.stringify(isRecord(block.input) ? block.input : {}),
      };
    default:
      return undefined;
  }
}

/**
 * Anthropic's `input_tokens` leaves out cache reads and writes; the canonical count includes them.
 * Usage with neither count (servers imitating Anthropic may send none) is marked unreported, so
 * that the request is charged its reservation rather than nothing.
 */
export function anthropicUsage(usage: unknown): ChatUsage {
  const fields = isRecord(usage) ? usage : {};
  if (typeof fields.input_tokens !== 'number' && typeof fields.output_tokens !== 'number')
    return unreportedUsage();
  const cached = count(fields.cache_read_input_tokens);
  const created = count(fields.cache_creation_input_tokens);
  const hour = Math.min(
    count(isRecord(fields.cache_creation) ? fields.cache_creation.ephemeral_1h_input_tokens : 0),
    created,
  );
  const details = isRecord(fields.output_tokens_details) ? fields.output_tokens_details : {};
  const reasoning = count(details.thinking_tokens);
  const searches = count(isRecord(fields.server_tool_use) ? fields.server_tool_use.web_search_requests : 0);
  return {
    inputTokens: count(fields.input_tokens) + cached + created,
    outputTokens: count(fields.output_tokens),
    ...(cached > 0 && { cachedTokens: cached }),
    ...(created > 0 && { cacheCreationTokens: created }),
    ...(hour > 0 && { cacheCreation1hTokens: hour }),
    ...(reasoning > 0 && { reasoningTokens: reasoning }),
    ...(searches > 0 && { webSearches: searches }),
  };
}

/**
 * Token counts from a Message body, a `message_start` event (inside its message) or a
 * `message_delta` event, when it carries them.
 */
export function readAnthropicUsage(payload: unknown): Usage | undefined {
  if (!isRecord(payload)) return undefined;
  const holder = payload.type === 'message_start' ? payload.message : payload;
  if (!isRecord(holder) || !isRecord(holder.usage)) return undefined;
  const { reasoningTokens: _, unreported, ...usage } = anthropicUsage(holder.usage);
  return unreported ? undefined : usage;
}
