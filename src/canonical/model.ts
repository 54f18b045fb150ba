/**
 * The canonical chat form: one representation of a chat request, its answer and its stream that
 * every surface decodes into and every provider encodes from. It follows the richest of the wire
 * formats (Anthropic's content blocks) so that nothing one format can say is lost on the way to
 * another: system prompts, multi-part content, tool calls and results, thinking blocks with their
 * signatures, stop reasons and usage with cached tokens.
 *
 * Paths where surface and provider speak the same format never come through here: they pass the
 * validated body through untouched.
 */

/** Where an image, document, audio or video comes from. The gateway never fetches a URL itself. */
export type MediaSource =
  | { kind: 'base64'; mediaType: string; data: string }
  /** `mediaType` where the client stated it (Gemini's `fileData`): Gemini fetches a URL only with it. */
  | { kind: 'url'; url: string; mediaType?: string }
  /** A provider's own file reference (OpenAI file id, Anthropic file id, Gemini file URI). */
  | { kind: 'file'; fileId: string; issuer: FileIssuer; mediaType?: string };

/**
 * The wire format whose provider issued a file reference: it names an upload in that provider's
 * account, which only providers of that format can read (an OpenAI-format provider is sent OpenAI's).
 */
export type FileIssuer = 'anthropic' | 'gemini' | 'openai';

/**
 * OpenAI's explicit prompt-cache breakpoint (`prompt_cache_breakpoint`) on a part of the prompt:
 * the cacheable prefix ends there. OpenAI-format providers are sent it; the other formats have no
 * such breakpoint and go without it: a hint about cost, which a conversation stored with it must
 * not keep from continuing elsewhere.
 */
export interface CacheBreakpoint {
  cacheBreakpoint?: true;
}

export interface TextPart extends CacheBreakpoint {
  type: 'text';
  text: string;
  /**
   * In an answer: the text is the model's refusal (OpenAI's `refusal`), which the Responses API
   * shows as a part of its own. Surfaces without one show it as text.
   */
  refusal?: true;
  /** In an answer to a request that asked for them (`ChatRequest.logprobs`): its tokens' log probabilities. */
  logprobs?: TokenLogprob[];
}

/** A token of the answer with its log probability, as OpenAI gives them. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes: a token may be part of a character, which `token` cannot show. */
  bytes: number[];
  /** The likeliest tokens at its position, as many as asked for (`ChatRequest.logprobs.top`). */
  top: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export interface ImagePart extends CacheBreakpoint {
  type: 'image';
  source: MediaSource;
  /** OpenAI's `detail` hint, kept for OpenAI-format providers. */
  detail?: 'auto' | 'low' | 'high';
}

export interface DocumentPart extends CacheBreakpoint {
  type: 'document';
  source: MediaSource;
  filename?: string;
}

/**
 * Audio or video, which a Gemini client sends (`inlineData`, or `fileData` with its type) and
 * Gemini reads, first turn or replayed from a stored conversation; OpenAI's audio models read WAV
 * and MP3 audio carried inline (`input_audio`). Other providers refuse it, naming the part.
 * `filename` is the name a client gave the file (OpenAI's file parts), kept where a format has a
 * place for it (a stored conversation's `input_file`).
 */
export type AudioVideoPart = ({ type: 'audio' } | { type: 'video' }) &
  CacheBreakpoint & {
    source: MediaSource;
    filename?: string;
  };

/** The part audio or video of `mediaType` makes; undefined for any other type. */
export function audioVideoType(mediaType: string | undefined): AudioVideoPart['type'] | undefined {
  const lower = mediaType?.toLowerCase();
  if (lower?.startsWith('audio/')) return 'audio';
  return lower?.startsWith('video/') ? 'video' : undefined;
}

/** A file of audio or video (OpenAI's formats carry any file so) as the part it is. */
export function asAudioVideo(part: DocumentPart): DocumentPart | AudioVideoPart {
  const kind = audioVideoType(part.source.mediaType);
  if (kind === undefined) return part;
  return {
    type: kind,
    source: part.source,
    ...(part.filename !== undefined && { filename: part.filename }),
    ...(part.cacheBreakpoint && { cacheBreakpoint: true }),
  };
}

/**
 * The formats Chat Completions' `input_audio` takes, each with the media types that name it: the
 * first is the one audio decoded from `input_audio` carries (Gemini reads audio by its type).
 */
