import { mayUseModel, mayUseProvider } from '../../auth/access.js';
import type { Principal } from '../../auth/index.js';
import type { CatalogProvider, ModelCatalog } from '../../catalog/model-catalog.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { Router } from '../../routing/index.js';

export interface ListedModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

const entry = (id: string, provider: string, created: number): ListedModel => ({
  id,
  object: 'model',
  created,
  owned_by: provider,
});

/** An alias is listed when its name is allowed and so is the provider it goes to first. */
const aliasListed = (principal: Principal | undefined, alias: { name: string; provider: string }) =>
  mayUseModel(principal, alias.name) && mayUseProvider(principal, alias.provider);

/**
 * `GET /v1/models`: the aliases, then each provider's own models as `provider/model`, keeping only
 * what this principal may use (its models and providers), each name once.
 */
export async function visibleModels(
  principal: Principal | undefined,
  router: Router<CatalogProvider>,
  catalog: ModelCatalog,
  created: number,
): Promise<ListedModel[]> {
  const listed = router
    .listAliases()
    .filter((alias) => aliasListed(principal, alias))
    .map(({ name, provider }) => entry(name, provider, created));
  const providers = router.listProviders().filter((p) => mayUseProvider(principal, p.id));
  const offered = await Promise.all(providers.map((p) => catalog.models(p)));
  const seen = new Set(listed.map((m) => m.id));
  providers.forEach((provider, i) => {
    for (const model of offered[i]!) {
      const id = `${provider.id}/${model}`;
      if (seen.has(id) || !mayUseModel(principal, id)) continue;
      seen.add(id);
      listed.push(entry(id, provider.id, created));
    }
  });
  return listed;
}

/**
 * One model by name (`GET /v1/models/{model}`, Gemini's `models.get`), found as a chat request
 * naming it is routed and allowed, not in the listing: a `provider/model` the provider's list
 * leaves out (the list failed, or a passthrough provider has none to read) and a name a wildcard
 * alias takes are found too. A name this principal may not use is not found, as an unknown one
 * is, so that its existence is not revealed.
 */
export function usableModel(
  principal: Principal | undefined,
  router: Router<CatalogProvider>,
  name: string,
  created: number,
): ListedModel | undefined {
  const alias = router.listAliases().find((a) => a.name === name);
  if (alias && aliasListed(principal, alias)) return entry(name, alias.provider, created);
  const route = router.peek(name);
  if (!route || !mayUseModel(principal, route.name)) return undefined;
  const target = route.targets.find(({ provider }) => mayUseProvider(principal, provider.id));
  return target && entry(name, target.provider.id, created);
}

/** The 404 for a model `usableModel` does not find; `listing` is the route that lists the others. */
export function modelNotFound(name: string, listing: string): GatewayError {
  const shown = name.length > 128 ? `${name.slice(0, 128)}…` : name;
  return new GatewayError(
    404,
    'not_found_error',
    `The model '${shown}' does not exist or is not available to this credential; ${listing} lists the models it may use`,
    { code: 'model_not_found', param: 'model' },
  );
}
