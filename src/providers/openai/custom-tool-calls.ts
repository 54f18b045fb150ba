import type { CustomToolFormat, ToolCallPart, ToolDefinition } from '../../canonical/model.js';
import { isRecord, nonEmptyString } from '../wire-values.js';

/**
 * Chat Completions' custom (freeform) tools, which the model calls with plain text: the tool
 * `{type: 'custom', custom: {name, description, format}}`, its grammar as `{type: 'grammar',
 * grammar: {definition, syntax}}` (the Responses API puts `definition` and `syntax` beside `type`),
 * and its call `{id, type: 'custom', custom: {name, input}}`, as openai-node 6.x types them
 * (`ChatCompletionCustomTool`, `ChatCompletionMessageCustomToolCall`). The streamed form is not
 * in OpenAI's specification (`ChatCompletionMessageToolCallChunk` names functions only,
 * openai/openai-openapi#576); it is read as reported there, the call's shape with `input` in
 * pieces: `{index, id, type: 'custom', custom: {name, input}}`, then `{index, custom: {input}}`.
 */

export interface CustomToolCall {
  id: string;
  type: 'custom';
  custom: { name: string; input: string };
}

/** The tool as Chat Completions takes it; `custom` is set (ToolDefinition.custom). */
export function encodeCustomTool(name: string, custom: NonNullable<ToolDefinition['custom']>): unknown {
  return {
    type: 'custom',
    custom: {
      name,
      ...(custom.description !== undefined && { description: custom.description }),
      ...(custom.format && { format: encodeFormat(custom.format) }),
    },
  };
}

function encodeFormat(format: CustomToolFormat): unknown {
  if (format.type === 'text') return { type: 'text' };
  return { type: 'grammar', grammar: { definition: format.definition, syntax: format.syntax } };
}

export const encodeCustomCall = (id: string, part: ToolCallPart): CustomToolCall => ({
  id,
  type: 'custom',
  custom: { name: part.name, input: part.arguments },
});

/** A custom tool's call (`type: 'custom'`) in a whole answer; undefined when it is malformed. */
export function decodeCustomCall(call: Record<string, unknown>): { name: string; input: string } | undefined {
  const { custom } = call;
  if (!isRecord(custom) || typeof custom.name !== 'string' || typeof custom.input !== 'string')
    return undefined;
  return { name: custom.name, input: custom.input };
}

/**
 * What one streamed tool-call delta adds: the call's name (on its first delta) and a piece of its
 * arguments, which for a custom tool's call is a piece of its text. `custom` is true when the delta
 * is a custom tool's.
 */
export function toolCallDelta(entry: Record<string, unknown>): {
  name: string | undefined;
  piece: string;
  custom: boolean;
} {
  if (isRecord(entry.custom)) {
    const { custom } = entry;
    return {
      name: nonEmptyString(custom.name),
      piece: typeof custom.input === 'string' ? custom.input : '',
      custom: true,
    };
  }
  const fn = isRecord(entry.function) ? entry.function : {};
  return {
    name: nonEmptyString(fn.name),
    piece: typeof fn.arguments === 'string' ? fn.arguments : '',
    custom: entry.type === 'custom',
  };
}