const INPUT_AUDIO_TYPES = {
  wav: ['audio/wav', 'audio/wave', 'audio/x-wav', 'audio/vnd.wave'],
  mp3: ['audio/mpeg', 'audio/mp3'],
} as const satisfies Record<string, readonly [string, ...string[]]>;

export type InputAudioFormat = keyof typeof INPUT_AUDIO_TYPES;

/** The media type audio sent as `input_audio` in `format` has. */
export function inputAudioType(format: InputAudioFormat): string {
  return INPUT_AUDIO_TYPES[format][0];
}

/** The `input_audio` format of audio of `mediaType`; undefined for a type it does not take. */
export function inputAudioFormat(mediaType: string): InputAudioFormat | undefined {
  const lower = mediaType.toLowerCase();
  const formats = Object.keys(INPUT_AUDIO_TYPES) as InputAudioFormat[];
  return formats.find((format) => (INPUT_AUDIO_TYPES[format] as readonly string[]).includes(lower));
}

/**
 * A wire format whose provider signs (or encrypts) the reasoning it sends. Each checks what comes
 * back against its own keys and refuses the whole request over another's signature.
 */
export type ReasoningSigner = 'anthropic' | 'gemini' | 'openai';

/** A model's reasoning. The signature must travel back unchanged for the provider to accept it. */
export interface ThinkingPart {
  type: 'thinking';
  text: string;
  signature?: string;
  /**
   * The format of the provider whose answer held this reasoning, set by its decoder: only that
   * format's encoder sends the signature back (see `replayableTo`). Absent when nothing tells
   * (thinking a client sent in a provider's format, reasoning stored before Keyward recorded it).
   */
  signedBy?: ReasoningSigner;
}

/** Reasoning the provider encrypted; opaque, replayed as is to the provider that made it. */
export interface RedactedThinkingPart {
  type: 'redacted_thinking';
  data: string;
  /** As ThinkingPart.signedBy. */
  signedBy?: ReasoningSigner;
}

/**
 * Whether a provider of `format` can take back this reasoning's signature or encrypted data: its
 * own, or one whose maker is unknown, which is sent as it always was (refusing it would break
 * conversations that never changed provider). An encoder treats any other as unsigned.
 */
export const replayableTo = (part: ThinkingPart | RedactedThinkingPart, format: ReasoningSigner): boolean =>
  part.signedBy === undefined || part.signedBy === format;

export interface ToolCallPart {
  type: 'tool_call';
  id: string;
  name: string;
  /** The arguments as the JSON text the model produced (OpenAI's shape; parsed where needed). */
  arguments: string;
  /** Gemini's thought signature on a function call, replayed on the next turn. */
  signature?: string;
  /**
   * A call of a custom tool (see ToolDefinition.custom): `arguments` is the model's text as it
   * is, not JSON. Encoders of formats without custom tools send it as the function form's
   * arguments (`functionArguments` in custom-tools.ts).
   */
  custom?: true;
}

export interface ToolResultPart {
  type: 'tool_result';
  toolCallId: string;
  /** The tool's name, which Gemini needs to match a result to its call. */
  name?: string;
  content: Array<TextPart | ImagePart | DocumentPart>;
  isError?: boolean;
}

export type UserPart = TextPart | ImagePart | DocumentPart | AudioVideoPart | ToolResultPart;
export type AssistantPart = TextPart | ThinkingPart | RedactedThinkingPart | ToolCallPart;

export type Message =
  | { role: 'user'; content: UserPart[] }
  | { role: 'assistant'; content: AssistantPart[] }
  /**
   * An instruction inside the conversation (Anthropic's in-conversation system message, which
   * Claude Code sends after the first user turn): it applies from where it stands. Encoders keep
   * the position where their format can (OpenAI, Ollama) and fold it into the system prompt where
   * it cannot (Gemini).
   */
  | { role: 'system'; content: TextPart[] };

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
  strict?: boolean;
  /**
   * The client's format holds the call's arguments to the schema in terms other than OpenAI's
   * `strict` (which an OpenAI-format target sends as set): Anthropic's strict tools, `strict` then
   * true, the client asking for the guarantee; a Responses function tool without `strict`, which
   * OpenAI makes strict where it can. A target with OpenAI's switch sets it where the schema fits;
   * where not, the first is refused and the second goes without.
   */
  constrained?: boolean;
  /**
   * Set for a custom (freeform) tool, which OpenAI's models call with plain text rather than
   * JSON. The fields above then describe it as a function taking one string, `input`, its format
   * told in the description (custom-tools.ts): what formats without custom tools are sent, so
   * that an encoder that knows nothing of them still sends a tool the model can call. OpenAI's
   * format sends this instead.
   */
  custom?: { description?: string; format?: CustomToolFormat };
}

