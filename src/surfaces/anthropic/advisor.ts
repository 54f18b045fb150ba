import { mayUseModel, mayUseProvider } from '../../auth/access.js';
import type { Principal } from '../../auth/index.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { MessagesRequest } from './schema.js';

const ADVISOR_TOOL = /^advisor_\d{8}$/;

/**
 * Anthropic's advisor tool has the provider answer with a second model, the one the tool names,
 * on the gateway's account: a credential held to some models must be allowed that one too, by its
 * bare name or as `provider/model` on a provider it may use. The tool is a server tool, so it
 * reaches only Anthropic providers (the others refuse it).
 */
export function refuseUnallowedAdvisor(principal: Principal | undefined, body: MessagesRequest): void {
  if (principal?.kind !== 'token' || principal.record.models === null || !body.tools) return;
  const { models } = principal.record;
  body.tools.forEach((tool, i) => {
    const model = (tool as { model?: unknown }).model;
    if (typeof tool.type !== 'string' || !ADVISOR_TOOL.test(tool.type) || typeof model !== 'string') return;
    const allowed =
      mayUseModel(principal, model) ||
      models.some((name) => {
        const slash = name.indexOf('/');
        return (
          name.slice(slash + 1) === model && slash > 0 && mayUseProvider(principal, name.slice(0, slash))
        );
      });
    if (allowed) return;
    throw new GatewayError(
      403,
      'permission_error',
      `This token may not use the model '${model}' that the advisor tool tools[${i}] names`,
      { code: 'model_not_allowed', param: `tools[${i}].model` },
    );
  });
}
