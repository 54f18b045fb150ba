import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ProviderType } from '../config/index.js';
import type {
  AssistantPart,
  CallOptions,
  ChatRequest,
  ChatResponse,
  Message,
  Operation,
  StreamEncoder,
  StreamFailure,
  Usage,
  WireFormat,
} from '../providers/index.js';

export type StreamFailureReason = StreamFailure['reason'];

import type { GatewayError } from '../errors/gateway-error.js';

/**
 * One client-facing chat API: how its validated body becomes a canonical request, and how a
 * canonical answer, stream and error look to its clients. Pure: no I/O.
 */
export interface ChatSurface<Body> {
  /**
   * `template`: Keyward's own template runs; `responses`: the Responses API. No provider speaks
   * either natively: always translated.
   */
  readonly format: WireFormat | 'template' | 'responses';
  /**
   * The validated body as a canonical request; `model` is replaced per target afterwards.
   * `earlier`: the conversation that goes in front of the body's messages (a stored history), whose
   * calls a result of the body may answer; the request holds the body's messages only.
   */
  toCanonical(body: Body, earlier?: readonly Message[]): ChatRequest;
  /**
   * The client's name for a field a provider refused in the canonical request made from its
   * body (`messages[2].content[0]` may be the client's `messages[3].content[0]`; `max_tokens` the
   * field `body` holds the output limit in). Absent when canonical paths are the client's own.
   */
  clientParam?(param: string, request: ChatRequest, body: Body): string;
  /** The client's JSON answer for a canonical response. */
  fromCanonical(response: ChatResponse): unknown;
  /** A fresh encoder for one stream. `includeUsage`: the client asked for usage in the stream. */
  streamEncoder(options: { includeUsage: boolean }): StreamEncoder;
  /** The surface's error envelope, as a JSON body. */
  errorBody(error: GatewayError): unknown;
  /** The same error as one complete event of the surface's stream (after a stream has begun). */
  errorEvent(error: GatewayError): string;
}

/** What a stream relay reports while passing a provider's stream through in the surface's own format. */
export interface RelayOptions {
  /**
   * The provider's type, where providers of one format stream differently: an `openai-compatible`
   * server may end a whole answer without `data: [DONE]`, Azure adds chunks and fields of its own.
   */
  providerType?: ProviderType;
  readUsage(payload: unknown): Usage | undefined;
  /** The gateway asked for usage on the client's behalf: keep the usage-only chunk to itself. */
  hideUsageChunk: boolean;
  onUsage(usage: Usage): void;
  /**
   * Called when the stream does not finish cleanly; `reason` is for metrics and logs, `error`
   * carries the status a provider's error event named, or why reading the stream failed.
   */
  onFailure(reason: StreamFailureReason, error?: unknown): void;
  /**
   * What the client's error event says of a provider's error event (the class its status names: an
   * overload, a rate limit, as a translated stream says it), or of a failure reading the stream
   * (cut, or past the answer's size bound), in the gateway's own words.
   */
  failureError(failure: unknown): GatewayError;
  /** True once the client has gone: nothing more is written then. */
  clientGone(): boolean;
}

export type NativeRelay = (
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
) => AsyncGenerator<string, void, undefined>;

/**
 * A surface as the forwarder uses it: its codec, its relay for same-format providers, and the
 * names its bodies give the output-token limit (preferred first).
 */