/** The text a custom tool takes: any, or what a grammar allows. */
export type CustomToolFormat =
  | { type: 'text' }
  | { type: 'grammar'; syntax: 'lark' | 'regex'; definition: string };

export type ToolChoice =
  | { type: 'auto' }
  | { type: 'none' }
  /** The model must call some tool. */
  | { type: 'required' }
  | { type: 'tool'; name: string }
  /**
   * OpenAI's allowed tools: the model may call only the named tools (`required`: one of them at
   * least), the others still declared, so the tool list, and the prompt cache, stay as they are.
   * A format without such a choice is offered the named tools alone (`offerAllowedOnly`).
   */
  | { type: 'allowed'; mode: 'auto' | 'required'; names: string[] };

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema?: Record<string, unknown>;
      strict?: boolean;
      /**
       * The client's format always decodes to the schema and has no `strict` switch (Anthropic's
       * structured outputs, Gemini's response schema): a target with one sets it where the schema allows.
       */
      constrained?: boolean;
      description?: string;
    };

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';

/**
 * Settings only OpenAI's APIs have, from a surface of OpenAI's making that is translated (the
 * Responses API, which Keyward sends as Chat Completions). The OpenAI-format encoder sends them;
 * other formats have no place for them, and their encoders leave them out.
 */
export interface OpenAIOptions {
  verbosity?: 'low' | 'medium' | 'high';
  serviceTier?: 'auto' | 'default' | 'flex' | 'scale' | 'priority' | 'fast';
  promptCacheKey?: string;
  promptCacheRetention?: 'in_memory' | 'in-memory' | '24h';
  /** `explicit` caches only at the prompt's breakpoints (`CacheBreakpoint`); `ttl` is a minimum lifetime. */
  promptCacheOptions?: { mode?: 'implicit' | 'explicit'; ttl?: '30m' };
  safetyIdentifier?: string;
  /**
   * OpenAI's `user` as the client sent it: the canonical `user` is the one end-user id other
   * formats take, the safety identifier when there is one.
   */
  user?: string;
}

export interface ChatRequest {
  /** The model name the chosen provider knows (set per target). */
  model: string;
  /** System and developer instructions, in order. */
  system: TextPart[];
  messages: Message[];
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  maxTokens?: number;
  temperature?: number;
  /**
   * The temperature is the alias's default, not the client's: a provider that cannot take it as
   * it stands (Anthropic while the model thinks, or above 1; OpenAI's reasoning models but at 1)
   * is sent none rather than refusing a request for a field its client never sent.
   */
  temperatureIsDefault?: boolean;
  topP?: number;
  topK?: number;
  /** A sampling seed, for answers that repeat as far as the provider can make them. */
  seed?: number;
  /** Penalises tokens by how often they already appear in the answer (OpenAI's range, -2 to 2). */
  frequencyPenalty?: number;
  /** Penalises tokens that already appear in the answer at all (OpenAI's range, -2 to 2). */
  presencePenalty?: number;
  stop?: string[];
  responseFormat?: ResponseFormat;
  /**
   * Extended thinking / reasoning. `budgetTokens` is Anthropic's and Gemini's knob, `effort`
   * OpenAI's (and Anthropic's `output_config.effort`); an encoder uses whichever its format has
   * and derives the other when only one is given.
   */
  thinking?: { enabled: boolean; budgetTokens?: number; effort?: ReasoningEffort };
  /** An opaque end-user id, for the provider's abuse tracking. */
  user?: string;
  /** OpenAI's own settings, for OpenAI-format providers; when present, its `user` replaces `user` there. */
  openai?: OpenAIOptions;
  /**
   * Return the answer's token log probabilities, each with the `top` (0 to 20) likeliest tokens at
   * its position. Only OpenAI-format providers give them; other encoders refuse the request
   * (param `logprobs`), since an answer without them is not the one asked for.
   */
  logprobs?: { top: number };
  stream: boolean;
}

