import { type StreamDecoder, type StreamEvent, StreamFailure } from '../../canonical/model.js';
import { PendingFailure } from '../../canonical/pending-failure.js';
import { FrameSplitter } from '../../canonical/text-frames.js';
import { isRecord, jsonObject } from '../wire-values.js';
import { decodeToolCalls, ollamaStopReason, ollamaUsage } from './codec.js';

/**
 * Decodes Ollama's streamed `/api/chat` answer: newline-delimited JSON, one object per line, the
 * last with `done: true` and the token counts. Text and thinking come as deltas; tool calls come
 * whole, each becoming a block of its own.
 */
export class OllamaStreamDecoder implements StreamDecoder {
  private readonly decoder = new TextDecoder();
  private readonly lines = new FrameSplitter('\n');
  private started = false;
  private done = false;
  /** The open text or thinking block, if any; `index` is its index, else the next block's. */
  private open: 'text' | 'thinking' | undefined;
  private index = 0;
  private toolCalls = false;
  private readonly failure = new PendingFailure();

  /** Once the client's stream has begun, a failure amid a chunk waits for the next call (PendingFailure). */
  push(chunk: Uint8Array): StreamEvent[] {
    this.failure.raise();
    // Ollama ends with the done line; anything after it is not part of the answer.
    if (this.done) return [];
    const text = this.decoder.decode(chunk, { stream: true });
    return this.failure.collect((events) => {
      for (const line of this.lines.push(text)) {
        if (this.done) return;
        const trimmed = line.trim();
        if (trimmed) this.line(parse(trimmed), events);
      }
    });
  }

  end(): StreamEvent[] {
    this.failure.raise();
    if (this.done) return [];
    const rest = (this.lines.rest() + this.decoder.decode()).trim();
    const events: StreamEvent[] = [];
    // A last line without its newline still counts when it is whole.
    if (rest) this.line(parse(rest), events);
    if (!this.done) throw new StreamFailure('incomplete', 'The Ollama stream ended before its final line');
    return events;
  }

  private line(line: Record<string, unknown>, events: StreamEvent[]): void {
    if (line.error !== undefined && line.error !== null) {
      throw new StreamFailure('provider_error', 'Ollama reported an error during the stream', 500);
    }
    if (!this.started) {
      this.started = true;
      events.push({ type: 'start', id: '', model: typeof line.model === 'string' ? line.model : '' });
    }
    const message = isRecord(line.message) ? line.message : {};
    this.delta('thinking', message.thinking, events);
    this.delta('text', message.content, events);
    for (const call of decodeToolCalls(message.tool_calls)) {
      this.close(events);
      const index = this.index++;
      this.toolCalls = true;
      events.push(
        { type: 'block_start', index, block: { type: 'tool_call', id: call.id, name: call.name } },
        { type: 'block_delta', index, delta: { type: 'arguments', json: call.arguments } },
        { type: 'block_stop', index },
      );
    }
    if (line.done === true) {
      this.close(events);
      this.done = true;
      events.push({
        type: 'finish',
        stopReason: ollamaStopReason(line.done_reason, this.toolCalls),
        usage: ollamaUsage(line),
      });
    }
  }

  private delta(kind: 'text' | 'thinking', text: unknown, events: StreamEvent[]): void {
    if (typeof text !== 'string' || text === '') return;
    if (this.open !== kind) {
      this.close(events);
      this.open = kind;
      events.push({ type: 'block_start', index: this.index, block: { type: kind } });
    }
    events.push({ type: 'block_delta', index: this.index, delta: { type: kind, text } });
  }

  private close(events: StreamEvent[]): void {
    if (this.open === undefined) return;
    events.push({ type: 'block_stop', index: this.index });
    this.index++;
    this.open = undefined;
  }
}

/** A line that is not a JSON object means the stream broke (a cut mid-line at the end). */
function parse(line: string): Record<string, unknown> {
  const value = jsonObject(line);
  if (!value) throw new StreamFailure('cut', 'The Ollama stream broke off mid-line');
  return value;
}
