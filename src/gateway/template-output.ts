import type { ProviderRuntime } from '../forward/provider-runtime.js';
import { UnsupportedFeature } from '../providers/index.js';
import type { Router } from '../routing/index.js';

/** Where a run's request holds the template's output schema, as a provider's refusal names it. */
const RUN_PATH = /^response_format\.json_schema\.schema/;

/**
 * Why a template's output schema cannot go to one of its model's targets (Anthropic refuses a
 * schema that allows any value, or a map), in the words a run would get; undefined when each
 * takes it. The same call a run builds is built, with the schema as the run sends it: defined
 * anyway, every run would be refused with a path into a request its caller never wrote.
 */
export function outputRefusal(
  router: Router<ProviderRuntime>,
  model: string,
  schema: Record<string, unknown>,
): string | undefined {
  for (const target of router.peek(model)?.targets ?? []) {
    try {
      target.provider.adapter.buildChatCall(
        {
          model: target.model,
          system: [],
          messages: [{ role: 'user', content: [{ type: 'text', text: 'output' }] }],
          responseFormat: { type: 'json_schema', name: 'output', schema },
          stream: false,
        },
        undefined,
      );
    } catch (error) {
      // Only a refusal of the request is a verdict on the schema; a call built without a key may
      // fail for want of one.
      if (!(error instanceof UnsupportedFeature)) continue;
      const at = error.param === undefined ? '' : ` at ${error.param.replace(RUN_PATH, 'output')}`;
      return `its target ${target.provider.id}/${target.model} cannot take it${at}: ${error.message}`;
    }
  }
  return undefined;
}