export type StopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'content_filter'
  | 'refusal'
  | 'pause_turn';

export interface ChatUsage {
  /** Every input token, cached ones included. */
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache (a subset of inputTokens). */
  cachedTokens?: number;
  /** Input tokens of audio (a subset of inputTokens), which some providers bill above text. */
  audioTokens?: number;
  /** Of those, the ones read from the prompt cache (a subset of cachedTokens too). */
  cachedAudioTokens?: number;
  /** Output tokens of audio, a spoken answer (a subset of outputTokens), billed above text. */
  audioOutputTokens?: number;
  /** Input tokens written to the provider's prompt cache (a subset of inputTokens). */
  cacheCreationTokens?: number;
  /** Of those, the ones kept for an hour instead of five minutes. */
  cacheCreation1hTokens?: number;
  /** Output tokens spent on reasoning (a subset of outputTokens), where reported. */
  reasoningTokens?: number;
  /** The provider reported no counts (servers imitating OpenAI may not): the zeros are not what it bills. */
  unreported?: true;
}

export interface ChatResponse {
  /** The provider's id for the answer, when it gives one. */
  id: string;
  model: string;
  content: AssistantPart[];
  stopReason: StopReason;
  stopSequence?: string;
  usage: ChatUsage;
}

/** The kind of content block a stream opens. */
export type BlockStart =
  /** `refusal`: the text is the model's refusal (TextPart). */
  | { type: 'text'; refusal?: true }
  | { type: 'thinking'; signedBy?: ReasoningSigner }
  | { type: 'redacted_thinking'; data: string; signedBy?: ReasoningSigner }
  /** `custom`: a custom tool's call, whose `arguments` deltas are pieces of its text, not JSON. */
  | { type: 'tool_call'; id: string; name: string; signature?: string; custom?: true };

export type BlockDelta =
  /** `logprobs`: the log probabilities of the piece's tokens, when the request asked for them. */
  | { type: 'text'; text: string; logprobs?: TokenLogprob[] }
  | { type: 'thinking'; text: string }
  | { type: 'signature'; signature: string }
  /** A piece of a tool call's JSON arguments. */
  | { type: 'arguments'; json: string };

/**
 * One step of a streamed answer. Blocks are strictly sequential: a block starts, gets deltas and
 * stops before the next starts, and indices count up from 0. Decoders of formats that interleave
 * (OpenAI's parallel tool-call deltas) reorder; encoders may rely on the order.
 */
export type StreamEvent =
  | { type: 'start'; id: string; model: string; usage?: Partial<ChatUsage> }
  | { type: 'block_start'; index: number; block: BlockStart }
  | { type: 'block_delta'; index: number; delta: BlockDelta }
  | { type: 'block_stop'; index: number }
  /** The last event of a complete stream; nothing follows it. */
  | { type: 'finish'; stopReason: StopReason; stopSequence?: string; usage: ChatUsage };

/** Decodes a provider's streamed answer chunk by chunk. */
export interface StreamDecoder {
  /** Raw bytes in, complete events out. Throws StreamFailure on an error event from the provider. */
  push(chunk: Uint8Array): StreamEvent[];
  /**
   * The upstream body ended. Returns any last events; throws StreamFailure when the stream did
   * not finish (no terminal event), so a cut never looks like a clean stop.
   */
  end(): StreamEvent[];
}

/** Encodes canonical stream events into a surface's wire format. */
export interface StreamEncoder {
  /** Zero or more bytes of the surface's stream (complete SSE events). */
  event(event: StreamEvent): string;
}

/** Why a stream did not finish cleanly. */
export class StreamFailure extends Error {
  constructor(
    readonly reason: 'cut' | 'incomplete' | 'provider_error',
    message: string,
    /** For provider_error: the error class the provider named, mapped to an HTTP-like status. */
    readonly status?: number,
    /**
     * For provider_error: the event's `error` object as the provider sent it, which says, as an
     * error answer's body would, whether the key or its account is at fault.
     */
    readonly providerError?: unknown,
  ) {
    super(message);
    this.name = 'StreamFailure';
  }
}

/** A request the target provider cannot carry out as asked (an image URL for a provider that needs data, …). */
export class UnsupportedFeature extends Error {
  constructor(
    message: string,
    /** The request field at fault, as a dotted path. */
    readonly param?: string,
  ) {
    super(message);
    this.name = 'UnsupportedFeature';
  }
}
