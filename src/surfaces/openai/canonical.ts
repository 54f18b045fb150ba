import { randomUUID } from 'node:crypto';
import { asCustomCall, CustomInputReader, customToolDefinition } from '../../canonical/custom-tools.js';
import { fileReference } from '../../canonical/file-reference.js';
import {
  type AssistantPart,
  asAudioVideo,
  type BlockDelta,
  type BlockStart,
  type CacheBreakpoint,
  type ChatRequest,
  type ChatResponse,
  type ChatUsage,
  type CustomToolFormat,
  type DocumentPart,
  inputAudioType,
  type MediaSource,
  type Message,
  type ResponseFormat,
  type StopReason,
  type StreamEncoder,
  type StreamEvent,
  type TextPart,
  type ToolChoice,
  type ToolDefinition,
  type ToolResultPart,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import { badRequest } from '../../errors/gateway-error.js';
import { allowedToolsChoice } from '../allowed-tools.js';
import { traced, tracedClientParam } from '../part-origins.js';
import type { ChatSurface } from '../types.js';
import type { ChatCompletionRequest } from './chat-schema.js';
import { openAIErrorBody, openAIErrorEvent } from './envelope.js';

/**
 * The OpenAI Chat Completions surface ⇄ the canonical form, for models served by a provider of
 * another format. Requests the canonical form cannot carry faithfully are refused with the field
 * at fault rather than quietly answered as a different question.
 */

type Body = ChatCompletionRequest;
type RequestMessage = Body['messages'][number];
type AssistantMessage = Extract<RequestMessage, { role: 'assistant' }>;
type UserContent = Extract<RequestMessage, { role: 'user' }>['content'];
type UserContentPart = Exclude<UserContent, string>[number];
type FilePart = Extract<UserContentPart, { type: 'file' }>;
/** System, developer and tool message content: a string or text parts. */
type TextContent = Extract<RequestMessage, { role: 'system' }>['content'];

type FinishReason = 'stop' | 'length' | 'tool_calls' | 'function_call' | 'content_filter';

interface ToolCallBody {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A custom (freeform) tool's call: the model's text as it is, in `input`. */
interface CustomToolCallBody {
  id: string;
  type: 'custom';
  custom: { name: string; input: string };
}

interface UsageBody {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

/**
 * A `chat.completion` as the API sends it. `service_tier` and `system_fingerprint` are left out:
 * they describe OpenAI's serving, which did not happen. `reasoning_content` is the model's
 * reasoning as DeepSeek and vLLM return it, the extension OpenAI-format clients already read.
 */
export interface ChatCompletionBody {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      reasoning_content?: string;
      tool_calls?: Array<ToolCallBody | CustomToolCallBody>;
      /** The deprecated single call, for a request that declared only the legacy `functions`. */
      function_call?: ToolCallBody['function'];
      refusal: null;
      annotations: [];
    };
    logprobs: null;
    finish_reason: FinishReason;
  }>;
  usage: UsageBody;
}

interface ChunkDelta {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  tool_calls?: Array<{
    index: number;
    id?: string;
    type?: 'function';
    function: { name?: string; arguments: string };
  }>;
  function_call?: { name?: string; arguments: string };
}

/**
 * A delta of a custom tool's call: its shape with `input` in pieces, as OpenAI streams it. Not in
 * OpenAI's specification nor the SDK's chunk types, which name functions only
 * (openai/openai-openapi#576); what providers/openai/custom-tool-calls.ts reads.
 */
interface CustomCallDelta {
  tool_calls: Array<{
    index: number;
    id?: string;
    type?: 'custom';
    custom: { name?: string; input: string };
  }>;
}

/** One `chat.completion.chunk`; `usage` only when the client asked for usage in the stream. */
export interface ChatCompletionChunkBody {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{ index: number; delta: ChunkDelta; logprobs: null; finish_reason: FinishReason | null }>;
  usage?: UsageBody | null;
}

/**
 * Request fields the canonical form has no place for. A function refuses the request when it
 * returns true for the field's (non-null) value: those fields change what the answer is, so
 * sending the request without them would answer a different question. `moderation` is refused
 * too: it is a safety feature, and refusing beats silently skipping it. `drop` fields are hints
 * about how OpenAI serves, caches or stores the request, meaningless to another provider (a
 * `prediction` only speeds up an answer that would be the same without it; `stream_options` is
 * read by the forwarder, not here). `seed`, `frequency_penalty` and
 * `presence_penalty` are not here: the canonical form carries them, and a provider that has no
 * such setting refuses them itself.
 */
const UNMAPPED: { readonly [K in keyof Body]?: 'drop' | ((value: NonNullable<Body[K]>) => boolean) } = {
  n: (n) => n > 1,
  logprobs: (on) => on,
  top_logprobs: (count) => count > 0,
  logit_bias: (bias) => Object.keys(bias).length > 0,
  audio: () => true,
  modalities: (modalities) => modalities.includes('audio'),
  web_search_options: () => true,
  moderation: () => true,
  store: 'drop',
  prediction: 'drop',
  metadata: 'drop',
  service_tier: 'drop',
  prompt_cache_key: 'drop',
  prompt_cache_options: 'drop',
  prompt_cache_retention: 'drop',
  verbosity: 'drop',
  stream_options: 'drop',
};

const notSupported = (what: string): string => `The model's provider does not support ${what}`;

const NO_NAMES: ReadonlySet<string> = new Set();

/** The unique hex part of generated ids, as OpenAI's own ids have it. */
const hex24 = (): string => randomUUID().replaceAll('-', '').slice(0, 24);

const now = (): number => Math.floor(Date.now() / 1000);

const text = (value: string): TextPart => ({ type: 'text', text: value });

/** UNMAPPED as a list, made once: this runs for every translated request. */
const UNMAPPED_FIELDS = Object.entries(UNMAPPED) as Array<
  [keyof Body, 'drop' | ((value: unknown) => boolean)]
>;

function refuseUnmapped(body: Body): void {
  for (const [field, policy] of UNMAPPED_FIELDS) {
    const value = body[field];
    if (policy === 'drop' || value === undefined || value === null) continue;
    if (policy(value)) throw new UnsupportedFeature(notSupported(`'${field}'`), field);
  }
}

/**
 * The canonical request. `system` and `developer` messages become the canonical system prompt in
 * order, wherever they stand in the conversation: Anthropic and Gemini hold instructions apart
 * from the conversation, so their position cannot travel. Participant `name`s are hints with no
 * canonical place and are dropped; `prompt_cache_breakpoint`s go with their parts, for the provider's
 * encoder to send or refuse.
 */
function toCanonical(body: Body, earlier: readonly Message[] = []): ChatRequest {
  refuseUnmapped(body);
  const { system, messages } = convertMessages(body.messages, earlier);
  const tools = convertTools(body);
  const toolChoice = convertToolChoice(body, tools);
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  const stop = typeof body.stop === 'string' ? [body.stop] : body.stop;
  const responseFormat = convertResponseFormat(body.response_format);
  const effort = body.reasoning_effort;
  const user = body.safety_identifier ?? body.user;
  return {
    model: body.model,
    system,
    messages,
    ...(tools.length > 0 && { tools }),
    ...(toolChoice && { toolChoice }),
    ...(body.parallel_tool_calls !== undefined && { parallelToolCalls: body.parallel_tool_calls }),
    // The legacy answer has room for one call only.
    ...(body.parallel_tool_calls === undefined &&
      declaresOnlyFunctions(body) && { parallelToolCalls: false }),
    ...(maxTokens != null && { maxTokens }),
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.top_p != null && { topP: body.top_p }),
    ...(body.seed != null && { seed: body.seed }),
    ...(body.frequency_penalty != null && { frequencyPenalty: body.frequency_penalty }),
    ...(body.presence_penalty != null && { presencePenalty: body.presence_penalty }),
    ...(stop != null && { stop }),
    ...(responseFormat && { responseFormat }),
    ...(effort != null && { thinking: { enabled: effort !== 'none', effort } }),
    ...(user !== undefined && { user }),
    stream: body.stream === true,
  };
}

