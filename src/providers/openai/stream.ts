import {
  type ChatUsage,
  type StopReason,
  type StreamDecoder,
  type StreamEvent,
  StreamFailure,
  type TokenLogprob,
} from '../../canonical/model.js';
import { PendingFailure } from '../../canonical/pending-failure.js';
import { eventData, SseSplitter } from '../../canonical/sse.js';
import { httpErrorStatus } from '../../upstream/error-answer.js';
import {
  count,
  generatedCallId,
  isRecord,
  jsonObject,
  nonEmptyString,
  unreportedUsage,
} from '../wire-values.js';
import { ToolCallPositions } from './call-positions.js';
import { toolCallDelta } from './custom-tool-calls.js';

/**
 * Decodes a streamed Chat Completions answer (`chat.completion.chunk` events, then `data: [DONE]`)
 * into canonical events. The helpers below read the parts of an answer that the streamed and the
 * whole (`chat.completion`) forms share; the codec uses them for the latter.
 */

/**
 * The model's reasoning, which OpenAI itself never returns but OpenAI-compatible servers do:
 * DeepSeek and vLLM as `reasoning_content`, OpenRouter and newer vLLM as `reasoning`. Only one is
 * read, so a server that sends both for compatibility is not read twice.
 */
export function reasoningText(message: Record<string, unknown>): string | undefined {
  return nonEmptyString(message.reasoning_content) ?? nonEmptyString(message.reasoning);
}

/**
 * `finish_reason` in canonical terms. A refusal that ended as the model chose (`stop`, or nothing)
 * is the answer's reason; one the output limit cut or the filter stopped keeps that reason, or a
 * refusal cut short would read as a whole one. OpenAI-compatible servers often say `stop` (or
 * nothing) after tool calls; the calls then decide, because a client runs tools only on `tool_use`.
 */
export function openAIStopReason(
  finishReason: unknown,
  answer: { toolCalls: boolean; refused: boolean },
): StopReason {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'content_filter':
      return 'content_filter';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    default:
      if (answer.refused) return 'refusal';
      return answer.toolCalls ? 'tool_use' : 'end_turn';
  }
}

/**
 * The log probabilities of a choice's (or a chunk's) text tokens, `logprobs.content`: undefined
 * when there are none (not asked for). Servers imitating OpenAI may leave out `bytes`, which are
 * then the token's UTF-8.
 */
export function tokenLogprobs(logprobs: unknown): TokenLogprob[] | undefined {
  if (!isRecord(logprobs) || !Array.isArray(logprobs.content) || logprobs.content.length === 0)
    return undefined;
  return logprobs.content.filter(isRecord).map((entry) => ({
    ...tokenLogprob(entry),
    top: Array.isArray(entry.top_logprobs) ? entry.top_logprobs.filter(isRecord).map(tokenLogprob) : [],
  }));
}

const utf8 = new TextEncoder();

function tokenLogprob(entry: Record<string, unknown>): { token: string; logprob: number; bytes: number[] } {
  const token = typeof entry.token === 'string' ? entry.token : '';
  const bytes =
    Array.isArray(entry.bytes) && entry.bytes.every((byte) => typeof byte === 'number')
      ? (entry.bytes as number[])
      : [...utf8.encode(token)];
  return { token, logprob: typeof entry.logprob === 'number' ? entry.logprob : 0, bytes };
}

/**
 * The usage object of an answer or a chunk: OpenAI's `usage`, else Groq's `x_groq.usage`, which
 * its streams carry beside the last choice when `stream_options` was not sent.
 */
export function chunkUsage(payload: unknown): Record<string, unknown> | undefined {
  if (!isRecord(payload)) return undefined;
  if (isRecord(payload.usage)) return payload.usage;
  return isRecord(payload.x_groq) && isRecord(payload.x_groq.usage) ? payload.x_groq.usage : undefined;
}

/**
 * OpenAI's `prompt_tokens` already include the cached and audio ones and `completion_tokens` the
 * reasoning and the spoken (audio) ones.
 */
