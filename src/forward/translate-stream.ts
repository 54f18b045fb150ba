import type { ChatUsage, StreamDecoder, StreamEncoder } from '../providers/index.js';
import { StreamFailure } from '../providers/index.js';
import type { StreamFailureReason, SurfaceBinding } from '../surfaces/types.js';
import { mapStreamFailure } from './upstream-errors.js';

export interface TranslateHooks {
  onUsage(usage: ChatUsage): void;
  onFailure(reason: StreamFailureReason, error: unknown): void;
  clientGone(): boolean;
}

/**
 * A provider's stream in another surface's format, event by event: bytes in, canonical events
 * through the provider's decoder, the surface's events out, each upstream chunk's worth as soon as
 * it is complete. A break, an error event or a missing end becomes the surface's error event, so
 * a cut never reaches the client as a clean stop; an error event keeps its class in the surface's
 * terms (`mapStreamFailure`). The answer's finish ends the client's stream:
 * what the provider sends after it (a late error, a connection held open) is not read.
 */
export async function* translateStream(
  body: AsyncIterable<Uint8Array>,
  decoder: StreamDecoder,
  encoder: StreamEncoder,
  surface: SurfaceBinding,
  hooks: TranslateHooks,
): AsyncGenerator<string, void, undefined> {
  let finished = false;
  const encode = (events: ReturnType<StreamDecoder['push']>): string => {
    let out = '';
    for (const event of events) {
      if (event.type === 'finish') {
        hooks.onUsage(event.usage);
        finished = true;
      }
      out += encoder.event(event);
    }
    return out;
  };
  try {
    for await (const chunk of body) {
      const out = encode(decoder.push(chunk as Uint8Array));
      if (out) yield out;
      // Leaving the loop releases the provider's body.
      if (finished) return;
    }
    const out = encode(decoder.end());
    if (out) yield out;
  } catch (error) {
    if (hooks.clientGone()) return;
    const reason = error instanceof StreamFailure ? error.reason : 'cut';
    hooks.onFailure(reason, error);
    yield surface.errorEvent(mapStreamFailure(error));
  }
}
