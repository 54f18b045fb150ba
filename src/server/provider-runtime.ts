import type { Pool } from 'undici';
import { ConfigError, type ProviderConfig } from '../config/index.js';
import { KeyPool, KeySourceError, keysFromEnv } from '../keys/index.js';
import { createAdapter, type ProviderAdapter } from '../providers/index.js';
import { createProviderPool } from '../upstream/index.js';

/** Everything the hot path needs about one provider, built once at start. */
export interface ProviderRuntime {
  id: string;
  config: ProviderConfig;
  adapter: ProviderAdapter;
  dispatcher: Pool;
  keys: KeyPool;
}

export function createProviderRuntimes(
  configs: readonly ProviderConfig[],
  env: NodeJS.ProcessEnv,
  source: string,
): Map<string, ProviderRuntime> {
  const problems: string[] = [];
  const runtimes = new Map<string, ProviderRuntime>();
  configs.forEach((config, i) => {
    let keys = new KeyPool([]);
    try {
      if (config.keys) keys = new KeyPool(keysFromEnv(config.keys.env, env));
    } catch (error) {
      if (!(error instanceof KeySourceError)) throw error;
      problems.push(`providers[${i}].keys (${config.id}): ${error.message}`);
      return;
    }
    runtimes.set(config.id, {
      id: config.id,
      config,
      adapter: createAdapter(config),
      dispatcher: createProviderPool(config),
      keys,
    });
  });
  if (problems.length > 0) {
    void closeProviderRuntimes(runtimes.values());
    throw new ConfigError(source, problems);
  }
  return runtimes;
}

export async function closeProviderRuntimes(runtimes: Iterable<ProviderRuntime>): Promise<void> {
  await Promise.all([...runtimes].map((runtime) => runtime.dispatcher.close()));
}
