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

/**
 * How long one probe of the store and Redis answers `/ready`. The route takes no credential: a
 * query per call let anyone polling it hold the store's connection pool (10 by default), which
 * every authenticated request waits on. An orchestrator polls every few seconds and loses nothing.
 */
const PROBE_REUSE_MS = 1000;

/** What `/ready` reports (see `Readiness` for the meaning of each state). */
export function readinessCheck({ config, store, limiter, providers, serving }: ReadinessOptions) {
  const sharedLimits = config.rateLimits.backend === 'redis' && config.rateLimits.failMode === 'closed';
  const probeBackends = async (): Promise<string[]> => {
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
    return problems;
  };
  // Calls that arrive while a probe runs wait for it; a settled one answers for PROBE_REUSE_MS.
  let probe: Promise<string[]> | undefined;
  let settledAt = Number.NEGATIVE_INFINITY;
  const backendProblems = (): Promise<string[]> => {
    if (!probe || performance.now() - settledAt >= PROBE_REUSE_MS) {
      settledAt = Number.POSITIVE_INFINITY;
      probe = probeBackends().finally(() => {
        settledAt = performance.now();
      });
    }
    return probe;
  };
  return async (): Promise<Readiness> => {
    if (!serving()) return { status: 'shutting_down' };
    const problems = await backendProblems();
    if (problems.length > 0) return { status: 'unavailable', problems: [...problems] };
    const keyless = [...providers.values()].filter((p) => p.keys.pooled && !p.keys.pool.hasUsable());
    if (keyless.length > 0) {
      return { status: 'degraded', problems: keyless.map((p) => `provider ${p.id}: no usable key`) };
    }
    return { status: 'ready' };
  };
}
