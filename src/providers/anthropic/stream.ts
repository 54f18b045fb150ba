import {
  type BlockStart,
  type StreamDecoder,
  type StreamEvent,
  StreamFailure,
} from '../../canonical/model.js';
import { PendingFailure } from '../../canonical/pending-failure.js';
import { eventData, SseSplitter } from '../../canonical/sse.js';
import { generatedCallId, isRecord, jsonObject } from '../wire-values.js';
import { anthropicStopReason, anthropicUsage } from './codec.js';

type Payload = Record<string, unknown>;
type Delta = Extract<StreamEvent, { type: 'block_delta' }>['delta'];

/** An in-stream `error` event (this is its `error`) as a failure, with the status of the error type it names. */
export function anthropicStreamError(error: unknown): StreamFailure {
  const type = isRecord(error) ? error.type : undefined;
  const status = (typeof type === 'string' ? ERROR_STATUSES[type] : undefined) ?? 500;
  return new StreamFailure('provider_error', 'Anthropic reported an error during the stream', status, error);
}

/** The HTTP status Anthropic answers each error type with; an in-stream error names only the type. */
const ERROR_STATUSES: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The block an Anthropic content block index stands for in the canonical stream. */
interface OpenBlock {
  source: number;
  index: number;
  /** A tool call that has had no arguments yet gets `{}` when it stops, never an empty string. */
  argumentsPending: boolean;
}

const nonEmpty = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * Decodes the Messages API's SSE stream, whose events already are the canonical ones in
 * Anthropic's words. Blocks the canonical form has no room for (server tool calls and their
 * results) are skipped, and the blocks passed on are numbered from 0 without gaps.
 */
export class AnthropicStreamDecoder implements StreamDecoder {
  private readonly splitter = new SseSplitter();
  private started = false;
  private finished = false;
  private next = 0;
  private open: OpenBlock | undefined;
  /** The raw usage so far: `message_start`'s, with each counter `message_delta` gives replacing it. */
  private usage: Payload = {};
  private stopReason: unknown;
  private stopSequence: unknown;
  private readonly failure = new PendingFailure();

  /** Once the client's stream has begun, a failure amid a chunk waits for the next call (PendingFailure). */
  push(chunk: Uint8Array): StreamEvent[] {
    this.failure.raise();
    return this.failure.collect((events) => {
      for (const event of this.splitter.push(chunk)) {
        const data = eventData(event);
        if (data !== undefined && !this.finished) this.event(parse(data), events);
      }
    });
  }

  end(): StreamEvent[] {
    this.failure.raise();
    if (this.finished) return [];
    if (this.splitter.rest().trim())
      throw new StreamFailure('cut', 'The Anthropic stream broke off mid-event');
    throw new StreamFailure('incomplete', 'The Anthropic stream ended before the answer finished');
  }

  private event(payload: Payload, events: StreamEvent[]): void {
    switch (payload.type) {
      case 'message_start':
        this.begin(payload.message, events);
        break;
      case 'content_block_start':
        this.blockStart(payload, events);
        break;
      case 'content_block_delta':
        this.blockDelta(payload, events);
        break;
      case 'content_block_stop':
        if (this.open?.source === payload.index) this.close(events);
        break;
      case 'message_delta': {
        const delta = isRecord(payload.delta) ? payload.delta : {};
        this.stopReason = delta.stop_reason;
        this.stopSequence = delta.stop_sequence;
        if (isRecord(payload.usage)) this.mergeUsage(payload.usage);
        break;
      }
      case 'message_stop':
        this.finish(events);
        break;
      case 'error': {
        throw anthropicStreamError(payload.error);
      }
      // `ping` and event types Anthropic may add carry nothing for the canonical stream.
    }
  }

  /** `start` comes first even in the unlikely stream whose first event is not `message_start`. */
  private begin(message: unknown, events: StreamEvent[]): void {
    if (this.started) return;
    this.started = true;
    const fields = isRecord(message) ? message : {};
    if (isRecord(fields.usage)) this.mergeUsage(fields.usage);
    events.push({
      type: 'start',
      id: typeof fields.id === 'string' ? fields.id : '',
      model: typeof fields.model === 'string' ? fields.model : '',
      ...(isRecord(fields.usage) && { usage: anthropicUsage(fields.usage) }),
    });
  }

