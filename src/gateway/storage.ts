import { type Config, ConfigError } from '../config/index.js';
import { type Announced, announceInstance, PerInstanceLimitsError } from '../limits/index.js';
import type { Logger } from '../observability/index.js';
import { openSqliteStore, type Store } from '../store/index.js';

/** The store, or a configuration error that names the path it could not open. */
export function openStore(path: string, source: string): Store {
  try {
    return openSqliteStore(path);
  } catch (error) {
    throw new ConfigError(source, [`cannot open the store ${path}: ${(error as Error).message}`]);
  }
}

/** Announces this instance in the store; refuses to start where rate limits would multiply. */
export async function announce(
  store: Store,
  config: Config,
  source: string,
  logger: Logger,
): Promise<Announced> {
  try {
    return await announceInstance(store.instances, {
      limits: config.rateLimits.backend,
      perInstance: config.rateLimits.perInstance,
      onError: (error) => logger.error({ err: error }, 'cannot record this instance as alive in the store'),
    });
  } catch (error) {
    if (error instanceof PerInstanceLimitsError) throw new ConfigError(source, [error.message]);
    throw error;
  }
}
