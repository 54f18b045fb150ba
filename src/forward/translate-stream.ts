import { GatewayError } from '../errors/gateway-error.js';
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
 *
 * The usage a provider reports as its stream starts (Anthropic's `message_start`, Gemini's first
 * chunk) is reported as provisional, as the same-format relays do: a stream cut afterwards is
 * charged the input the provider counted, not the body-size estimate. The finish's usage replaces it.
 */
export async function* translateStream(
  body: AsyncIterable<Uint8Array>,
  decoder: StreamDecoder,
  encoder: StreamEncoder,
  surface: SurfaceBinding,
  hooks: TranslateHooks,
): AsyncGenerator<string, void, undefined> {
  let finished = false;
  /**
   * The start's usage, held until the client's stream begins: a failure before that is charged by
   * the caller as an attempt that got no answer, and usage reported for it would be charged again.
   */
  let provisional: ChatUsage | undefined;
  /** The answer's end: the events from its finish on, which wait for the surface's `beforeEnd`. */
  let end = '';
  /** The events' output before the answer's end (synchronous: most chunks hold no end). */
  const encode = (events: ReturnType<StreamDecoder['push']>): string => {
    let out = '';
    for (const event of events) {
      if (event.type === 'start') provisional = startUsage(event.usage);
      if (event.type === 'finish') {
        provisional = undefined;
        hooks.onUsage(event.usage);
        finished = true;
      }
      if (finished) end += encoder.event(event);
      else out += encoder.event(event);
    }
    return out;
  };
  /**
   * The answer's end once the surface is done with it, or its error event when the surface failed
   * (a conversation turn its store did not take): the provider answered, and is charged as such.
   */
  const ending = async (): Promise<string> => {
    try {
      await surface.beforeEnd?.();
      return end;
    } catch (error) {
      return surface.errorEvent(error instanceof GatewayError ? error : mapStreamFailure(error));
    }
  };
  const begun = (out: string): string => {
    if (provisional) hooks.onUsage(provisional);
    provisional = undefined;
    return out;
  };
  /** Whether anything went to the client: a failure before that may still go to a fallback. */
  let yielded = false;
  try {
    for await (const chunk of body) {
      let out = encode(decoder.push(chunk as Uint8Array));
      if (finished) out += await ending();
      if (out) {
        yielded = true;
        yield begun(out);
      }
      // Leaving the loop releases the provider's body.
      if (finished) return;
    }
    let out = encode(decoder.end());
    if (finished) out += await ending();
    if (out) {
      yielded = true;
      yield begun(out);
    }
  } catch (error) {
    if (hooks.clientGone()) return;
    const reason = error instanceof StreamFailure ? error.reason : 'cut';
    hooks.onFailure(reason, error);
    // A surface's own failure there would end the stream with an error event too: this one.
    if (yielded) await surface.beforeEnd?.()?.catch(() => undefined);
    yield surface.errorEvent(mapStreamFailure(error));
  }
}

/** A start's usage as a whole one when it counts the input; its output is what was counted so far. */
function startUsage(usage: Partial<ChatUsage> | undefined): ChatUsage | undefined {
  if (usage?.inputTokens === undefined || usage.unreported) return undefined;
  return { ...usage, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens ?? 0 };
}
