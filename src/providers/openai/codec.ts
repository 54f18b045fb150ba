import { createHash } from 'node:crypto';
import { offerAllowedOnly } from '../../canonical/allowed-tools.js';
import { asFunctionTools } from '../../canonical/custom-tools.js';
import {
  type AssistantPart,
  type AudioVideoPart,
  type CacheBreakpoint,
  type ChatRequest,
  type ChatResponse,
  type DocumentPart,
  type ImagePart,
  type InputAudioFormat,
  inputAudioFormat,
  type OpenAIOptions,
  type ReasoningEffort,
  type ResponseFormat,
  type TextPart,
  type ToolCallPart,
  type ToolChoice,
  type ToolDefinition,
  type ToolResultPart,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import { documentText, namedText } from '../../canonical/text-document.js';
import type { ChatCodec } from '../types.js';
import {
  generatedCallId,
  isRecord,
  nonEmptyString,
  refuseForeignFile,
  refuseStopsPast,
} from '../wire-values.js';
import {
  type CustomToolCall,
  decodeCustomCall,
  encodeCustomCall,
  encodeCustomTool,
} from './custom-tool-calls.js';
import {
  OpenAIStreamDecoder,
  openAIChatUsage,
  openAIStopReason,
  reasoningText,
  tokenLogprobs,
} from './stream.js';
import { openAIStrictFit, type StrictFit } from './strict-schema.js';

/**
 * Canonical chat ⇄ the OpenAI Chat Completions wire format, for OpenAI, Azure OpenAI and
 * OpenAI-compatible servers answering a surface of another format. Chat Completions has no place
 * for some of the canonical form: thinking blocks in the history, `top_k`, and an error flag on
 * tool results (which becomes an "Error: " prefix on the result's text). Tool call ids longer than
 * OpenAI's 40 characters are replaced by a hash of themselves.
 */

export interface OpenAICodecOptions {
  /** The chat completions path for a model, relative to the provider's origin (query included). */
  pathFor(model: string): string;
  /** Ask for usage at the end of streams (`stream_options.include_usage`). */
  streamUsage: boolean;
  /** The field of the output-token limit: OpenAI's current one, or the one imitators know. */
  maxTokensField: 'max_completion_tokens' | 'max_tokens';
  /** The server may end a whole streamed answer without `data: [DONE]` (see OpenAIStreamDecoder). */
  endsWithoutDone?: boolean;
  /**
   * The server takes Chat Completions' custom tools (OpenAI, Azure); the servers imitating the
   * API mostly do not, and are sent each custom tool's function form instead.
   */
  customTools: boolean;
  /** OpenAI and Azure take at most 4 stop sequences; the servers imitating the API set their own. */
  maxStopSequences?: number;
  /**
   * The server is OpenAI's own (OpenAI, Azure): its model names are OpenAI's, whose reasoning models
   * refuse most temperatures (`refusesTemperature`), and it has OpenAI's strict mode and subset, so a
   * constrained schema or tool goes strict where it fits (`openAIStrictFit`). A server imitating the
   * API may give its own models any name, and gets only the client's own `strict`: some refuse it
   * on a function (xAI, vLLM 0.8–0.9), others take it under rules of their own or none, which a fit
   * to OpenAI's subset says nothing about.
   */
  openAIServer: boolean;
}

/** An explicit prompt-cache breakpoint, on any content part. */
interface Marked {
  prompt_cache_breakpoint?: { mode: 'explicit' };
}

interface TextContent extends Marked {
  type: 'text';
  text: string;
}

type UserContent =
  | TextContent
  | ((
      | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } }
      | { type: 'file'; file: { filename?: string; file_data?: string; file_id?: string } }
      | { type: 'input_audio'; input_audio: { data: string; format: InputAudioFormat } }
    ) &
      Marked);

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

type OpenAIMessage =
  | { role: 'system'; content: string | TextContent[] }
  | { role: 'user'; content: string | UserContent[] }
  | { role: 'assistant'; content: string | null; tool_calls?: Array<ToolCall | CustomToolCall> }
  | { role: 'tool'; tool_call_id: string; content: string | TextContent[] };

type ContentPart = TextPart | ImagePart | DocumentPart;

