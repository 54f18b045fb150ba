import type { Config } from '../config/index.js';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { Readiness } from '../http/health.js';
import type { Limiter } from '../limits/index.js';
import type { Store } from '../store/index.js';

export interface ReadinessOptions {
  config: Config;
  store: Store;
  limiter: Limiter;
  providers: ReadonlyMap<string, ProviderRuntime>;
  /** False before listening and once shutdown has begun. */
  serving(): boolean;
}

/** What `/ready` reports (see `Readiness` for the meaning of each state). */
export function readinessCheck({ config, store, limiter, providers, serving }: ReadinessOptions) {
  const sharedLimits = config.rateLimits.backend === 'redis' && config.rateLimits.failMode === 'closed';
  return async (): Promise<Readiness> => {
    if (!serving()) return { status: 'shutting_down' };
    const problems: string[] = [];
    try {
      await store.ping();
    } catch {
      problems.push('store: unreachable');
    }
    if (sharedLimits) {
      try {
        await limiter.status([], [], []);
      } catch {
        problems.push('redis: unreachable, and rate limits fail closed');
      }
    }
    if (problems.length > 0) return { status: 'unavailable', problems };
    const keyless = [...providers.values()].filter(
      (p) => p.keys.pooled && !p.keys.pool.list().some((key) => key.state !== 'invalid'),
    );
    if (keyless.length > 0) {
      return { status: 'degraded', problems: keyless.map((p) => `provider ${p.id}: no usable key`) };
    }
    return { status: 'ready' };
  };
}
