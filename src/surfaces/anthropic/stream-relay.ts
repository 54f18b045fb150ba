import { eventData } from '../../canonical/sse.js';
import type { GatewayError } from '../../errors/gateway-error.js';
import { anthropicStreamError, isRecord } from '../../providers/index.js';
import { type RelayStep, relaySse } from '../sse-relay.js';
import type { RelayOptions } from '../types.js';
import { anthropicErrorEvent } from './envelope.js';

/** Anthropic names every event on its `event:` line and repeats the name as the data's `type`. */
const EVENT_LINE = /^event:[ \t]*(\S+)/m;
const DATA_TYPE = /^\{\s*"type"\s*:\s*"([a-z_]+)"/;

function eventType(event: string): string | undefined {
  const named = EVENT_LINE.exec(event)?.[1];
  if (named !== undefined) return named;
  const data = eventData(event);
  return data === undefined ? undefined : DATA_TYPE.exec(data)?.[1];
}

type RawUsage = Record<string, unknown>;

/** The JSON of an event's data, or undefined when it has none or it is not JSON. */
function payloadOf(event: string): unknown {
  const data = eventData(event);
  if (data === undefined) return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** The `error` object of an `error` event: its type (`overloaded_error`, …) decides the status. */
function errorOf(event: string): unknown {
  const payload = payloadOf(event);
  return isRecord(payload) ? payload.error : undefined;
}

/** The usage object of a `message_start` (inside its message) or `message_delta` event. */
function rawUsage(type: 'message_start' | 'message_delta', event: string): RawUsage | undefined {
  // An event that is not JSON goes to the client as it came; only its token counts are lost.
  const payload = payloadOf(event);
  const holder = type === 'message_start' && isRecord(payload) ? payload.message : payload;
  return isRecord(holder) && isRecord(holder.usage) ? holder.usage : undefined;
}

/**
 * `message_delta` carries whole-message totals and leaves out (or nulls) the counters that do
 * not apply, so a counter it gives replaces the one `message_start` gave, and one it omits keeps it.
 */
function mergeUsage(base: RawUsage, update: RawUsage): RawUsage {
  const merged = { ...base };
  for (const [key, value] of Object.entries(update)) {
    if (value !== null && value !== undefined) merged[key] = value;
  }
  return merged;
}

/**
 * Relays an Anthropic-format SSE stream to an Anthropic-surface client (see `relaySse`): its
 * terminal event is `message_stop`, a failure an `error` event. Token counts are read from
 * `message_start` and `message_delta` and reported after each, merged, in the shape of a Message
 * body (which the provider's `readUsage` reads): a stream cut after it began still accounts for
 * its input. Anthropic has no usage-only chunk, so there is nothing to hide.
 */
export function relayAnthropicStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  let usage: RawUsage | undefined;
  /** The type the provider's error event named, which the client's error event keeps (see there). */
  let failedAs: unknown;
  const errorEvent = (error: GatewayError) => anthropicErrorEvent(error, failedAs);
  return relaySse(body, options, errorEvent, (event): RelayStep => {
    const type = eventType(event);
    if (type === 'error') {
      const error = errorOf(event);
      failedAs = isRecord(error) ? error.type : undefined;
      return { failed: anthropicStreamError(error) };
    }
    if (type === 'message_stop') return 'done';
    if (type === 'message_start' || type === 'message_delta') {
      const update = rawUsage(type, event);
      if (update) {
        usage = usage ? mergeUsage(usage, update) : update;
        const counted = options.readUsage({ type: 'message', usage });
        if (counted) options.onUsage(counted);
      }
    }
    return 'pass';
  });
}
