import { eventData } from '../../canonical/sse.js';
import type { GatewayError } from '../../errors/gateway-error.js';
import type { StreamEncoder, StreamEvent } from '../../providers/index.js';
import type { NativeRelay, RelayOptions } from '../types.js';
import { geminiErrorBody } from './envelope.js';

/**
 * `streamGenerateContent` without `alt=sse` streams one JSON array, as Google does: `[` before the
 * first chunk, `,\r\n` between chunks, `]` after the last. The chunks are those of the SSE stream,
 * each re-framed as it is written: nothing is held back.
 */
class ArrayFraming {
  private opened = false;

  /** Whole SSE events (CRLF or LF framed) as array elements. */
  frame(events: string): string {
    let out = '';
    for (const event of events.replace(/\r\n/g, '\n').split('\n\n')) {
      const data = eventData(event);
      if (data === undefined) continue;
      out += (this.opened ? ',\r\n' : '[') + data;
      this.opened = true;
    }
    return out;
  }

  close(): string {
    return this.opened ? ']' : '[]';
  }
}

/** An SSE encoder's chunks as the array; the finish chunk is the last one, so it closes it. */
export function jsonArrayEncoder(sse: StreamEncoder): StreamEncoder {
  const framing = new ArrayFraming();
  return {
    event(event: StreamEvent): string {
      const out = framing.frame(sse.event(event));
      return event.type === 'finish' ? out + framing.close() : out;
    },
  };
}

/** A Gemini provider's SSE stream, relayed by `relay`, as the array, closed when it ends. */
export function jsonArrayRelay(relay: NativeRelay): NativeRelay {
  return async function* (body: AsyncIterable<Uint8Array>, options: RelayOptions) {
    const framing = new ArrayFraming();
    for await (const events of relay(body, options)) {
      const out = framing.frame(events);
      if (out) yield out;
    }
    if (!options.clientGone()) yield framing.close();
  };
}

/**
 * A translated stream's failure after it began, which ends it: the forwarder sends a stream's
 * first piece only once it holds a chunk, so the array is open by then.
 */
export function jsonArrayErrorEvent(error: GatewayError): string {
  return `,\r\n${JSON.stringify(geminiErrorBody(error))}]`;
}