/**
 * The conversation. Consecutive `tool` (and legacy `function`) messages, and a user message right
 * after them, form one canonical user turn with the results first: the formats that carry tool
 * results inside user turns need the results of one assistant turn together. A `function` message
 * may answer a call of `earlier` (a stored conversation's), which the client sends no more.
 */
function convertMessages(
  list: readonly RequestMessage[],
  earlier: readonly Message[],
): { system: TextPart[]; messages: Message[] } {
  const system: TextPart[] = [];
  const messages: Message[] = [];
  // Tool results name their tool (Gemini matches by name); the name comes from the call.
  const toolNames = new Map<string, string>();
  // Legacy function calls have no id: each gets one, which the `function` message answering it
  // uses, once. A stored call waits for its answer unless the history holds it already.
  const functionCallIds = new Map<string, string>();
  for (const message of earlier)
    for (const part of message.content) {
      if (part.type === 'tool_call') functionCallIds.set(part.name, part.id);
      else if (
        part.type === 'tool_result' &&
        part.name !== undefined &&
        functionCallIds.get(part.name) === part.toolCallId
      )
        functionCallIds.delete(part.name);
    }
  // Each canonical message and part is traced to the client's field it came from, for errors a
  // provider raises about it: system messages are hoisted and tool messages merged.
  let results: UserPart[] | undefined;
  list.forEach((message, i) => {
    const path = `messages[${i}]`;
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...textParts(message.content).map((part, j) => traced(part, `${path}.content[${j}]`)));
        break;
      case 'user': {
        const parts = userParts(message.content, path);
        if (results) results.push(...parts);
        else messages.push(traced({ role: 'user', content: parts }, path));
        results = undefined;
        break;
      }
      case 'assistant':
        messages.push(
          traced(
            { role: 'assistant', content: assistantParts(message, path, toolNames, functionCallIds) },
            path,
          ),
        );
        results = undefined;
        break;
      case 'tool':
      case 'function': {
        const result = traced(
          message.role === 'tool'
            ? toolResult(message.tool_call_id, toolNames.get(message.tool_call_id), message.content)
            : functionResult(message.name, message.content, functionCallIds, path),
          path,
        );
        if (results) results.push(result);
        else {
          results = [result];
          messages.push(traced({ role: 'user', content: results }, path));
        }
        break;
      }
    }
  });
  return { system, messages };
}

