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
  /** A wildcard alias (`claude-*`): its `*` models stand for the name the client sent. */
  wildcard: boolean;
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
  private aliases = new Map<string, Alias<P>>();
  /** Wildcard aliases by prefix, longest first: the most specific one wins. */
  private wildcards: Array<{ prefix: string; alias: Alias<P> }> = [];
  private readonly providers: ReadonlyMap<string, P>;

  constructor(models: Config['models'], providers: ReadonlyMap<string, P>) {
    this.providers = providers;
    for (const model of models) {
      const weighted = model.targets ?? [{ provider: model.provider!, model: model.model!, weight: 1 }];
      const wildcard = model.name.endsWith('*');
      const alias: Alias<P> = {
        name: model.name,
        wildcard,
        balanced: new WeightedRotation(
          weighted.map((t) => ({ item: this.target(t.provider, t.model), weight: t.weight })),
        ),
        fallbacks: model.fallbacks.map((t) => this.target(t.provider, t.model)),
        ...(model.timeoutMs !== undefined && { timeoutMs: model.timeoutMs }),
        ...(model.params !== undefined && { params: model.params }),
      };
      if (wildcard) {
        this.wildcards.push({ prefix: model.name.slice(0, -1), alias });
        continue;
      }
      if (weighted.length === 1) alias.fixed = this.route(alias, model.name);
      this.aliases.set(model.name, alias);
    }
    this.wildcards.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** Swaps in re-read aliases (SIGHUP); a request already routed keeps its route. */
  reload(models: Config['models']): void {
    const next = new Router(models, this.providers);
    this.aliases = next.aliases;
    this.wildcards = next.wildcards;
  }

  /** Whether `name` is a configured alias (not a wildcard's match or a `provider/model`). */
  isAlias(name: string): boolean {
    return this.aliases.has(name);
  }

  resolve(name: string): Route<P> | undefined {
    return this.find(name, true);
  }

  /**
   * The route `name` would take, its balanced targets in their configured order: a lookup (one
   * model by name) takes no turn of the rotation, which requests share.
   */
  peek(name: string): Route<P> | undefined {
    return this.find(name, false);
  }

  private find(name: string, turn: boolean): Route<P> | undefined {
    const alias = this.aliases.get(name);
    if (alias) return alias.fixed ?? this.route(alias, name, turn);
    const slash = name.indexOf('/');
    if (slash > 0 && slash < name.length - 1) {
      const provider = this.providers.get(name.slice(0, slash));
      const model = name.slice(slash + 1);
      // A model in a URL path (Azure's deployment) that is a dot segment would name another path.
      if (provider)
        return model === '.' || model === '..' ? undefined : { name, targets: [{ provider, model }] };
    }
    const wildcard = this.wildcards.find(
      ({ prefix }) => name.startsWith(prefix) && name.length > prefix.length,
    );
    return wildcard && this.route(wildcard.alias, name, turn);
  }

  /** The aliases, for `GET /v1/models` (wildcards name no model of their own). */
  listAliases(): Array<{ name: string; provider: string }> {
    return [...this.aliases.values()].map((alias) => ({
      name: alias.name,
      provider: alias.balanced.first().provider.id,
    }));
  }

  /** The configured providers, for `GET /v1/models` and for hints about unknown models. */
  listProviders(): P[] {
    return [...this.providers.values()];
  }

  private route(alias: Alias<P>, name: string, turn = true): Route<P> {
    const balanced = turn ? alias.balanced.order() : alias.balanced.all();
    const targets = [...balanced, ...alias.fallbacks];
    return {
      name,
      targets: alias.wildcard ? targets.map((t) => (t.model === '*' ? { ...t, model: name } : t)) : targets,
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
