import type { z } from 'zod';
import { outputValidator } from './output.js';
import type { ParamValue } from './params.js';
import { type CompiledText, compileText, renderText } from './render.js';
import type { TemplateDefinition } from './schema.js';

/** Where a template comes from: keyward.yaml (read-only through the admin API) or the store. */
export type TemplateSource = 'file' | 'store';

/** A template ready to run: its texts split into slots, its output schema built once. */
export interface CompiledTemplate {
  readonly definition: TemplateDefinition;
  readonly source: TemplateSource;
  /** Stored templates count their versions from 1; file templates are version 0. */
  readonly version: number;
  readonly system: CompiledText | undefined;
  readonly messages: ReadonlyArray<{ role: 'user' | 'assistant'; parts: CompiledText }>;
  /** Validates a parsed answer; absent when the template has no output schema. */
  readonly output: z.ZodType | undefined;
}

export function compileTemplate(
  definition: TemplateDefinition,
  source: TemplateSource,
  version: number,
): CompiledTemplate {
  return {
    definition,
    source,
    version,
    system: definition.system === undefined ? undefined : compileText(definition.system),
    messages: definition.messages.map((m) => ({ role: m.role, parts: compileText(m.content) })),
    output: definition.output ? outputValidator(definition.output) : undefined,
  };
}

/** The OpenAI Chat Completions request a run makes: what the forwarder takes from any chat client. */
export function renderRequest(
  template: CompiledTemplate,
  values: ReadonlyMap<string, ParamValue>,
  stream: boolean,
): Record<string, unknown> & { model: string } {
  const { definition } = template;
  const messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }> = [];
  if (template.system) messages.push({ role: 'system', content: renderText(template.system, values) });
  for (const m of template.messages) messages.push({ role: m.role, content: renderText(m.parts, values) });
  return {
    model: definition.model,
    messages,
    ...(definition.maxTokens !== undefined && { max_completion_tokens: definition.maxTokens }),
    ...(definition.temperature !== undefined && { temperature: definition.temperature }),
    ...(definition.output && {
      response_format: {
        type: 'json_schema',
        json_schema: { name: definition.name, schema: definition.output },
      },
    }),
    ...(stream && { stream: true, stream_options: { include_usage: true } }),
  };
}