/**
 * Deriving an effort from a budget alone: the largest budget each effort stands for (Anthropic's
 * budgets start at 1024); larger budgets are `high`.
 */
const BUDGET_EFFORTS: ReadonlyArray<{ maxBudget: number; effort: ReasoningEffort }> = [
  { maxBudget: 1024, effort: 'low' },
  { maxBudget: 8192, effort: 'medium' },
];
const LARGE_BUDGET_EFFORT: ReasoningEffort = 'high';

/** OpenAI refuses tool call ids longer than this (`string_above_max_length`). */
const MAX_CALL_ID = 40;
const CALL_ID_PREFIX = 'call_';

/** OpenAI needs a filename with inline file data and reads the file's type from its extension. */
const FILE_EXTENSIONS: Readonly<Record<string, string>> = { 'application/pdf': '.pdf' };

const malformed = (): Error => new Error('malformed provider response');

const text = (value: string): TextContent => ({ type: 'text', text: value });

const marked = (part: CacheBreakpoint): Marked =>
  part.cacheBreakpoint ? { prompt_cache_breakpoint: { mode: 'explicit' } } : {};

/**
 * A lone text travels as a plain string, which every OpenAI-compatible server takes; one holding a
 * cache breakpoint stays a part, where the breakpoint goes.
 */
function textContent(parts: TextPart[]): string | TextContent[] {
  const [first] = parts;
  if (parts.length <= 1 && !first?.cacheBreakpoint) return first?.text ?? '';
  return parts.map((part) => ({ ...text(part.text), ...marked(part) }));
}

/** "Up to 4 sequences where the API will stop generating further tokens" (Chat Completions). */
export const OPENAI_STOP_SEQUENCES = 4;

export function createOpenAIChatCodec(options: OpenAICodecOptions): ChatCodec {
  return {
    encodeRequest: (request) => ({
      path: options.pathFor(request.model),
      body: JSON.stringify(encodeRequest(request, options)),
    }),
    decodeResponse,
    streamDecoder: () => new OpenAIStreamDecoder(options.endsWithoutDone),
  };
}

/**
 * The request body, its keys always in this order so that the same request gives the same bytes:
 * model, messages, tools, tool_choice, parallel_tool_calls, response_format, reasoning_effort, the
 * token limit, temperature, top_p, seed, frequency_penalty, presence_penalty, stop, user, logprobs,
 * top_logprobs, OpenAI's own settings (verbosity, service_tier, prompt_cache_key,
 * prompt_cache_retention, prompt_cache_options, safety_identifier), stream, stream_options. OpenAI refuses a tool
 * choice or `parallel_tool_calls` without tools, so those go only with tools. `top_k` is not
 * sent: Chat Completions has none.
 */
function encodeRequest(asked: ChatRequest, options: OpenAICodecOptions): Record<string, unknown> {
  // Servers imitating the API mostly lack OpenAI's allowed-tools choice: they are offered only those tools.
  const allowing = options.openAIServer ? asked : offerAllowedOnly(asked);
  const request = options.customTools ? allowing : asFunctionTools(allowing);
  const tools = request.tools ?? [];
  const effort = reasoningEffort(request.thinking);
  const { temperature } = request;
  // An alias's default temperature is a preference: sent where it is refused, it would fail a
  // request over a field the client never sent (`ChatRequest.temperatureIsDefault`).
  const untaken =
    options.openAIServer &&
    request.temperatureIsDefault === true &&
    temperature !== undefined &&
    refusesTemperature(request.model, temperature, effort);
  const openai = request.openai;
  const user = openai ? openai.user : request.user;
  if (options.maxStopSequences !== undefined)
    refuseStopsPast(request.stop, options.maxStopSequences, 'OpenAI');
  return {
    model: request.model,
    messages: encodeMessages(request),
    ...(tools.length > 0 && {
      tools: tools.map((tool, i) => encodeTool(tool, i, options.openAIServer)),
      ...(request.toolChoice && { tool_choice: encodeToolChoice(request.toolChoice, tools) }),
      ...(request.parallelToolCalls !== undefined && { parallel_tool_calls: request.parallelToolCalls }),
    }),
    ...(request.responseFormat && {
      response_format: encodeResponseFormat(request.responseFormat, options.openAIServer),
    }),
    ...(effort !== undefined && { reasoning_effort: effort }),
    ...(request.maxTokens !== undefined && { [options.maxTokensField]: request.maxTokens }),
    ...(temperature !== undefined && !untaken && { temperature }),
    ...(request.topP !== undefined && { top_p: request.topP }),
    ...(request.seed !== undefined && { seed: request.seed }),
    ...(request.frequencyPenalty !== undefined && { frequency_penalty: request.frequencyPenalty }),
    ...(request.presencePenalty !== undefined && { presence_penalty: request.presencePenalty }),
    ...(request.stop && request.stop.length > 0 && { stop: request.stop }),
    ...(user !== undefined && { user }),
    ...(request.logprobs && {
      logprobs: true,
      ...(request.logprobs.top > 0 && { top_logprobs: request.logprobs.top }),
    }),
    ...(openai && openAISettings(openai)),
    ...(request.stream && {
      stream: true,
      ...(options.streamUsage && { stream_options: { include_usage: true } }),
    }),
  };
}