function textParts(content: TextContent): TextPart[] {
  return typeof content === 'string' ? [text(content)] : content.map((part) => marked(text(part.text), part));
}

/** A part with the explicit prompt-cache breakpoint the client's part holds. */
const marked = <T extends CacheBreakpoint>(made: T, part: { prompt_cache_breakpoint?: unknown }): T =>
  part.prompt_cache_breakpoint ? { ...made, cacheBreakpoint: true } : made;

function userParts(content: UserContent, path: string): UserPart[] {
  if (typeof content === 'string') return [traced(text(content), `${path}.content`)];
  return content.map((part, j) => traced(userPart(part, `${path}.content[${j}]`), `${path}.content[${j}]`));
}

function userPart(part: UserContentPart, param: string): UserPart {
  return marked(contentPart(part, param), part);
}

function contentPart(part: UserContentPart, param: string): Exclude<UserPart, ToolResultPart> {
  switch (part.type) {
    case 'text':
      return text(part.text);
    case 'image_url': {
      const { url, detail } = part.image_url;
      return { type: 'image', source: imageSource(url, `${param}.image_url.url`), ...(detail && { detail }) };
    }
    case 'input_audio': {
      const { data, format } = part.input_audio;
      return { type: 'audio', source: { kind: 'base64', mediaType: inputAudioType(format), data } };
    }
    case 'file':
      return asAudioVideo(documentPart(part.file, `${param}.file`));
  }
}

const DATA_URL_FORM = 'data:<media type>;base64,<data>';

