import type { HistoryLimit } from '../../conversations/index.js';
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
 * message to the next, so that no tool result is left without its call.
 */
export function fitToContext(
  build: (history: readonly Item[]) => ChatRequest,
  history: readonly Item[],
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
  const last = history.length === 0 ? whole : build([]);
  if (!fits(last)) throw inputTooLarge(last, room, refusal.param);
  // Dropping more turns never makes the input larger, so the fewest to drop is found by bisection:
  // a conversation of thousands of turns costs some builds, not one build per dropped turn.
  const cuts = turnStarts(history);
  let fitting = last;
  let low = 0;
  let high = cuts.length;
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

/** A request that does not fit with every earlier turn dropped: `truncation: 'auto'` cannot help. */
function inputTooLarge(request: ChatRequest, room: number, param: string): UnsupportedFeature {
  return new UnsupportedFeature(
    `The input alone (about ${estimateInputTokens(request)} tokens) exceeds the context window of ${room} tokens, even with every earlier turn dropped; shorten it, or start a new conversation`,
    param,
  );
}

/** Where each turn after the first begins: every user message but a first one, in order. */
function turnStarts(items: readonly Item[]): number[] {
  const starts: number[] = [];
  for (let i = 1; i < items.length; i++) {
    const item = items[i]!;
    if (item.type === 'message' && item.role === 'user') starts.push(i);
  }
  return starts;
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
      // A stored item the request cannot carry fails the request where it is built.
      if (!(error instanceof UnsupportedFeature)) throw error;
    }
    return tokensFor(size) > contextTokens;
  };
}
