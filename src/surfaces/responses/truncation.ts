import { type HistoryLimit, isToolCall, isToolResult } from '../../conversations/index.js';
import { GatewayError } from '../../errors/gateway-error.js';
import {
  type ChatRequest,
  estimateInputTokens,
  measureInput,
  tokensFor,
  UnsupportedFeature,
} from '../../providers/index.js';
import type { Item } from './items.js';
import { itemsToMessages } from './to-canonical.js';

/**
 * `truncation`: with `auto`, the oldest replayed turns are dropped until the request fits the
 * context window (`conversations.contextTokens`, less the output it asks room for); with
 * `disabled` (the default), a request that does not fit is refused. Whole turns go, from one user
 * message to the next, and never a turn holding a call that a kept item or the `input` answers:
 * a result without its call is refused by every provider (OpenAI and Anthropic with a 400). A
 * request that does not fit even then is refused.
 */
export function fitToContext(
  build: (history: readonly Item[]) => ChatRequest,
  history: readonly Item[],
  input: readonly Item[],
  mode: 'auto' | 'disabled',
  contextTokens: number,
  refusal: Refusal = TRUNCATION_REFUSAL,
): ChatRequest {
  const whole = build(history);
  const room = contextTokens - (whole.maxTokens ?? 0);
  const fits = (request: ChatRequest) => estimateInputTokens(request) <= room;
  if (fits(whole)) return whole;
  if (mode === 'disabled') throw tooLarge(whole, room, refusal);
  // With `auto` asked already, only the input itself can be shortened.
  const cuts = turnStarts(history, input);
  const latest = cuts.at(-1) ?? 0;
  const last = latest === 0 ? whole : build(history.slice(latest));
  if (!fits(last)) throw inputTooLarge(last, room, refusal.param, latest < history.length);
  // Dropping more turns never makes the input larger, so the fewest to drop is found by bisection:
  // a conversation of thousands of turns costs some builds, not one build per dropped turn.
  let fitting = last;
  let low = 0;
  let high = cuts.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    const request = build(history.slice(cuts[middle]));
    if (fits(request)) {
      fitting = request;
      high = middle;
    } else {
      low = middle + 1;
    }
  }
  return fitting;
}

/** What a request that does not fit is told to do, and the field it names. */
export interface Refusal {
  advice: string;
  param: string;
}

const TRUNCATION_REFUSAL: Refusal = {
  advice: "send truncation: 'auto' to drop the oldest turns, or start a new conversation",
  param: 'input',
};

function tooLarge(request: ChatRequest, room: number, { advice, param }: Refusal): UnsupportedFeature {
  return new UnsupportedFeature(
    `The input (about ${estimateInputTokens(request)} tokens with its history) exceeds the context window of ${room} tokens; ${advice}`,
    param,
  );
}

/**
 * A request that does not fit with every earlier turn dropped that may go: `truncation: 'auto'`
 * cannot help. `withCalls`: the turn holding the calls the input answers had to stay.
 */
function inputTooLarge(
  request: ChatRequest,
  room: number,
  param: string,
  withCalls: boolean,
): UnsupportedFeature {
  const what = withCalls ? 'The input with the turn holding the calls it answers' : 'The input alone';
  return new UnsupportedFeature(
    `${what} (about ${estimateInputTokens(request)} tokens) exceeds the context window of ${room} tokens, even with every earlier turn dropped; shorten it, or start a new conversation`,
    param,
  );
}

/**
 * Where the kept history may begin, in order: every user message but a first one, and the end
 * (nothing kept), except where a result at or after it (in the history or the `input`) answers a
 * call before it.
 */
function turnStarts(history: readonly Item[], input: readonly Item[]): number[] {
  const calledAt = new Map<string, number>();
  for (const [i, item] of history.entries())
    if (isToolCall(item) && !calledAt.has(item.call_id)) calledAt.set(item.call_id, i);
  const items = [...history, ...input];
  const starts: number[] = [];
  // The earliest call answered at or after the position the walk (from the end) has reached.
  let earliestCall = Number.POSITIVE_INFINITY;
  for (let i = items.length; i > 0; i--) {
    const item = items[i];
    const call = item && isToolResult(item) ? calledAt.get(item.call_id) : undefined;
    if (call !== undefined) earliestCall = Math.min(earliestCall, call);
    if (i > history.length || earliestCall < i) continue;
    if (i === history.length || (item?.type === 'message' && item.role === 'user')) starts.push(i);
  }
  return starts.reverse();
}

/**
 * Stops loading history once its newest parts alone exceed the context window: `fitToContext`
 * would drop everything older with `auto` and refuse the request with `disabled`, so reading it
 * changes nothing. The parts' sizes add up to the size of the history they make, which the
 * request's estimate counts in full.
 */
export function historyLimit(contextTokens: number): HistoryLimit {
  const size = { chars: 0, media: 0 };
  return (part) => {
    try {
      const measured = measureInput(itemsToMessages(part, () => 'history'));
      size.chars += measured.chars;
      size.media += measured.media;
    } catch (error) {
      // A stored item the request cannot carry, or that no provider takes, fails the request where
      // it is built.
      if (!(error instanceof UnsupportedFeature || error instanceof GatewayError)) throw error;
    }
    return tokensFor(size) > contextTokens;
  };
}