/** OpenAI's reasoning models: the o-series, and gpt-5 on but for the `-chat` models, which do not reason. */
const REASONING_MODEL = /^(o\d|gpt-([5-9]|\d\d))/;
const CHAT_MODEL = /-chat(-|$)/;
/** gpt-5.1 on, which reason at no effort when told `none`. */
const UNREASONING_MODEL = /^gpt-(5\.|[6-9]|\d\d)/;

/**
 * Whether OpenAI refuses `temperature` for `model`: its reasoning models take none but 1 (their
 * default; "Only the default (1) value is supported"), except gpt-5.1 on with reasoning off by
 * name (`reasoning_effort: none`). An effort left unnamed counts as reasoning: gpt-5.1 defaults to
 * none, the models before it to medium, and the name alone cannot tell the later ones apart.
 */
export function refusesTemperature(model: string, temperature: number, effort: unknown): boolean {
  if (temperature === 1 || !REASONING_MODEL.test(model) || CHAT_MODEL.test(model)) return false;
  return !(effort === 'none' && UNREASONING_MODEL.test(model));
}

function encodeMessages(request: ChatRequest): OpenAIMessage[] {
  const messages: OpenAIMessage[] = [];
  if (request.system.length > 0) {
    messages.push({ role: 'system', content: textContent(request.system) });
  }
  // An instruction between a tool-calling turn and its results waits until after the `tool`
  // messages: OpenAI refuses anything between a call and its results.
  let waiting: OpenAIMessage[] = [];
  request.messages.forEach((message, i) => {
    if (message.role === 'system') {
      const instruction: OpenAIMessage = { role: 'system', content: textContent(message.content) };
      if (awaitsResults(messages.at(-1)) || waiting.length > 0) waiting.push(instruction);
      else messages.push(instruction);
    } else if (message.role === 'assistant') {
      messages.push(...waiting, encodeAssistant(message.content));
      waiting = [];
    } else {
      const encoded = encodeUser(message.content, `messages[${i}]`);
      const results = encoded.findIndex((m) => m.role !== 'tool');
      encoded.splice(results === -1 ? encoded.length : results, 0, ...waiting);
      messages.push(...encoded);
      waiting = [];
    }
  });
  messages.push(...waiting);
  return messages;
}

const awaitsResults = (message: OpenAIMessage | undefined): boolean =>
  message?.role === 'assistant' && message.tool_calls !== undefined;

/**
 * A user turn. OpenAI wants the `tool` messages answering a turn's calls right after it, so each
 * tool result becomes a `tool` message first, and the rest of the turn follows as one user
 * message, in order. `tool` messages carry text only: a result's images and documents go into
 * that user message, after a line naming the call they came from.
 */