/** A URL is passed on as a URL, for providers that fetch it themselves: the gateway never does. */
function imageSource(url: string, param: string): MediaSource {
  if (/^https?:\/\//i.test(url)) return { kind: 'url', url };
  const source = parseDataUrl(url);
  if (!source) {
    throw badRequest(`An image URL must be an http(s) URL or a base64 data URL (${DATA_URL_FORM})`, {
      param,
      code: 'invalid_value',
    });
  }
  return source;
}

function documentPart(file: FilePart['file'], param: string): DocumentPart {
  const { file_data: data, file_id: fileId, filename } = file;
  let source: MediaSource;
  if (data !== undefined && fileId === undefined) {
    const parsed = parseDataUrl(data);
    if (!parsed)
      throw badRequest(`file_data must be a base64 data URL (${DATA_URL_FORM})`, {
        param: `${param}.file_data`,
        code: 'invalid_value',
      });
    source = parsed;
  } else if (fileId !== undefined && data === undefined) {
    source = fileReference(fileId, 'openai');
  } else {
    throw badRequest('A file part needs exactly one of file_data and file_id', {
      param,
      code: 'invalid_value',
    });
  }
  return { type: 'document', source, ...(filename !== undefined && { filename }) };
}

/** Parameters (`;charset=…`, `;name=…`) may sit between the media type and `;base64`. */
const DATA_URL = /^data:([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)(?:;[^;,]*)*;base64,([a-z0-9+/]+={0,2})$/i;

export function parseDataUrl(url: string): Extract<MediaSource, { kind: 'base64' }> | undefined {
  const match = DATA_URL.exec(url);
  if (!match) return undefined;
  // Media types are case-insensitive; providers compare them in lower case.
  return { kind: 'base64', mediaType: match[1]!.toLowerCase(), data: match[2]! };
}

function assistantParts(
  message: AssistantMessage,
  path: string,
  toolNames: Map<string, string>,
  functionCallIds: Map<string, string>,
): AssistantPart[] {
  if (message.audio) throw new UnsupportedFeature(notSupported('audio answers'), `${path}.audio`);
  const parts: AssistantPart[] = [];
  const add = (part: AssistantPart, origin: string) => parts.push(traced(part, origin));
  // Clients replay `content: ''` beside tool calls; an empty text block is refused by some providers.
  if (typeof message.content === 'string') {
    if (message.content !== '') add(text(message.content), `${path}.content`);
  } else {
    message.content?.forEach((part, j) => {
      const value = part.type === 'text' ? part.text : part.refusal;
      if (value !== '') add(text(value), `${path}.content[${j}]`);
    });
  }
  if (message.refusal) add(text(message.refusal), `${path}.refusal`);
  message.tool_calls?.forEach((call, k) => {
    const origin = `${path}.tool_calls[${k}]`;
    if (call.type === 'custom') {
      const { name, input } = call.custom;
      toolNames.set(call.id, name);
      add({ type: 'tool_call', id: call.id, name, arguments: input, custom: true }, origin);
      return;
    }
    const { name, arguments: args } = call.function;
    toolNames.set(call.id, name);
    add({ type: 'tool_call', id: call.id, name, arguments: args }, origin);
  });
  if (message.function_call) {
    const { name, arguments: args } = message.function_call;
    const id = `call_${hex24()}`;
    functionCallIds.set(name, id);
    add({ type: 'tool_call', id, name, arguments: args }, `${path}.function_call`);
  }
  return parts;
}

function toolResult(toolCallId: string, name: string | undefined, content: TextContent): ToolResultPart {
  return {
    type: 'tool_result',
    toolCallId,
    ...(name !== undefined && { name }),
    content: textParts(content),
  };
}

function functionResult(
  name: string,
  content: string | null,
  functionCallIds: Map<string, string>,
  path: string,
): ToolResultPart {
  const id = functionCallIds.get(name);
  // The request's own fault, whatever provider it goes to.
  if (id === undefined) {
    throw badRequest(
      'A function message must answer an earlier assistant function_call of the same name that no function message has answered yet',
      { param: `${path}.name`, code: 'invalid_value' },
    );
  }
  functionCallIds.delete(name);
  return toolResult(id, name, content ?? []);
}

interface FunctionSpec {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  strict?: boolean | null;
}

/**
 * A request that declares functions the deprecated way gets its call back the deprecated way
 * (`message.function_call`, `finish_reason: "function_call"`), as the API answers it: clients
 * still written against `functions` read nothing else.
 */
export function declaresOnlyFunctions(body: Pick<Body, 'functions' | 'tools'>): boolean {
  return body.functions !== undefined && body.functions.length > 0 && !body.tools?.length;
}

/** Function and custom tools, then the legacy `functions`. */
function convertTools(body: Body): ToolDefinition[] {
  const tools = (body.tools ?? []).map((tool, i) => {
    if (tool.type !== 'custom') return toolDefinition(tool.function, `tools[${i}].function`);
    const { name, description, format } = tool.custom;
    return customToolDefinition(name, description, format && customFormat(format));
  });
  for (const [i, fn] of (body.functions ?? []).entries()) tools.push(toolDefinition(fn, `functions[${i}]`));
  return tools;
}

type CustomTool = Extract<NonNullable<Body['tools']>[number], { type: 'custom' }>;

/** Chat Completions nests a grammar (`{type: 'grammar', grammar: {…}}`); the canonical form does not. */
function customFormat(format: NonNullable<CustomTool['custom']['format']>): CustomToolFormat {
  return format.type === 'text' ? format : { type: 'grammar', ...format.grammar };
}

/** The names of the request's custom tools, whose calls may come back in their function form. */
export function customToolNames(body: Pick<Body, 'tools'>): ReadonlySet<string> {
  const names = new Set<string>();
  for (const tool of body.tools ?? []) if (tool.type === 'custom') names.add(tool.custom.name);
  return names;
}

/** `path` is where the client declared the function, which a refusal of it or its parameters names. */
function toolDefinition(fn: FunctionSpec, path: string): ToolDefinition {
  return traced(
    {
      name: fn.name,
      ...(fn.description !== undefined && { description: fn.description }),
      // The API takes a function without parameters as one without arguments.
      parameters: fn.parameters
        ? traced(fn.parameters, `${path}.parameters`)
        : { type: 'object', properties: {} },
      ...(fn.strict != null && { strict: fn.strict }),
    },
    path,
  );
}

/** `tool_choice`, else the legacy `function_call`. */
function convertToolChoice(body: Body, tools: readonly ToolDefinition[]): ToolChoice | undefined {
  const choice = body.tool_choice;
  if (choice === undefined) {
    const legacy = body.function_call;
    if (legacy === undefined) return undefined;
    return typeof legacy === 'string' ? { type: legacy } : { type: 'tool', name: legacy.name };
  }
  if (typeof choice === 'string') return { type: choice };
  switch (choice.type) {
    case 'function':
      return { type: 'tool', name: choice.function.name };
    // Named as a function is: the provider's encoder knows which of its tools are custom.
    case 'custom':
      return { type: 'tool', name: choice.custom.name };
    case 'allowed_tools': {
      const { mode, tools: allowed } = choice.allowed_tools;
      return allowedToolsChoice(
        mode,
        allowed.map((tool, i) => ({
          name: referencedName(tool),
          param: `tool_choice.allowed_tools.tools[${i}]`,
        })),
        tools,
        'tool_choice.allowed_tools.tools',
      );
    }
  }
}

/** The name in an allowed tool's reference, as Chat Completions writes one: `{type, function: {name}}`. */
function referencedName(tool: Record<string, unknown>): string | undefined {
  const named = tool.type === 'function' ? tool.function : tool.type === 'custom' ? tool.custom : undefined;
  const name = typeof named === 'object' && named !== null ? (named as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? name : undefined;
}

function convertResponseFormat(format: Body['response_format']): ResponseFormat | undefined {
  if (!format) return undefined;
  if (format.type !== 'json_schema') return { type: format.type };
  const { name, description, schema, strict } = format.json_schema;
  return {
    type: 'json_schema',
    name,
    ...(schema && { schema: traced(schema, 'response_format.json_schema.schema') }),
    ...(strict != null && { strict }),
    ...(description !== undefined && { description }),
  };
}

const FINISH_REASONS: Record<StopReason, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  // The provider paused a long turn; to an OpenAI client the answer simply ends here.
  pause_turn: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  content_filter: 'content_filter',
  refusal: 'content_filter',
};

/**
 * With legacy functions, a call ends the answer as `function_call`; a provider that made several
 * calls despite `parallelToolCalls: false` (Gemini has no such switch) has its first one shown.
 */
function finishReason(stop: StopReason, legacyFunctions: boolean): FinishReason {
  return legacyFunctions && stop === 'tool_use' ? 'function_call' : FINISH_REASONS[stop];
}

function usageBody(usage: ChatUsage): UsageBody {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens ?? 0, audio_tokens: usage.audioTokens ?? 0 },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens ?? 0,
      audio_tokens: usage.audioOutputTokens ?? 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/**
 * The answer as a `chat.completion`. Text parts join with nothing between them, as a client
 * assembling the same answer from stream deltas gets it; thinking goes to `reasoning_content`
 * and its signatures, meaningless to OpenAI clients, are dropped. A call of one of `customTools`
 * is the custom tool's, even when it came back in its function form (canonical/custom-tools.ts).
 */
function fromCanonical(
  response: ChatResponse,
  legacyFunctions = false,
  customTools: ReadonlySet<string> = NO_NAMES,
): ChatCompletionBody {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: Array<ToolCallBody | CustomToolCallBody> = [];
  for (const answered of response.content) {
    const part = asCustomCall(answered, customTools);
    switch (part.type) {
      case 'text':
        texts.push(part.text);
        break;
      case 'thinking':
        reasoning.push(part.text);
        break;
      case 'tool_call':
        toolCalls.push(
          part.custom
            ? { id: part.id, type: 'custom', custom: { name: part.name, input: part.arguments } }
            : { id: part.id, type: 'function', function: { name: part.name, arguments: part.arguments } },
        );
        break;
      // Encrypted reasoning: nothing an OpenAI client can show or send back.
      case 'redacted_thinking':
        break;
    }
  }
  return {
    id: response.id || `chatcmpl-${hex24()}`,
    object: 'chat.completion',
    created: now(),
    model: response.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: texts.length > 0 ? texts.join('') : null,
          ...(reasoning.length > 0 && { reasoning_content: reasoning.join('') }),
          ...(toolCalls[0] &&
            (legacyFunctions && toolCalls[0].type === 'function'
              ? { function_call: toolCalls[0].function }
              : { tool_calls: toolCalls })),
          refusal: null,
          annotations: [],
        },
        logprobs: null,
        finish_reason: finishReason(response.stopReason, legacyFunctions),
      },
    ],
    usage: usageBody(response.usage),
  };
}