  private blockStart(payload: Payload, events: StreamEvent[]): void {
    this.begin(undefined, events);
    const block = isRecord(payload.content_block) ? payload.content_block : {};
    const start = blockStart(block);
    if (start === undefined || typeof payload.index !== 'number') return;
    this.close(events);
    const index = this.next++;
    this.open = { source: payload.index, index, argumentsPending: start.type === 'tool_call' };
    events.push({ type: 'block_start', index, block: start });
    // The start block may carry content of its own; Anthropic sends it empty, but its type allows more.
    if (start.type === 'text') this.piece('text', block.text, events);
    if (start.type === 'thinking') {
      this.piece('thinking', block.thinking, events);
      this.piece('signature', block.signature, events);
    }
    if (start.type === 'tool_call' && isRecord(block.input) && Object.keys(block.input).length > 0) {
      this.piece('arguments', JSON.stringify(block.input), events);
    }
  }

  private blockDelta(payload: Payload, events: StreamEvent[]): void {
    if (this.open === undefined || this.open.source !== payload.index) return;
    const delta = isRecord(payload.delta) ? payload.delta : {};
    switch (delta.type) {
      case 'text_delta':
        this.piece('text', delta.text, events);
        break;
      case 'thinking_delta':
        this.piece('thinking', delta.thinking, events);
        break;
      case 'signature_delta':
        this.piece('signature', delta.signature, events);
        break;
      case 'input_json_delta':
        this.piece('arguments', delta.partial_json, events);
        break;
      // Citations have no place in the canonical form.
    }
  }

  /** A delta for the open block; empty pieces are not passed on. */
  private piece(type: Delta['type'], value: unknown, events: StreamEvent[]): void {
    const open = this.open;
    const text = nonEmpty(value);
    if (open === undefined || text === undefined) return;
    if (type === 'arguments') open.argumentsPending = false;
    events.push({ type: 'block_delta', index: open.index, delta: delta(type, text) });
  }

  private close(events: StreamEvent[]): void {
    if (this.open === undefined) return;
    if (this.open.argumentsPending) this.piece('arguments', '{}', events);
    events.push({ type: 'block_stop', index: this.open.index });
    this.open = undefined;
  }

  private mergeUsage(update: Payload): void {
    for (const [key, value] of Object.entries(update)) {
      if (value !== null && value !== undefined) this.usage[key] = value;
    }
  }

  private finish(events: StreamEvent[]): void {
    this.begin(undefined, events);
    this.close(events);
    this.finished = true;
    events.push({
      type: 'finish',
      stopReason: anthropicStopReason(this.stopReason),
      ...(typeof this.stopSequence === 'string' && { stopSequence: this.stopSequence }),
      usage: anthropicUsage(this.usage),
    });
  }
}

function delta(type: Delta['type'], text: string): Delta {
  switch (type) {
    case 'signature':
      return { type, signature: text };
    case 'arguments':
      return { type, json: text };
    default:
      return { type, text };
  }
}

/** The canonical block for an Anthropic content block, or undefined for one that is skipped. */
function blockStart(block: Payload): BlockStart | undefined {
  switch (block.type) {
    case 'text':
      return { type: 'text' };
    case 'thinking':
      return { type: 'thinking', signedBy: 'anthropic' };
    case 'redacted_thinking':
      return {
        type: 'redacted_thinking',
        data: typeof block.data === 'string' ? block.data : '',
        signedBy: 'anthropic',
      };
    case 'tool_use':
      return {
        type: 'tool_call',
        id: nonEmpty(block.id) ?? generatedCallId(),
        name: typeof block.name === 'string' ? block.name : '',
      };
    default:
      return undefined;
  }
}

/** A whole event that is not a JSON object is not Anthropic's: the stream cannot be trusted past it. */
function parse(data: string): Payload {
  const value = jsonObject(data);
  if (!value) throw new StreamFailure('cut', 'The Anthropic stream carried an event that is not JSON');
  return value;
}
