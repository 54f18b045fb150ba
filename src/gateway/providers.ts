import { type Config, ConfigError } from '../config/index.js';
import { createProviderRuntimes, type SourceEnvironment } from '../forward/provider-runtime.js';
import type { KeyEvents } from '../keys/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Store } from '../store/index.js';
import type { MasterKeys } from './secrets.js';

/** What a key source may use: the environment, the store and the master keys in use. */
export function keySourceEnvironment(
  env: NodeJS.ProcessEnv,
  store: Store,
  masters: MasterKeys,
  logger: Logger,
): SourceEnvironment {
  return {
    env,
    store,
    masters: (keyId) => masters.opening(keyId),
    warn: (message) => logger.warn(message),
  };
}

/** The providers with their keys loaded; a local key source that fails stops the start, naming each problem. */
export async function startProviders(
  config: Config,
  environment: SourceEnvironment,
  keyEvents: KeyEvents,
  metrics: Metrics,
  source: string,
) {
  const { runtimes, problems } = await createProviderRuntimes(config.providers, environment, keyEvents);
  if (problems.length > 0) throw new ConfigError(source, problems);
  metrics.observeKeys(() =>
    [...runtimes.values()].flatMap((runtime) =>
      runtime.keys.pool.list().map((key) => ({
        provider: runtime.id,
        id: key.id,
        // Cooling for some of its models is cooling to an operator's alert.
        state:
          key.state === 'active' && runtime.keys.pool.coolingModels(key).length > 0 ? 'cooling' : key.state,
        createdAt: key.createdAt,
      })),
    ),
  );
  return runtimes;
}
