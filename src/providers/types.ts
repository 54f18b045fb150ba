import type { ChatRequest, ChatResponse, StreamDecoder } from '../canonical/model.js';
import type { ProviderConfig, ProviderType } from '../config/index.js';
import type { SecretString } from '../keys/index.js';
import type { UpstreamCall } from '../upstream/call.js';

/** Adapters build it; it is upstream's type because upstream/ sends it. */
export type { UpstreamCall };

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedTokens?: number;
  /** Input tokens of audio (a subset of inputTokens, priced apart: `audioInput`). */
  audioTokens?: number;
  /** Of those, the ones read from the prompt cache (a subset of cachedTokens too). */
  cachedAudioTokens?: number;
  /** Output tokens of audio, a spoken answer (a subset of outputTokens, priced apart: `audioOutput`). */
  audioOutputTokens?: number;
  /** Input tokens written to the provider's prompt cache (a subset of inputTokens, priced apart). */
  cacheCreationTokens?: number;
  /** Of those, the ones kept for an hour instead of five minutes (Anthropic charges them more). */
  cacheCreation1hTokens?: number;
  /** Web searches the provider ran with its own tool (Anthropic's), billed per search. */
  webSearches?: number;
}

/** OpenAI's embeddings answer, as an adapter makes it from its provider's (`embeddingsAnswer`). */
export interface EmbeddingsList {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** What the gateway asks a provider to do; one per client-facing operation. */
export type Operation = 'chat' | 'embeddings' | 'count_tokens';

/**
 * The wire formats the gateway speaks. A surface and a provider with the same format exchange
 * the client's validated body untouched; any other pair goes through the canonical form.
 */
export type WireFormat = 'openai' | 'anthropic' | 'gemini' | 'ollama';

/** Per-call extras a surface passes on. */
export interface CallOptions {
  /** Anthropic beta flags the client asked for; the adapter keeps only allowlisted ones. */
  betas?: readonly string[];
  /** Gemini's embedding hints, from its own surface; other formats have no counterpart. */
  embedding?: { taskType?: string; title?: string };
  /** The body's temperature is the alias's default (`ChatRequest.temperatureIsDefault`). */
  temperatureIsDefault?: boolean;
}

/** Canonical chat ⇄ one provider's wire format. Pure: no I/O, no keys. */
export interface ChatCodec {
  /**
   * The path (relative to the provider's origin, base path included) and JSON body for a
   * canonical request. Throws UnsupportedFeature for what the provider cannot do as asked.
   */
  encodeRequest(request: ChatRequest): { path: string; body: string };
  /**
   * A successful non-streamed answer, parsed from JSON. `model` is the one the request was sent
   * for: the answer's where the provider's names none (Gemini's `modelVersion` may be absent).
   */
  decodeResponse(payload: unknown, model?: string): ChatResponse;
  /** A fresh decoder for one streamed answer; `model` as for `decodeResponse`. */
  streamDecoder(model?: string): StreamDecoder;
}

/** Turns a validated client request into the provider's wire request. */
export interface ProviderAdapter {
  readonly type: ProviderType;
  readonly format: WireFormat;
  /** Whether the provider refuses requests without a key (Ollama and local servers do not). */
  readonly requiresKey: boolean;
  /**
   * A call whose body is already in the right format: for `chat` and `count_tokens`, the
   * provider's own format (surface and provider agree) plus the gateway's `model` and `stream`
   * fields where the format keeps them elsewhere (Gemini's path); for `embeddings`, OpenAI's (the
   * gateway's one embeddings operation).
   * Throws UnsupportedFeature for an operation the provider does not offer.
   */
  buildCall(
    operation: Operation,
    model: string,
    body: Record<string, unknown>,
    key: SecretString | undefined,
    options?: CallOptions,
  ): UpstreamCall;
  /** A call for a canonical chat request (surface and provider differ). */
  buildChatCall(request: ChatRequest, key: SecretString | undefined, options?: CallOptions): UpstreamCall;
  /**
   * A token-counting call for a canonical request, where the provider has one (Anthropic's
   * count_tokens, Gemini's countTokens); `readTokenCount` reads its answer.
   */
  buildCountTokensCall?(
    request: ChatRequest,
    key: SecretString | undefined,
    options?: CallOptions,
  ): UpstreamCall;
  readTokenCount?(payload: unknown): number | undefined;
  /**
   * For a provider whose embeddings are not in OpenAI's format: its successful answer to the
   * validated OpenAI embeddings `body` as OpenAI's answer, naming `model`, with its token counts.
   * Throws when the answer is malformed.
   */
  embeddingsAnswer?(
    payload: unknown,
    body: Record<string, unknown>,
    model: string,
  ): { answer: EmbeddingsList; usage: Usage };
  /**
   * The most inputs one embeddings call takes, where the provider takes fewer than a client may
   * send (Gemini's `batchEmbedContents`: 100); only with `embeddingsAnswer`. A request with more
   * is sent in consecutive parts of at most this many, and their answers joined.
   */
  readonly maxEmbeddingInputs?: number;
  readonly chat: ChatCodec;
  /**
   * The output limit `chat` sends for a canonical request that names none, at most, where the
   * provider requires one (Anthropic's `max_tokens`); absent where none is sent.
   */
  defaultOutput?(request: ChatRequest): number;
  /**
   * Token counts from a response body or one stream event's JSON in the provider's format (for
   * embeddings: OpenAI's format), when it carries them.
   */
  readUsage(payload: unknown): Usage | undefined;
}

export type AdapterFactory = (config: ProviderConfig) => ProviderAdapter;
