import type { ChatRequest } from './model.js';

/**
 * The request as a format without an allowed-tools choice takes it: only the allowed tools are
 * offered, with `auto` or `required` as the choice, so the model can call no other (as the Gemini
 * surface's `allowedFunctionNames` narrows the tools for other formats). The request itself for
 * any other choice.
 */
export function offerAllowedOnly(request: ChatRequest): ChatRequest {
  const choice = request.toolChoice;
  if (choice?.type !== 'allowed') return request;
  const allowed = new Set(choice.names);
  return {
    ...request,
    tools: (request.tools ?? []).filter((tool) => allowed.has(tool.name)),
    toolChoice: { type: choice.mode },
  };
}