const sse = (payload: ChatCompletionChunkBody): string => `data: ${JSON.stringify(payload)}\n\n`;

/**
 * Canonical stream events as `chat.completion.chunk` events. Tool calls are numbered from 0 in
 * the order they start, which is how OpenAI clients tell them apart across deltas. A call of one
 * of `customTools` streams as the custom tool's, its text in pieces.
 */
class ChunkEncoder implements StreamEncoder {
  private id = '';
  private created = 0;
  private model = '';
  /**
   * What every chunk's JSON starts with, up to its delta, encoded once per stream: these chunks
   * are the bulk of a translated stream's output. Fields in the order `chunk` used to build them.
   */
  private prefix = '';
  private toolCalls = 0;
  /** Block index → the tool call's number. */
  private readonly toolIndex = new Map<number, number>();
  /** Block indices of custom tools' calls. */
  private readonly custom = new Set<number>();
  /**
   * By block index, the custom tools' calls that come in their function form (from formats
   * without custom tools): their text is read out of the JSON arguments as they stream.
   */
  private readonly wrapped = new Map<number, CustomInputReader>();

  constructor(
    private readonly includeUsage: boolean,
    private readonly legacyFunctions = false,
    private readonly customTools: ReadonlySet<string> = NO_NAMES,
  ) {}

