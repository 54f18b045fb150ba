import { mayUseModel, mayUseProvider } from '../auth/access.js';
import type { Principal } from '../auth/index.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { Router } from '../routing/index.js';
import { unknownModelMessage } from '../routing/model-hints.js';
import type { ProviderRuntime } from './provider-runtime.js';

/** The 404 for a model name nothing routes: says what would work, among what this principal may use. */
export function unknownModel(
  name: string,
  router: Router<ProviderRuntime>,
  principal: Principal | undefined,
): GatewayError {
  const providers = router
    .listProviders()
    .filter((p) => mayUseProvider(principal, p.id))
    .map((p) => ({ id: p.id, type: p.config.type }));
  const aliases = router
    .listAliases()
    .filter((a) => mayUseModel(principal, a.name) && mayUseProvider(principal, a.provider))
    .map((a) => a.name);
  return new GatewayError(404, 'not_found_error', unknownModelMessage(name, aliases, providers), {
    code: 'model_not_found',
    param: 'model',
  });
}
