import {
  type ChatUsage,
  type StreamDecoder,
  type StreamEvent,
  StreamFailure,
} from '../../canonical/model.js';
import { PendingFailure } from '../../canonical/pending-failure.js';
import { eventData, SseSplitter } from '../../canonical/sse.js';
import { isRecord, jsonObject, nonEmptyString } from '../wire-values.js';
import {
  candidateParts,
  decodeFunctionCall,
  firstCandidate,
  geminiStopReason,
  geminiUsage,
  promptBlocked,
} from './codec.js';

/**
 * Decodes `streamGenerateContent?alt=sse`: each `data:` event is a whole GenerateContentResponse
 * holding the next parts of the answer. Text and thoughts come in pieces, function calls whole.
 * Gemini has no end marker: the stream is complete when a chunk carried a finish reason (or the
 * prompt was blocked) and the body then ended, so `finish` comes from `end()`.
 */
export class GeminiStreamDecoder implements StreamDecoder {
  private readonly splitter = new SseSplitter();
  private started = false;
  /** The open text or thinking block, if any; `index` is its index, else the next block's. */
  private open: 'text' | 'thinking' | undefined;
  private index = 0;
  private toolCalls = false;
  private finishReason: string | undefined;
  private blocked = false;
  /** Each chunk's usage covers the whole answer so far; the last one counts. */
  private usage: unknown;
  private readonly failure = new PendingFailure();

  /** `model`: the one the request was sent for, the answer's when its chunks name none. */
  constructor(private readonly model = '') {}

  /** Once the client's stream has begun, a failure amid a chunk waits for the next call (PendingFailure). */
  push(chunk: Uint8Array): StreamEvent[] {
    this.failure.raise();
    return this.failure.collect((events) => {
      for (const event of this.splitter.push(chunk)) {
        const data = eventData(event);
        if (data !== undefined) this.chunk(parse(data), events);
      }
    });
  }

  end(): StreamEvent[] {
    this.failure.raise();
    if (this.splitter.rest().trim()) throw new StreamFailure('cut', 'The Gemini stream broke off mid-event');
    if (this.finishReason === undefined && !this.blocked) {
      throw new StreamFailure('incomplete', 'The Gemini stream ended before the answer finished');
    }
    const events: StreamEvent[] = [];
    this.close(events);
    events.push({
      type: 'finish',
      stopReason: this.blocked ? 'content_filter' : geminiStopReason(this.finishReason, this.toolCalls),
      usage: geminiUsage(this.usage),
    });
    return events;
  }

  private chunk(payload: Record<string, unknown>, events: StreamEvent[]): void {
    if (payload.error !== undefined) throw geminiStreamError(payload.error);
    if (!this.started) {
      this.started = true;
      // Gemini counts the prompt in its first chunk: a stream cut after it still has its input.
      const usage = startUsage(payload.usageMetadata);
      events.push({
        type: 'start',
        id: typeof payload.responseId === 'string' ? payload.responseId : '',
        model: nonEmptyString(payload.modelVersion) ?? this.model,
        ...(usage && { usage }),
      });
    }
    if (isRecord(payload.usageMetadata)) this.usage = payload.usageMetadata;
    if (promptBlocked(payload)) this.blocked = true;
    const candidate = firstCandidate(payload);
    for (const part of candidateParts(candidate)) {
      if (isRecord(part)) this.part(part, events);
    }
    if (typeof candidate?.finishReason === 'string') this.finishReason = candidate.finishReason;
  }

  /** The same rules as the non-streamed answer's: a signature closes the thinking it belongs to. */
  private part(part: Record<string, unknown>, events: StreamEvent[]): void {
    if (isRecord(part.functionCall)) {
      this.close(events);
      const call = decodeFunctionCall(part);
      const index = this.index++;
      this.toolCalls = true;
      events.push(
        {
          type: 'block_start',
          index,
          block: {
            type: 'tool_call',
            id: call.id,
            name: call.name,
            ...(call.signature !== undefined && { signature: call.signature }),
          },
        },
        { type: 'block_delta', index, delta: { type: 'arguments', json: call.arguments } },
        { type: 'block_stop', index },
      );
      return;
    }
    const text = typeof part.text === 'string' ? part.text : '';
    const signature = nonEmptyString(part.thoughtSignature);
    if (part.thought === true) {
      if (text !== '') this.delta('thinking', text, events);
      if (signature !== undefined) {
        if (this.open !== 'thinking') this.openBlock('thinking', events);
        this.sign(signature, events);
      }
      return;
    }
    if (signature !== undefined && this.open === 'thinking') this.sign(signature, events);
    if (text !== '') this.delta('text', text, events);
  }

  private delta(kind: 'text' | 'thinking', text: string, events: StreamEvent[]): void {
    if (this.open !== kind) this.openBlock(kind, events);
    events.push({ type: 'block_delta', index: this.index, delta: { type: kind, text } });
  }

  private sign(signature: string, events: StreamEvent[]): void {
    events.push({ type: 'block_delta', index: this.index, delta: { type: 'signature', signature } });
    this.close(events);
  }

  private openBlock(kind: 'text' | 'thinking', events: StreamEvent[]): void {
    this.close(events);
    this.open = kind;
    const block = kind === 'thinking' ? { type: kind, signedBy: 'gemini' as const } : { type: kind };
    events.push({ type: 'block_start', index: this.index, block });
  }

  private close(events: StreamEvent[]): void {
    if (this.open === undefined) return;
    events.push({ type: 'block_stop', index: this.index });
    this.index++;
    this.open = undefined;
  }
}

/** The usage so far of a chunk that counts the prompt; one without a prompt count says nothing of the input. */
function startUsage(usageMetadata: unknown): ChatUsage | undefined {
  if (!isRecord(usageMetadata) || typeof usageMetadata.promptTokenCount !== 'number') return undefined;
  return geminiUsage(usageMetadata);
}

/** A whole event that is not a JSON object is not Gemini's: the stream cannot be trusted past it. */
function parse(data: string): Record<string, unknown> {
  const value = jsonObject(data);
  if (!value) throw new StreamFailure('cut', 'The Gemini stream carried an event that is not JSON');
  return value;
}

/** A chunk holding `error` is Gemini's failure; its status is the error's code when it is one. */
export function geminiStreamError(error: unknown): StreamFailure {
  const code = isRecord(error) ? error.code : undefined;
  const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 500;
  return new StreamFailure('provider_error', 'Gemini reported an error during the stream', status, error);
}

/** Gemini has no end marker: the answer is over once a chunk carries a finish reason, or a block. */
export function geminiChunkFinishes(payload: Record<string, unknown>): boolean {
  return typeof firstCandidate(payload)?.finishReason === 'string' || promptBlocked(payload);
}
