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
 */
export function allowedToolsChoice(
  mode: 'auto' | 'required',
  allowed: readonly AllowedTool[],
  tools: readonly ToolDefinition[],
): ToolChoice {
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
