import type { Config } from '../config/index.js';

/** One place a request can go: a provider and the model name that provider knows. */
export interface Target<P> {
  provider: P;
  model: string;
}

export interface Route<P> {
  /** The name the client used (an alias or `provider/model`). */
  name: string;
  /** The primary target first, then the fallbacks in order. */
  targets: Target<P>[];
}

/**
 * Resolves the `model` a client sends: a configured alias, or `provider/model` for any provider in
 * the configuration. Nothing in a request can name a URL; providers come only from the config.
 */
export class Router<P extends { id: string }> {
  private readonly aliases = new Map<string, Route<P>>();
  private readonly providers: ReadonlyMap<string, P>;

  constructor(models: Config['models'], providers: ReadonlyMap<string, P>) {
    this.providers = providers;
    for (const model of models) {
      const targets = [model, ...model.fallbacks].map((target) => ({
        provider: this.provider(target.provider),
        model: target.model,
      }));
      this.aliases.set(model.name, { name: model.name, targets });
    }
  }

  resolve(name: string): Route<P> | undefined {
    const alias = this.aliases.get(name);
    if (alias) return alias;
    const slash = name.indexOf('/');
    if (slash <= 0 || slash === name.length - 1) return undefined;
    const provider = this.providers.get(name.slice(0, slash));
    return provider ? { name, targets: [{ provider, model: name.slice(slash + 1) }] } : undefined;
  }

  /** The aliases, for `GET /v1/models`. */
  listAliases(): Array<{ name: string; provider: string }> {
    return [...this.aliases.values()].map((route) => ({
      name: route.name,
      provider: route.targets[0]!.provider.id,
    }));
  }

  private provider(id: string): P {
    const provider = this.providers.get(id);
    // The config schema already checked every reference; reaching this is a programming error.
    if (!provider) throw new Error(`model refers to unknown provider ${id}`);
    return provider;
  }
}
