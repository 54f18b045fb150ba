import { eventData, SseSplitter } from '../../canonical/sse.js';
import {
  streamInterrupted as interrupted,
  providerFailedMidStream as providerFailed,
} from '../../errors/stream.js';
import { anthropicStreamError, isRecord } from '../../providers/index.js';
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

/** The error type an `error` event names (`overloaded_error`, …): it decides the status. */
function errorType(event: string): unknown {
  const payload = payloadOf(event);
  return isRecord(payload) && isRecord(payload.error) ? payload.error.type : undefined;
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
 * Relays an Anthropic-format SSE stream to an Anthropic-surface client. Each upstream chunk's
 * complete events go out unchanged as soon as they arrive. Token counts are read from
 * `message_start` and `message_delta` and reported after each, merged, in the shape of a Message
 * body (which the provider's `readUsage` reads): a stream cut after it began still accounts for
 * its input. Anthropic has no usage-only chunk, so there is nothing to hide.
 *
 * A stream that ends without `message_stop`, breaks, or carries an error event ends with our own
 * error event, which the Anthropic SDKs raise as an APIError: a cut never looks like a clean
 * finish, and a provider's error text never reaches the client.
 */
export async function* relayAnthropicStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  const splitter = new SseSplitter();
  let usage: RawUsage | undefined;
  let done = false;
  try {
    for await (const chunk of body) {
      let out = '';
      for (const event of splitter.push(chunk)) {
        const type = eventType(event);
        if (type === 'error') {
          options.onFailure('provider_error', anthropicStreamError(errorType(event)));
          yield out + anthropicErrorEvent(providerFailed);
          return;
        }
        if (type === 'message_stop') {
          done = true;
        } else if (type === 'message_start' || type === 'message_delta') {
          const update = rawUsage(type, event);
          if (update) {
            usage = usage ? mergeUsage(usage, update) : update;
            const counted = options.readUsage({ type: 'message', usage });
            if (counted) options.onUsage(counted);
          }
        }
        out += event;
      }
      if (out) yield out;
    }
  } catch {
    if (options.clientGone()) return;
    options.onFailure('cut');
    yield anthropicErrorEvent(interrupted);
    return;
  }
  if (!done) {
    options.onFailure(splitter.rest().trim() ? 'cut' : 'incomplete');
    yield anthropicErrorEvent(interrupted);
  }
}