export function openAIChatUsage(usage: unknown): ChatUsage {
  if (!isRecord(usage)) return unreportedUsage();
  const prompt = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const completion = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
  const cached = count(prompt.cached_tokens);
  const audio = count(prompt.audio_tokens);
  const reasoning = count(completion.reasoning_tokens);
  const spoken = count(completion.audio_tokens);
  return {
    inputTokens: count(usage.prompt_tokens),
    outputTokens: count(usage.completion_tokens),
    ...(cached > 0 && { cachedTokens: cached }),
    ...(audio > 0 && { audioTokens: audio }),
    ...(spoken > 0 && { audioOutputTokens: spoken }),
    ...(reasoning > 0 && { reasoningTokens: reasoning }),
  };
}

/** A streamed tool call, from its first delta until its block stops. */
interface StreamedCall {
  id: string | undefined;
  name: string | undefined;
  /** A custom tool's call: its pieces are its text, not JSON. */
  custom: boolean;
  /** Argument pieces that arrived while another block was open. */
  pending: string[];
  state: 'waiting' | 'open' | 'closed';
}

type OpenBlock = { type: 'text' | 'thinking' | 'refusal' } | { type: 'tool_call'; call: StreamedCall };

/**
 * Canonical blocks are strictly sequential, but OpenAI may interleave the argument deltas of
 * parallel tool calls (index 0, 1, 0, …). So the first tool call streams live, and a call that
 * shows up while another is open waits, its argument pieces buffered, until the open block stops;
 * it then opens with everything buffered as one delta. A tool call's block stops only when other
 * content (text, reasoning) begins or the answer finishes, since until then more of its arguments
 * may come. Text or reasoning after tool calls first closes every call, waiting ones included; a
 * server that then still continues one of those calls is beyond repair and fails the stream.
 *
 * The answer is complete at `data: [DONE]`, or, from a server that leaves it out
 * (`endsWithoutDone`), at a clean end of the stream after a choice finished.
 */
export class OpenAIStreamDecoder implements StreamDecoder {
  private readonly splitter = new SseSplitter();
  private started = false;
  private done = false;
  private open: OpenBlock | undefined;
  /** The open block's index, else the next block's. */
  private index = 0;
  private readonly calls: StreamedCall[] = [];
  private readonly positions = new ToolCallPositions();
  private finishReason: string | undefined;
  private refused = false;
  private usage: unknown;
  private readonly failure = new PendingFailure();

  constructor(
    /**
     * The server may end a whole answer without `data: [DONE]`: `openai-compatible` servers such
     * as llama.cpp (before 2024-09), TGI (before its #2221) and mistral.rs.
     */
    private readonly endsWithoutDone = false,
  ) {}

  /** Once the client's stream has begun, a failure amid a chunk waits for the next call (PendingFailure). */
  push(chunk: Uint8Array): StreamEvent[] {
    this.failure.raise();
    // Nothing after [DONE] belongs to the answer.
    if (this.done) return [];
    return this.failure.collect((events) => {
      for (const event of this.splitter.push(chunk)) {
        const data = eventData(event);
        if (data === undefined) continue;
        if (data === '[DONE]') {
          this.finish(events);
          break;
        }
        this.chunk(parse(data), events);
      }
    });
  }

  end(): StreamEvent[] {
    this.failure.raise();
    if (this.done) return [];
    if (this.splitter.rest().trim())
      throw new StreamFailure('cut', 'The provider stream broke off mid-event');
    if (this.endsWithoutDone && this.finishReason !== undefined) {
      const events: StreamEvent[] = [];
      this.finish(events);
      return events;
    }
    // Even after a finish_reason the usage chunk may still be owed: without `[DONE]` there is no
    // telling a finished stream from one cut at a chunk boundary, so it counts as incomplete
    // (as in the same-format relay).
    throw new StreamFailure('incomplete', 'The provider stream ended before the answer finished');
  }

