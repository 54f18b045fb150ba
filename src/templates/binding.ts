import { GatewayError } from '../errors/gateway-error.js';
import type { ChatResponse } from '../providers/index.js';
import { openAIBinding } from '../surfaces/openai/binding.js';
import type { SurfaceBinding } from '../surfaces/types.js';
import type { CompiledTemplate } from '../templating/compile.js';
import { matchesOutput } from '../templating/output.js';

/** The answer to a template run that is not streamed. */
export interface TemplateRunAnswer {
  id: string;
  object: 'template.run';
  template: string;
  version: number;
  model: string;
  /** The answer's text, or the parsed JSON when the template has an output schema. */
  output: unknown;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export const templateOutputInvalid = (): GatewayError =>
  new GatewayError(502, 'upstream_error', "The model's answer does not match this template's output schema", {
    code: 'template_output_invalid',
  });

/** The answer's text; with an output schema, the JSON it holds once it has passed the schema. */
function outputOf(template: CompiledTemplate, response: ChatResponse): unknown {
  let text = '';
  for (const part of response.content) if (part.type === 'text') text += part.text;
  if (!template.output) return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw templateOutputInvalid();
  }
  // An answer nested deeper than a recursive schema can be checked is not one it passes.
  if (matchesOutput(template.output, value) !== true) throw templateOutputInvalid();
  return value;
}

/**
 * A template run as the forwarder drives it: the request is an OpenAI chat request the gateway
 * built, always translated through the canonical form (so that the answer can be checked before it
 * is sent), answered as a template run; streams are OpenAI chat completion chunks.
 */
export function templateBinding(template: CompiledTemplate, renderedBytes: number): SurfaceBinding {
  return {
    ...openAIBinding,
    format: 'template',
    // The client sent params; the provider gets the rendered prompt, which is what the estimate counts.
    addedInputBytes: renderedBytes,
    fromCanonical(response): TemplateRunAnswer {
      const { inputTokens, outputTokens } = response.usage;
      return {
        id: response.id,
        object: 'template.run',
        template: template.definition.name,
        version: template.version,
        model: template.definition.model,
        output: outputOf(template, response),
        usage: {
          prompt_tokens: inputTokens,
          completion_tokens: outputTokens,
          total_tokens: inputTokens + outputTokens,
        },
      };
    },
  };
}