function encodeUser(parts: UserPart[], path: string): OpenAIMessage[] {
  const results: OpenAIMessage[] = [];
  const content: UserContent[] = [];
  parts.forEach((part, j) => {
    const param = `${path}.content[${j}]`;
    if (part.type !== 'tool_result') {
      content.push(encodeContent(part, param));
      return;
    }
    results.push(encodeToolResult(part));
    const media = part.content.flatMap((inner, k) =>
      inner.type === 'text' ? [] : [encodeContent(inner, `${param}.content[${k}]`)],
    );
    if (media.length > 0) {
      content.push(text(`Attachments from the result of tool call ${callId(part.toolCallId)}:`), ...media);
    }
  });
  if (results.length > 0 && content.length === 0) return results;
  return [...results, { role: 'user', content: userContent(content) }];
}

/** A lone text part travels as a plain string, like the system prompt's. */
function userContent(content: UserContent[]): string | UserContent[] {
  const [first] = content;
  if (content.length === 0) return '';
  return content.length === 1 && first?.type === 'text' && !first.prompt_cache_breakpoint
    ? first.text
    : content;
}

/** Chat Completions has no error flag on tool results: the text says it instead. */
function encodeToolResult(part: ToolResultPart): OpenAIMessage {
  const texts = part.content.filter((inner): inner is TextPart => inner.type === 'text');
  if (part.isError) texts[0] = { ...texts[0], type: 'text', text: `Error: ${texts[0]?.text ?? ''}` };
  return { role: 'tool', tool_call_id: callId(part.toolCallId), content: textContent(texts) };
}

/**
 * A tool call id OpenAI takes. Ids other formats made can be longer than OpenAI allows (Gemini's
 * carry their thought signature, see providers/gemini/codec.ts): those become `call_` and a hash of the
 * original, the same every time, so that a call and its result still match.
 */
function callId(id: string): string {
  if (id.length <= MAX_CALL_ID) return id;
  const hash = createHash('sha256').update(id).digest('hex');
  return `${CALL_ID_PREFIX}${hash.slice(0, MAX_CALL_ID - CALL_ID_PREFIX.length)}`;
}

/**
 * Media goes as inline data, an OpenAI file id or (images only) a URL OpenAI fetches itself. A
 * text document goes as its text: Chat Completions' `file` part takes PDFs only.
 */
function encodeContent(part: ContentPart | AudioVideoPart, param: string): UserContent {
  return { ...contentOf(part, param), ...marked(part) };
}

function contentOf(part: ContentPart | AudioVideoPart, param: string): UserContent {
  if (part.type === 'text') return text(part.text);
  if (part.type === 'audio' || part.type === 'video') return encodeAudio(part, param);
  const { source } = part;
  if (part.type === 'image') {
    if (source.kind === 'file') {
      throw new UnsupportedFeature(
        'OpenAI-format providers need images as inline data (base64) or a URL, not a file reference',
        `${param}.source`,
      );
    }
    const url = source.kind === 'url' ? source.url : `data:${source.mediaType};base64,${source.data}`;
    return { type: 'image_url', image_url: { url, ...(part.detail && { detail: part.detail }) } };
  }
  switch (source.kind) {
    case 'base64': {
      const inlineText = documentText(part, `${param}.source`);
      if (inlineText !== undefined) return text(namedText(inlineText, part.filename));
      return {
        type: 'file',
        file: {
          filename: part.filename ?? `document${FILE_EXTENSIONS[source.mediaType] ?? ''}`,
          file_data: `data:${source.mediaType};base64,${source.data}`,
        },
      };
    }
    case 'file':
      refuseForeignFile(source, 'openai', 'An OpenAI-format provider', `${param}.source`);
      return { type: 'file', file: { file_id: source.fileId } };
    case 'url':
      throw new UnsupportedFeature(
        'OpenAI-format providers need document data inline (base64) or an OpenAI file id, not a URL',
        `${param}.source`,
      );
  }
}

/**
 * OpenAI's audio models read WAV or MP3 audio carried inline (`input_audio`), which a model
 * without audio input refuses itself. No OpenAI-format model reads video, or audio by URL or file.
 */
function encodeAudio(part: AudioVideoPart, param: string): UserContent {
  const { source } = part;
  const format = source.kind === 'base64' ? inputAudioFormat(source.mediaType) : undefined;
  if (part.type === 'audio' && source.kind === 'base64' && format !== undefined)
    return { type: 'input_audio', input_audio: { data: source.data, format } };
  throw new UnsupportedFeature(
    part.type === 'video'
      ? 'OpenAI-format providers cannot read video'
      : 'OpenAI-format providers take audio only as WAV or MP3 data inline (base64)',
    `${param}.source`,
  );
}

