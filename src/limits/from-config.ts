import type { Config } from '../config/index.js';
import { createMemoryLimiter } from './memory-limiter.js';
import type { FailMode } from './redis-limiter.js';
import type { Limiter, SpentBefore } from './types.js';

/**
 * The limiter `rateLimits.backend` names: one process's memory, or Redis shared by all instances.
 * The Redis client is loaded only for the Redis backend.
 */
export async function limiterFromConfig(
  config: Config,
  spentBefore: SpentBefore,
  onBackendError: (error: Error, mode: FailMode) => void,
): Promise<Limiter> {
  if (config.rateLimits.backend !== 'redis') return createMemoryLimiter({ spentBefore });
  const { createRedisLimiter } = await import('./redis-limiter.js');
  return createRedisLimiter({
    // The config schema refuses backend: redis without storage.redis.
    url: config.storage.redis!.url,
    prefix: 'keyward:',
    failMode: config.rateLimits.failMode,
    spentBefore,
    onBackendError,
  });
}
