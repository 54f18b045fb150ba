import { type ChatRequest, UnsupportedFeature } from './model.js';

/**
 * Refuses OpenAI's explicit prompt-cache breakpoints for a provider that has none. Anthropic
 * caches only where `cache_control` marks the prompt and Gemini only as it chooses: sent without
 * them, the prefix the client asked to have cached would be billed in full or cached other than
 * asked, a cost the client did not choose. The refusal names the first part that holds one.
 */
export function refuseCacheBreakpoints(request: ChatRequest, provider: string): void {
  const at = firstBreakpoint(request);
  if (at !== undefined)
    throw new UnsupportedFeature(
      `${provider} has no explicit prompt-cache breakpoint: prompt_cache_breakpoint reaches OpenAI-format providers only; leave it out to send the request as it is`,
      at,
    );
}

/** The canonical path of the first part holding a breakpoint: the system prompt's, a message's, a tool result's. */
function firstBreakpoint(request: ChatRequest): string | undefined {
  const j = request.system.findIndex((part) => part.cacheBreakpoint);
  if (j >= 0) return `system[${j}]`;
  for (const [i, message] of request.messages.entries())
    for (const [j, part] of message.content.entries()) {
      if ('cacheBreakpoint' in part && part.cacheBreakpoint) return `messages[${i}].content[${j}]`;
      if (part.type !== 'tool_result') continue;
      const k = part.content.findIndex((inner) => inner.cacheBreakpoint);
      if (k >= 0) return `messages[${i}].content[${j}].content[${k}]`;
    }
  return undefined;
}