  event(event: StreamEvent): string {
    switch (event.type) {
      case 'start':
        this.id = event.id || `chatcmpl-${hex24()}`;
        this.created = now();
        this.model = event.model;
        this.prefix = `data: ${JSON.stringify(this.head()).slice(0, -1)},"choices":[{"index":0,"delta":`;
        return this.chunk({ role: 'assistant', content: '' });
      case 'block_start': {
        const { block } = event;
        if (block.type !== 'tool_call') return '';
        if (this.legacyFunctions) {
          if (this.toolCalls++ > 0) return '';
          this.toolIndex.set(event.index, 0);
          return this.chunk({ function_call: { name: block.name, arguments: '' } });
        }
        const index = this.toolCalls++;
        this.toolIndex.set(event.index, index);
        if (this.isCustom(event.index, block))
          return this.chunk({
            tool_calls: [{ index, id: block.id, type: 'custom', custom: { name: block.name, input: '' } }],
          });
        return this.chunk({
          tool_calls: [
            { index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } },
          ],
        });
      }
      case 'block_delta':
        return this.delta(event.index, event.delta);
      case 'block_stop': {
        // What of the text the function form's arguments held back until they were whole.
        const rest = this.wrapped.get(event.index)?.end().rest;
        return rest ? this.customPiece(event.index, rest) : '';
      }
      case 'finish': {
        let out = this.chunk({}, finishReason(event.stopReason, this.legacyFunctions));
        if (this.includeUsage) out += sse({ ...this.head(), choices: [], usage: usageBody(event.usage) });
        return `${out}data: [DONE]\n\n`;
      }
    }
  }

  private delta(block: number, delta: BlockDelta): string {
    switch (delta.type) {
      case 'text':
        return delta.text ? this.chunk({ content: delta.text }) : '';
      case 'thinking':
        return delta.text ? this.chunk({ reasoning_content: delta.text }) : '';
      case 'arguments': {
        const index = this.toolIndex.get(block);
        if (index === undefined || !delta.json) return '';
        if (this.legacyFunctions) return this.chunk({ function_call: { arguments: delta.json } });
        if (this.custom.has(block)) {
          const reader = this.wrapped.get(block);
          return this.customPiece(block, reader ? reader.push(delta.json) : delta.json);
        }
        return this.chunk({ tool_calls: [{ index, function: { arguments: delta.json } }] });
      }
      // Signatures let a provider check its own reasoning on replay; OpenAI clients have no place for them.
      case 'signature':
        return '';
    }
  }

  /** A custom tool's call, whether or not its block says so (see `fromCanonical`). */
  private isCustom(index: number, block: Extract<BlockStart, { type: 'tool_call' }>): boolean {
    if (!block.custom && !this.customTools.has(block.name)) return false;
    this.custom.add(index);
    if (!block.custom) this.wrapped.set(index, new CustomInputReader());
    return true;
  }

  private customPiece(block: number, input: string): string {
    const index = this.toolIndex.get(block);
    if (index === undefined || !input) return '';
    return this.chunk({ tool_calls: [{ index, custom: { input } }] });
  }

  private head(): Omit<ChatCompletionChunkBody, 'choices' | 'usage'> {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model };
  }

  private chunk(delta: ChunkDelta | CustomCallDelta, finishReason: FinishReason | null = null): string {
    // With usage requested, the API sends `usage: null` on every chunk but the last.
    const usage = this.includeUsage ? ',"usage":null' : '';
    return `${this.prefix}${JSON.stringify(delta)},"logprobs":null,"finish_reason":${JSON.stringify(finishReason)}}]${usage}}\n\n`;
  }
}

