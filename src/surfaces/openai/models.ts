import { mayUseModel, mayUseProvider } from '../../auth/access.js';
import type { Principal } from '../../auth/index.js';
import type { CatalogProvider, ModelCatalog } from '../../catalog/model-catalog.js';
import type { Router } from '../../routing/index.js';

export interface ListedModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

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
  const entry = (id: string, provider: string): ListedModel => ({
    id,
    object: 'model',
    created,
    owned_by: provider,
  });
  const listed = router
    .listAliases()
    .filter(({ name, provider }) => mayUseModel(principal, name) && mayUseProvider(principal, provider))
    .map(({ name, provider }) => entry(name, provider));
  const providers = router.listProviders().filter((p) => mayUseProvider(principal, p.id));
  const offered = await Promise.all(providers.map((p) => catalog.models(p)));
  const seen = new Set(listed.map((m) => m.id));
  providers.forEach((provider, i) => {
    for (const model of offered[i]!) {
      const id = `${provider.id}/${model}`;
      if (seen.has(id) || !mayUseModel(principal, id)) continue;
      seen.add(id);
      listed.push(entry(id, provider.id));
    }
  });
  return listed;
}