export interface SurfaceBinding extends ChatSurface<Record<string, unknown>> {
  readonly relay: NativeRelay;
  readonly maxTokensFields: readonly string[];
  /** The names its bodies give the number of choices (OpenAI's `n`), where it has one. */
  readonly choicesFields?: readonly string[];
  /**
   * Where its bodies hold the sampling temperature, `a.b` inside `a` (Gemini's
   * `generationConfig.temperature`), which an alias's default fills in; `temperature` when absent.
   */
  readonly temperatureField?: string;
  /**
   * Whether the body asks a provider of the surface's own format for fast processing, which it
   * bills at a multiple of its rates (see `Price.fast`); translation leaves the option out.
   */
  asksFast?(body: Record<string, unknown>): boolean;
  /**
   * The client's JSON for an answer of the surface's own format that must not go as received
   * (Azure's content filter annotations name the backend); undefined sends it as received.
   */
  nativeAnswer?(payload: unknown, providerType: ProviderType): string | undefined;
  /**
   * The provider format that is sent the surface's billed options (fast processing, web search),
   * where it is not the surface's own: the Responses surface sends OpenAI's service tier on to
   * OpenAI-format providers, though none of them speaks Responses.
   */
  readonly optionsFormat?: WireFormat;
  /**
   * How many searches the body lets a provider of the surface's own format run with its web
   * search tool, billed per search (see `Price.webSearch`); undefined when it offers none.
   */
  webSearchesAllowed?(body: Record<string, unknown>): number | undefined;
  /**
   * JSON bytes of input sent upstream that the client's body does not carry (the history of a
   * conversation or previous response, items copied by reference, a template's rendered prompt):
   * the admission's estimate adds them to the body's size.
   */
  readonly addedInputBytes?: number;
  /** That input itself, which a budget walks for media as it walks the body (`RequestShape`). */
  readonly addedInput?: readonly unknown[];
  /**
   * The parts of an answer the client is shown, where the surface shows fewer than it gets (the
   * legacy `functions` answer: one call); what a conversation stores of the turn.
   */
  shown?(parts: readonly AssistantPart[]): AssistantPart[];
  /**
   * Waited for before the end of the client's answer goes out (the JSON, a stream's last event or
   * its error event, an error answered instead): a conversation turn stores its items and frees the
   * conversation there, so that the client's next turn, wherever it runs, reads them and finds it
   * free. Called once the answer is made, or once it has failed; undefined: nothing to wait for.
   * Rejects (a GatewayError) when the answer's turn could not be stored: the end of the answer is
   * then that error instead of its success. Later calls answer the first one's promise.
   */
  beforeEnd?(): Promise<void> | undefined;
  /** The answer to a token-counting request, for surfaces that have one. */
  tokenCountBody?(inputTokens: number): unknown;
  /** The surface's embeddings answer for OpenAI's (the gateway's one embeddings format), where it has its own. */
  embeddingsAnswer?(answer: unknown): unknown;
}

/** What a surface's route asks of the forwarder for one validated request. */
export interface ForwardJob {
  operation: Operation;
  /** The surface the client called (embeddings use OpenAI's: their only surface). */
  surface: SurfaceBinding;
  /** The validated client body; `model` is replaced per target. */
  body: Record<string, unknown> & { model: string };
  stream: boolean;
  /** The client asked for usage inside its stream. */
  includeUsage: boolean;
  options?: CallOptions;
}

/** The forwarder as a surface's routes see it; the data plane passes one in when it registers them. */
export interface RequestForwarder {
  handle(request: FastifyRequest, reply: FastifyReply, job: ForwardJob): Promise<FastifyReply>;
  /**
   * Refuses, as `handle` would, a request for a model that is unknown or that the credential may
   * not use: for routes that read stored history first, so that such a request costs a lookup.
   */
  route(request: FastifyRequest, model: string): unknown;
  /**
   * Refuses a request its limits refuse whatever it asks (no request left in its rate, its
   * concurrency full, its budget spent), taking nothing: for routes about to read and open stored
   * history, which a client past its limits must not have done for it at any rate.
   */
  refuseIfSpent(request: FastifyRequest): Promise<void>;
}

/**
 * Admission for the routes that keep stored state and reach no provider (conversations, stored
 * responses): the caller's request rate and concurrency limits, no tokens, no budget.
 */
export interface CallAdmission {
  admitCall(request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined;
}

/**
 * The `config` of a route that answers clients of another API than its path says, telling which
 * requests' errors take that API's envelope rather than the OpenAI one the path would give.
 */
export interface ClientErrorsConfig {
  /** Gemini clients outside `/v1beta/` (Google's `v1`, the `provider/model` paths, `GET /v1/models` asked with x-goog-api-key). */
  geminiErrors: (request: FastifyRequest) => boolean;
  /** Anthropic clients on `GET /v1/models`, which send `anthropic-version`. */
  anthropicErrors?: (request: FastifyRequest) => boolean;
}
