import { eventData } from '../../canonical/sse.js';
import { isRecord, jsonObject, openAIStreamError, ToolCallPositions } from '../../providers/index.js';
import { type RelayStep, relaySse } from '../sse-relay.js';
import type { RelayOptions } from '../types.js';
import { FILTER_FIELDS, withoutFilterFields } from './azure-filters.js';
import { openAIErrorEvent } from './envelope.js';

export type { RelayOptions } from '../types.js';

/*
 * Chunks are parsed only when their text names what the relay acts on. Inside a JSON string a
 * quote is escaped, so only a key reads `"name":`; servers written in Python put a space after
 * the colon.
 */
/** An `error` key: OpenAI sends an error alone, servers imitating it beside a chunk's fields (or as null). */
const ERROR_KEY = /"error"\s*:/;
/** A usage object: the usage-only chunk, or one beside the last choice (Groq's inside `x_groq`). */
const USAGE_OBJECT = /"usage"\s*:\s*\{/;
/** A choice that finished. */
const FINISH_REASON = /"finish_reason"\s*:\s*"[^"]/;
/** Tool call deltas. */
const TOOL_CALLS = /"tool_calls"\s*:\s*\[/;
/**
 * A chunk's `"usage":null` with the comma that joins it to its neighbour: the one before it, else
 * (the chunk's first field) the one after it. Spaces and tabs only, never a line break: the regex
 * runs over the event's text, whose JSON may span several `data:` lines, and a cut across a break
 * took the next line's `data:` with it (two `data:` prefixes on one line, not JSON once joined).
 * A field or comma on a line of its own is left in place.
 */
const NULL_USAGE = /,[ \t]*"usage"[ \t]*:[ \t]*null\b|"usage"[ \t]*:[ \t]*null[ \t]*,[ \t]*/;

/**
 * Sets each tool call delta's `index` to its call's position in its choice (`ToolCallPositions`);
 * whether any was missing or other. OpenAI's chunks always carry it and the SDKs gather a call's
 * pieces by it: relayed without one (Gemini's and Ollama's OpenAI-compatible endpoints, SGLang,
 * mistral.rs), the `openai` SDK's stream helper returned no calls, and a gatherer keyed on it ran
 * two calls together.
 */
function numberToolCalls(
  payload: Record<string, unknown>,
  positions: Map<unknown, ToolCallPositions>,
): boolean {
  if (!Array.isArray(payload.choices)) return false;
  let renumbered = false;
  for (const choice of payload.choices) {
    const calls = isRecord(choice) && isRecord(choice.delta) ? choice.delta.tool_calls : undefined;
    if (!Array.isArray(calls)) continue;
    let ofChoice = positions.get(choice.index);
    if (!ofChoice) {
      ofChoice = new ToolCallPositions();
      positions.set(choice.index, ofChoice);
    }
    for (const call of calls) {
      if (!isRecord(call)) continue;
      const at = ofChoice.of(call);
      if (call.index === at) continue;
      call.index = at;
      renumbered = true;
    }
  }
  return renumbered;
}

/**
 * A chunk without Azure's content filter annotations (`withoutFilterFields`); the chunk Azure
 * opens its streams with, which holds only the prompt's (no choices), is dropped: client code
 * commonly reads `choices[0]` of every chunk.
 */
function withoutFilterResults(payload: Record<string, unknown>, hideUsage: boolean): RelayStep {
  const chunk = withoutFilterFields(payload);
  if (!Array.isArray(chunk.choices)) chunk.choices = [];
  if ((chunk.choices as unknown[]).length === 0 && !isRecord(chunk.usage)) return 'skip';
  return { replaced: chunkEvent(chunk, hideUsage) };
}

/**
 * A rewritten chunk as its event, without a null `usage` the client did not ask for (see
 * `relayOpenAIStream`).
 */
function chunkEvent(payload: Record<string, unknown>, hideUsage: boolean): string {
  if (hideUsage && payload.usage === null) {
    const { usage: _null, ...chunk } = payload;
    return `data: ${JSON.stringify(chunk)}\n\n`;
  }
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/**
 * Relays an OpenAI-format SSE stream to an OpenAI-surface client (see `relaySse`): its terminal
 * event is `data: [DONE]`, a failure is a data event holding an error object, and a usage-only
 * chunk the gateway asked for on the client's behalf is read and kept back, as is the
 * `"usage":null` OpenAI then puts on every other chunk: a client that did not ask gets the chunks
 * OpenAI sends it, without the field. That field is cut from the event's bytes, not by parsing
 * and writing the chunk again (an event is parsed only when its text names what the relay acts
 * on, see above): inside a JSON string a quote is escaped, so only a key reads `"usage"`, and
 * OpenAI's chunks hold no other `usage` key than their own. An error event keeps
 * the class its status names (an overload, a rate limit: `RelayOptions.failureError`), so that the
 * client retries what it would retry after the same failure in a translated stream. An
 * `openai-compatible` server may end a whole answer without `[DONE]` (llama.cpp before 2024-09,
 * TGI before its #2221, mistral.rs): a clean end after a choice finished is the answer's end,
 * and the client is sent the `[DONE]` the server left out. OpenAI and Azure always send it, and a
 * usage chunk may still be owed after the finish, so for them it stays required. Such a server's
 * tool call deltas are numbered as OpenAI's are (`numberToolCalls`).
 */
export function relayOpenAIStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  const endsWithoutDone = options.providerType === 'openai-compatible';
  const azure = options.providerType === 'azure-openai';
  const { hideUsageChunk } = options;
  /** Per choice: an `openai-compatible` server's tool calls, numbered as OpenAI numbers them. */
  let positions: Map<unknown, ToolCallPositions> | undefined;
  const sort = (event: string): RelayStep => {
    const data = eventData(event);
    if (data === undefined) return 'skip';
    if (data === '[DONE]') return 'done';
    let payload: Record<string, unknown> | undefined;
    if (ERROR_KEY.test(data)) {
      payload = jsonObject(data);
      if (payload?.error !== undefined && payload.error !== null) {
        return { failed: openAIStreamError(payload.error) };
      }
    }
    if (USAGE_OBJECT.test(data)) {
      payload ??= jsonObject(data);
      const usage = payload && options.readUsage(payload);
      if (usage) options.onUsage(usage);
      if (hideUsageChunk && Array.isArray(payload?.choices) && payload.choices.length === 0) {
        return 'skip';
      }
    }
    if (azure && FILTER_FIELDS.test(data)) {
      payload ??= jsonObject(data);
      if (payload) return withoutFilterResults(payload, hideUsageChunk);
    }
    if (!endsWithoutDone) return 'pass';
    const complete = FINISH_REASON.test(data);
    if (TOOL_CALLS.test(data)) {
      payload ??= jsonObject(data);
      positions ??= new Map();
      if (payload && numberToolCalls(payload, positions))
        return { replaced: chunkEvent(payload, hideUsageChunk), ...(complete && { complete }) };
    }
    return complete ? 'complete' : 'pass';
  };
  /** `sort`'s verdict, an event passed on without the `"usage":null` of a client that did not ask. */
  const step = (event: string): RelayStep => {
    const verdict = sort(event);
    if (!hideUsageChunk || (verdict !== 'pass' && verdict !== 'complete')) return verdict;
    const shown = event.replace(NULL_USAGE, '');
    if (shown === event) return verdict;
    return { replaced: shown, ...(verdict === 'complete' && { complete: true }) };
  };
  return relaySse(body, options, openAIErrorEvent, step, endsWithoutDone ? 'data: [DONE]\n\n' : '');
}