/**
 * The client's name for a canonical path: the output limit is the field the body holds it in
 * (`max_completion_tokens`, which OpenAI reads first and a ceiling writes, else the older
 * `max_tokens`), a message or part the one it came from.
 */
function clientParam(param: string, request: ChatRequest, body: Body): string {
  if (param === 'max_tokens') {
    return body.max_tokens != null && body.max_completion_tokens == null
      ? 'max_tokens'
      : 'max_completion_tokens';
  }
  // A legacy functions client forces a call with `function_call`, which the canonical names alike.
  if (param === 'tool_choice' && body.tool_choice == null && body.function_call != null)
    return 'function_call';
  return tracedClientParam(param, request);
}

export const openAISurface: ChatSurface<ChatCompletionRequest> = {
  format: 'openai',
  toCanonical,
  clientParam,
  fromCanonical: (response) => fromCanonical(response),
  streamEncoder: ({ includeUsage }) => new ChunkEncoder(includeUsage),
  errorBody: openAIErrorBody,
  errorEvent: openAIErrorEvent,
};

/** The surface for a request that declared only legacy `functions` (see `declaresOnlyFunctions`). */
export const openAILegacyFunctionsSurface: ChatSurface<ChatCompletionRequest> = {
  ...openAISurface,
  fromCanonical: (response) => fromCanonical(response, true),
  streamEncoder: ({ includeUsage }) => new ChunkEncoder(includeUsage, true),
};

/**
 * The surface for a request with custom tools (see `customToolNames`): a call of one that a
 * provider without custom tools made in its function form is answered as the custom tool's.
 */
export const openAICustomToolsSurface = (
  customTools: ReadonlySet<string>,
): ChatSurface<ChatCompletionRequest> => ({
  ...openAISurface,
  fromCanonical: (response) => fromCanonical(response, false, customTools),
  streamEncoder: ({ includeUsage }) => new ChunkEncoder(includeUsage, false, customTools),
});
