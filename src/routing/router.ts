import type { Config, ModelConfig } from '../config/index.js';
import { WeightedRotation } from './weighted.js';

/** One place a request can go: a provider and the model name that provider knows. */
export interface Target<P> {
  provider: P;
  model: string;
}

export type RouteParams = NonNullable<ModelConfig['params']>;

export interface Route<P> {
  /** The name the client used (an alias or `provider/model`). */
  name: string;
  /** The target chosen for this request first, then the other balanced targets, then the fallbacks. */
  targets: Target<P>[];
  /** The alias's own deadline for the whole exchange, when it sets one. */
  timeoutMs?: number;
  params?: RouteParams;
}

interface Alias<P> {
  name: string;
  balanced: WeightedRotation<Target<P>>;
  fallbacks: Target<P>[];
  timeoutMs?: number;
  params?: RouteParams;
  /** The route itself when there is nothing to balance: built once, not per request. */
  fixed?: Route<P>;
}

/**
 * Resolves the `model` a client sends: a configured alias, or `provider/model` for any provider in
 * the configuration. Nothing in a request can name a URL; providers come only from the config.
 */
export class Router<P extends { id: string }> {
  private readonly aliases = new Map<string, Alias<P>>();
  private readonly providers: ReadonlyMap<string, P>;

  constructor(models: Config['models'], providers: ReadonlyMap<string, P>) {
    this.providers = providers;
    for (const model of models) {
      const weighted = model.targets ?? [{ provider: model.provider!, model: model.model!, weight: 1 }];
      const alias: Alias<P> = {
        name: model.name,
        balanced: new WeightedRotation(
          weighted.map((t) => ({ item: this.target(t.provider, t.model), weight: t.weight })),
        ),
        fallbacks: model.fallbacks.map((t) => this.target(t.provider, t.model)),
        ...(model.timeoutMs !== undefined && { timeoutMs: model.timeoutMs }),
        ...(model.params !== undefined && { params: model.params }),
      };
      if (weighted.length === 1) alias.fixed = this.route(alias);
      this.aliases.set(model.name, alias);
    }
  }

  resolve(name: string): Route<P> | undefined {
    const alias = this.aliases.get(name);
    if (alias) return alias.fixed ?? this.route(alias);
    const slash = name.indexOf('/');
    if (slash <= 0 || slash === name.length - 1) return undefined;
    const provider = this.providers.get(name.slice(0, slash));
    return provider ? { name, targets: [{ provider, model: name.slice(slash + 1) }] } : undefined;
  }

  /** The aliases, for `GET /v1/models`. */
  listAliases(): Array<{ name: string; provider: string }> {
    return [...this.aliases.values()].map((alias) => ({
      name: alias.name,
      provider: alias.balanced.first().provider.id,
    }));
  }

  private route(alias: Alias<P>): Route<P> {
    return {
      name: alias.name,
      targets: [...alias.balanced.order(), ...alias.fallbacks],
      timeoutMs: alias.timeoutMs,
      params: alias.params,
    };
  }

  private target(id: string, model: string): Target<P> {
    const provider = this.providers.get(id);
    // The config schema already checked every reference; reaching this is a programming error.
    if (!provider) throw new Error(`model refers to unknown provider ${id}`);
    return { provider, model };
  }
}