/**
 * An assistant turn, its texts as one string (a line break between parts keeps their words
 * apart). Chat Completions cannot carry reasoning back, so thinking (signed or redacted) is
 * dropped, as are Gemini's tool call signatures. OpenAI refuses an assistant message with neither
 * content nor tool calls, so one left empty says `''`.
 */
function encodeAssistant(parts: AssistantPart[]): OpenAIMessage {
  const texts: string[] = [];
  const toolCalls: Array<ToolCall | CustomToolCall> = [];
  for (const part of parts) {
    if (part.type === 'text') texts.push(part.text);
    else if (part.type === 'tool_call') toolCalls.push(encodeToolCall(part));
  }
  if (toolCalls.length === 0) return { role: 'assistant', content: texts.join('\n') };
  return { role: 'assistant', content: texts.length > 0 ? texts.join('\n') : null, tool_calls: toolCalls };
}

function encodeToolCall(part: ToolCallPart): ToolCall | CustomToolCall {
  if (part.custom) return encodeCustomCall(callId(part.id), part);
  return { id: callId(part.id), type: 'function', function: { name: part.name, arguments: part.arguments } };
}

/**
 * A custom tool goes as itself: Chat Completions has them (custom-tool-calls.ts). A constrained
 * tool goes strict where its schema fits OpenAI's strict subset (narrowed to fit); one that does
 * not is refused where the client asked for strict tool use, as OpenAI and Anthropic refuse a
 * strict schema they cannot hold the model to, rather than lose the guarantee unsaid.
 */
function encodeTool(tool: ToolDefinition, i: number, openAIServer: boolean): unknown {
  if (tool.custom) return encodeCustomTool(tool.name, tool.custom);
  const fit = openAIServer && tool.constrained ? openAIStrictFit(tool.parameters) : undefined;
  if (fit && 'misfit' in fit && tool.strict === true)
    throw new UnsupportedFeature(
      `The strict tool '${tool.name}' has a schema OpenAI-format providers cannot hold the model to: ` +
        `${fit.misfit}. Send it without strict, or make it fit OpenAI's strict mode`,
      `tools[${i}].function.parameters${fit.at}`,
    );
  const strictSchema = fittedSchema(fit);
  const strict = strictSchema ? true : tool.strict;
  return {
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description !== undefined && { description: tool.description }),
      parameters: strictSchema ?? tool.parameters,
      ...(strict !== undefined && { strict }),
    },
  };
}

/** The schema narrowed to OpenAI's strict subset, where one was fitted and fits. */
function fittedSchema(fit: StrictFit | undefined): Record<string, unknown> | undefined {
  return fit && 'schema' in fit ? fit.schema : undefined;
}

function encodeToolChoice(choice: ToolChoice, tools: ToolDefinition[]): string | Record<string, unknown> {
  switch (choice.type) {
    case 'tool':
      return toolReference(choice.name, tools);
    case 'allowed':
      return {
        type: 'allowed_tools',
        allowed_tools: { mode: choice.mode, tools: choice.names.map((name) => toolReference(name, tools)) },
      };
    default:
      return choice.type;
  }
}

const toolReference = (name: string, tools: ToolDefinition[]): Record<string, unknown> =>
  tools.some((tool) => tool.custom && tool.name === name)
    ? { type: 'custom', custom: { name } }
    : { type: 'function', function: { name } };

/**
 * A schema from a client whose format constrains decoding to it goes strict where the server has
 * OpenAI's strict subset and it fits (narrowed to fit, see `openAIStrictFit`); else as before, a
 * hint the model mostly follows, since refusing it would refuse most schemas with an optional field.
 */
function encodeResponseFormat(format: ResponseFormat, openAIServer: boolean): Record<string, unknown> {
  if (format.type !== 'json_schema') return { type: format.type };
  const fit =
    openAIServer && format.constrained && format.strict === undefined && format.schema !== undefined
      ? openAIStrictFit(format.schema)
      : undefined;
  const strictSchema = fittedSchema(fit);
  const strict = strictSchema ? true : format.strict;
  const schema = strictSchema ?? format.schema;
  return {
    type: 'json_schema',
    json_schema: {
      name: format.name,
      ...(schema !== undefined && { schema }),
      ...(strict !== undefined && { strict }),
      ...(format.description !== undefined && { description: format.description }),
    },
  };
}

