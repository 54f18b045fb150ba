import { type ChatRequest, estimateInputTokens, UnsupportedFeature } from '../../providers/index.js';
import type { Item } from './items.js';

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
): ChatRequest {
  let kept = history;
  let request = build(kept);
  const room = contextTokens - (request.maxTokens ?? 0);
  while (estimateInputTokens(request) > room) {
    if (mode === 'disabled' || kept.length === 0)
      throw new UnsupportedFeature(
        `The input (about ${estimateInputTokens(request)} tokens with its history) exceeds the context window of ${room} tokens; ` +
          "send truncation: 'auto' to drop the oldest turns, or start a new conversation",
        'input',
      );
    kept = kept.slice(nextTurn(kept));
    request = build(kept);
  }
  return request;
}

/** Where the second turn of `items` begins: the next user message after the first item. */
function nextTurn(items: readonly Item[]): number {
  const at = items.findIndex((item, i) => i > 0 && item.type === 'message' && item.role === 'user');
  return at === -1 ? items.length : at;
}
