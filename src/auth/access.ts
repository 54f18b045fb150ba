import { GatewayError } from '../errors/gateway-error.js';
import type { Route } from '../routing/index.js';
import type { Scope } from '../store/index.js';
import type { Principal } from './index.js';

/**
 * What a gateway token may do, checked per request. Static client keys carry no constraints:
 * they are the operator's own keys.
 */
export function requireScope(principal: Principal | undefined, scope: Scope): void {
  if (principal?.kind !== 'token' || principal.scopes.has(scope)) return;
  throw new GatewayError(403, 'permission_error', `This token does not have the '${scope}' scope`, {
    code: 'insufficient_scope',
  });
}

export function mayUseModel(principal: Principal | undefined, name: string): boolean {
  if (principal?.kind !== 'token') return true;
  const { models } = principal.record;
  return models === null || models.includes(name);
}

/**
 * The targets of a route this principal may reach: the model name must be allowed, and only the
 * allowed providers stay (a fallback to a provider the token may not use is skipped).
 */
export function allowedTargets<P extends { id: string }>(
  principal: Principal | undefined,
  route: Route<P>,
): Route<P> {
  if (principal?.kind !== 'token') return route;
  // Built only when thrown: an Error captures a stack trace, too dear for every request.
  const denied = () =>
    new GatewayError(403, 'permission_error', `This token may not use the model '${route.name}'`, {
      code: 'model_not_allowed',
      param: 'model',
    });
  if (!mayUseModel(principal, route.name)) throw denied();
  const { providers } = principal.record;
  if (providers === null) return route;
  const targets = route.targets.filter((target) => providers.includes(target.provider.id));
  if (targets.length === 0) throw denied();
  return { ...route, targets };
}

/** Whether a token restricted to some providers may use this one (static keys may use any). */
export const mayUseProvider = (principal: Principal | undefined, provider: string): boolean =>
  principal?.kind !== 'token' ||
  principal.record.providers === null ||
  principal.record.providers.includes(provider);
