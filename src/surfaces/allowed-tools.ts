import type { ToolChoice, ToolDefinition } from '../canonical/model.js';
import { badRequest } from '../errors/gateway-error.js';

/** One tool an allowed-tools choice names: its name when it names a function or custom tool. */
export interface AllowedTool {
  name: string | undefined;
  param: string;
}

/**
 * OpenAI's `allowed_tools` choice (Chat Completions and Responses) as the canonical one. Each entry
 * must name a function or custom tool the request declares: the request's own fault otherwise,
 * whatever provider it goes to, and a format offered only the allowed tools would be offered none.
 * So must the list name one at least: each format read an empty one its own way (OpenAI as none
 * allowed, Anthropic and Ollama offered no tools, Gemini's empty `allowedFunctionNames` as all).
 * `listParam` is the list's path.
 */
export function allowedToolsChoice(
  mode: 'auto' | 'required',
  allowed: readonly AllowedTool[],
  tools: readonly ToolDefinition[],
  listParam: string,
): ToolChoice {
  if (allowed.length === 0)
    throw badRequest('An allowed-tools choice must name at least one tool the request declares', {
      param: listParam,
      code: 'invalid_value',
    });
  const names = allowed.map(({ name, param }) => {
    if (name === undefined || !tools.some((tool) => tool.name === name))
      throw badRequest('An allowed tool must name a function or custom tool the request declares in tools', {
        param,
        code: 'invalid_value',
      });
    return name;
  });
  return { type: 'allowed', mode, names };
}