  private chunk(payload: Record<string, unknown>, events: StreamEvent[]): void {
    if (payload.error !== undefined && payload.error !== null) throw openAIStreamError(payload.error);
    // Only one answer is ever asked for: choice 0.
    const choice = Array.isArray(payload.choices)
      ? payload.choices.find((entry) => isRecord(entry) && (entry.index ?? 0) === 0)
      : undefined;
    // Azure opens with a chunk of prompt filter results, without choices, id or model.
    if (!this.started && isRecord(choice)) this.start(payload, events);
    const usage = chunkUsage(payload);
    if (usage) this.usage = usage;
    if (!isRecord(choice)) return;
    const delta = isRecord(choice.delta) ? choice.delta : {};
    const reasoning = reasoningText(delta);
    if (reasoning !== undefined) this.content('thinking', reasoning, events);
    const text = nonEmptyString(delta.content);
    if (text !== undefined) this.content('text', text, events, tokenLogprobs(choice.logprobs));
    const refusal = nonEmptyString(delta.refusal);
    if (refusal !== undefined) {
      this.refused = true;
      this.content('refusal', refusal, events);
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const entry of delta.tool_calls) if (isRecord(entry)) this.toolCall(entry, events);
    }
    const finishReason = nonEmptyString(choice.finish_reason);
    if (finishReason !== undefined) this.finishReason = finishReason;
  }

  private start(payload: Record<string, unknown>, events: StreamEvent[]): void {
    this.started = true;
    events.push({
      type: 'start',
      id: typeof payload.id === 'string' ? payload.id : '',
      model: typeof payload.model === 'string' ? payload.model : '',
    });
  }

  /**
   * A refusal is a text block of its own, marked as one (TextPart). `logprobs`: the text's
   * tokens', when the request asked for them.
   */
  private content(
    kind: 'text' | 'thinking' | 'refusal',
    text: string,
    events: StreamEvent[],
    logprobs?: TokenLogprob[],
  ): void {
    const type = kind === 'refusal' ? 'text' : kind;
    if (this.open?.type !== kind) {
      this.closeAll(events);
      this.open = { type: kind };
      const block = kind === 'refusal' ? { type, refusal: true as const } : { type };
      events.push({ type: 'block_start', index: this.index, block });
    }
    events.push({
      type: 'block_delta',
      index: this.index,
      delta: { type, text, ...(logprobs && { logprobs }) },
    });
  }

  private toolCall(entry: Record<string, unknown>, events: StreamEvent[]): void {
    const call = this.callFor(entry);
    const { name, piece: json, custom } = toolCallDelta(entry);
    call.id ??= nonEmptyString(entry.id);
    call.name ??= name;
    if (custom) call.custom = true;
    if (call.state === 'closed') {
      if (json === '') return;
      throw new StreamFailure('provider_error', 'The provider continued a tool call after it had ended', 502);
    }
    if (this.open?.type !== 'tool_call') this.close(events);
    if (json !== '') {
      if (call.state === 'open') {
        events.push({ type: 'block_delta', index: this.index, delta: { type: 'arguments', json } });
      } else {
        call.pending.push(json);
      }
    }
    if (this.open === undefined) this.openNextCall(events);
  }

  /** The call a delta continues, or a new one (`ToolCallPositions`). */
  private callFor(entry: Record<string, unknown>): StreamedCall {
    const at = this.positions.of(entry);
    const known = this.calls[at];
    if (known) return known;
    const call: StreamedCall = {
      id: undefined,
      name: undefined,
      custom: false,
      pending: [],
      state: 'waiting',
    };
    this.calls.push(call);
    return call;
  }

  /** Opens the first waiting tool call, if any, with the arguments buffered so far. */
  private openNextCall(events: StreamEvent[]): boolean {
    const call = this.calls.find((candidate) => candidate.state === 'waiting');
    if (!call) return false;
    call.state = 'open';
    call.id ??= generatedCallId();
    this.open = { type: 'tool_call', call };
    events.push({
      type: 'block_start',
      index: this.index,
      block: { type: 'tool_call', id: call.id, name: call.name ?? '', ...(call.custom && { custom: true }) },
    });
    if (call.pending.length > 0) {
      events.push({
        type: 'block_delta',
        index: this.index,
        delta: { type: 'arguments', json: call.pending.join('') },
      });
      call.pending = [];
    }
    return true;
  }

  private close(events: StreamEvent[]): void {
    if (this.open === undefined) return;
    if (this.open.type === 'tool_call') this.open.call.state = 'closed';
    events.push({ type: 'block_stop', index: this.index });
    this.index++;
    this.open = undefined;
  }

  /** Closes the open block and runs through the waiting tool calls. */
  private closeAll(events: StreamEvent[]): void {
    this.close(events);
    while (this.openNextCall(events)) this.close(events);
  }

  private finish(events: StreamEvent[]): void {
    if (!this.started) this.start({}, events);
    this.closeAll(events);
    this.done = true;
    events.push({
      type: 'finish',
      stopReason: openAIStopReason(this.finishReason, {
        toolCalls: this.calls.length > 0,
        refused: this.refused,
      }),
      usage: openAIChatUsage(this.usage),
    });
  }
}