function openAISettings(openai: OpenAIOptions): Record<string, unknown> {
  return {
    ...(openai.verbosity !== undefined && { verbosity: openai.verbosity }),
    ...(openai.serviceTier !== undefined && { service_tier: openai.serviceTier }),
    ...(openai.promptCacheKey !== undefined && { prompt_cache_key: openai.promptCacheKey }),
    ...(openai.promptCacheRetention !== undefined && { prompt_cache_retention: openai.promptCacheRetention }),
    ...(openai.promptCacheOptions !== undefined && { prompt_cache_options: openai.promptCacheOptions }),
    ...(openai.safetyIdentifier !== undefined && { safety_identifier: openai.safetyIdentifier }),
  };
}

/**
 * `reasoning_effort` is sent when thinking is asked for, and when the client switched it off by
 * name (`none`, which OpenAI's newer reasoning models take): models without reasoning refuse the
 * field, so thinking off without that word leaves each model at its own default.
 */
function reasoningEffort(thinking: ChatRequest['thinking']): ReasoningEffort | undefined {
  if (!thinking?.enabled) return thinking?.effort === 'none' ? 'none' : undefined;
  if (thinking.effort !== undefined) return thinking.effort;
  const budget = thinking.budgetTokens;
  if (budget === undefined) return undefined;
  return BUDGET_EFFORTS.find(({ maxBudget }) => budget <= maxBudget)?.effort ?? LARGE_BUDGET_EFFORT;
}

/**
 * A `chat.completion`, first choice. Reasoning that OpenAI-compatible servers return comes first
 * as thinking; a refusal is the answer's text, marked as one, with the stop reason saying so.
 */
function decodeResponse(payload: unknown): ChatResponse {
  if (!isRecord(payload) || (payload.object !== undefined && payload.object !== 'chat.completion')) {
    throw malformed();
  }
  const choice: unknown = Array.isArray(payload.choices) ? payload.choices[0] : undefined;
  if (!isRecord(choice) || !isRecord(choice.message)) throw malformed();
  const { message } = choice;
  const content: AssistantPart[] = [];
  const reasoning = reasoningText(message);
  if (reasoning !== undefined) content.push({ type: 'thinking', text: reasoning });
  const answer = nonEmptyString(message.content);
  const logprobs = tokenLogprobs(choice.logprobs);
  if (answer !== undefined) content.push({ type: 'text', text: answer, ...(logprobs && { logprobs }) });
  const refusal = nonEmptyString(message.refusal);
  if (refusal !== undefined) content.push({ type: 'text', text: refusal, refusal: true });
  const calls = decodeToolCalls(message.tool_calls);
  content.push(...calls);
  return {
    id: typeof payload.id === 'string' ? payload.id : '',
    model: typeof payload.model === 'string' ? payload.model : '',
    content,
    stopReason: openAIStopReason(choice.finish_reason, {
      toolCalls: calls.length > 0,
      refused: refusal !== undefined,
    }),
    usage: openAIChatUsage(payload.usage),
  };
}

function decodeToolCalls(value: unknown): ToolCallPart[] {
  if (!Array.isArray(value)) return [];
  return value.map((call: unknown): ToolCallPart => {
    if (isRecord(call) && call.type === 'custom') {
      const custom = decodeCustomCall(call);
      if (!custom) throw malformed();
      return {
        type: 'tool_call',
        id: nonEmptyString(call.id) ?? generatedCallId(),
        name: custom.name,
        arguments: custom.input,
        custom: true,
      };
    }
    const fn = isRecord(call) ? call.function : undefined;
    if (!isRecord(call) || !isRecord(fn) || typeof fn.name !== 'string') throw malformed();
    return {
      type: 'tool_call',
      id: nonEmptyString(call.id) ?? generatedCallId(),
      name: fn.name,
      arguments: typeof fn.arguments === 'string' ? fn.arguments : '',
    };
  });
}