/**
 * An in-stream error (`data: {"error":{…}}`; this is its `error`) as a failure, with the status
 * it names: OpenRouter, Azure and other servers put an HTTP status in `code` (a number or a
 * numeric string), OpenAI a word in `code` or `type` (OPENAI_ERROR_STATUSES; a code is read
 * before a type, for it is the narrower). Anything else, OpenAI's `server_error` among it, is a
 * 500: the provider failed and named no other class.
 */
export function openAIStreamError(error: unknown): StreamFailure {
  return new StreamFailure(
    'provider_error',
    'The provider reported an error during the stream',
    errorStatus(error),
    error,
  );
}

/**
 * The words OpenAI names a class with, and the status it sends them with (its error codes guide;
 * Microsoft's Dev Proxy guide to OpenAI's rate limits lists them by `error.code`): 429
 * `rate_limit_exceeded` (type `requests` or `tokens`) and `slow_down` (type `rate_limit_error`),
 * 503 `server_is_overloaded` (type `service_unavailable_error`). Its billing errors (type
 * `insufficient_quota`, code `credit_balance_exhausted`, …) also come as a 429 but do not pass
 * with time: left out, they stay a provider failure instead of a rate limit that a client would
 * retry.
 *
 * Type `invalid_request_error` is a refusal of the request, a 400 (`context_length_exceeded`,
 * `invalid_value`, …: its codes are many and open), which the route's next target would refuse
 * too; read as a 500 it sent the request on to a dearer model. OpenAI uses the same type for the
 * key's faults and an unknown model, each with a code of its own and another status, named here
 * so that they stay what they are outside a stream: a refused key (401 `invalid_api_key`,
 * `mismatched_organization`, `missing_scope`) is the target's alone and worth the next one.
 */
const OPENAI_ERROR_STATUSES: Readonly<Record<string, number>> = {
  rate_limit_exceeded: 429,
  slow_down: 429,
  rate_limit_error: 429,
  server_is_overloaded: 503,
  service_unavailable_error: 503,
  invalid_request_error: 400,
  invalid_api_key: 401,
  mismatched_organization: 401,
  missing_scope: 401,
  model_not_found: 404,
};

function errorStatus(error: unknown): number {
  if (!isRecord(error)) return 500;
  const named = (value: unknown) =>
    typeof value === 'string' && Object.hasOwn(OPENAI_ERROR_STATUSES, value)
      ? OPENAI_ERROR_STATUSES[value]
      : undefined;
  return (
    httpErrorStatus(error.code) ??
    httpErrorStatus(error.type) ??
    named(error.code) ??
    named(error.type) ??
    500
  );
}

/** A whole event that is not a JSON object is not a chunk: the stream cannot be trusted past it. */
function parse(data: string): Record<string, unknown> {
  const value = jsonObject(data);
  if (!value) throw new StreamFailure('cut', 'The provider stream carried an event that is not JSON');
  return value;
}
