import type { Pool } from 'undici';
import type { ProviderConfig } from '../config/index.js';
import {
  createKeySource,
  KeyChecker,
  type KeyEvents,
  type KeySource,
  KeySourceError,
  ProviderKeys,
  type SecretString,
  type SourceContext,
} from '../keys/index.js';
import {
  createAdapter,
  createKeyProbe,
  type KeyProbe,
  type ProviderAdapter,
  probeVerdict,
} from '../providers/index.js';
import { createProviderPool, probeUpstream } from '../upstream/index.js';

/** Everything the hot path needs about one provider, built once at start. */
export interface ProviderRuntime {
  id: string;
  config: ProviderConfig;
  adapter: ProviderAdapter;
  dispatcher: Pool;
  keys: ProviderKeys;
  /** How to ask the provider whether a key works; absent for providers that take no key. */
  keyProbe?: KeyProbe;
  /** Decides, by probing, whether a key a provider refused is benched. */
  checker?: KeyChecker;
}

export type SourceEnvironment = Omit<SourceContext, 'provider'>;

/** Sources whose first failure stops the start: they are local, so a failure is a mistake to fix. */
const LOCAL_SOURCES = new Set(['env', 'values', 'store']);

/** The source a provider's `keys` block names; undefined for a provider without one. */
export function sourceFor(config: ProviderConfig, environment: SourceEnvironment): KeySource | undefined {
  const context: SourceContext = { ...environment, provider: config.id };
  return config.keys && createKeySource(config.keys, context);
}

function createProviderKeys(config: ProviderConfig, environment: SourceEnvironment, events: KeyEvents) {
  return new ProviderKeys({
    provider: config.id,
    source: sourceFor(config, environment),
    rotationDays: config.rotationDays,
    events,
  });
}

/** A probe is one small GET: a provider that takes longer than this to list models tells nothing. */
const PROBE_TIMEOUT_MS = 10_000;

function keyChecker(
  config: ProviderConfig,
  keys: ProviderKeys,
  dispatcher: Pool,
  probe: KeyProbe,
  events: KeyEvents,
): KeyChecker {
  const probeKey = async (secret: SecretString) => {
    const { status, body } = await probeUpstream(dispatcher, probe.call(secret), PROBE_TIMEOUT_MS);
    return probeVerdict(probe, status, body);
  };
  return new KeyChecker(keys.pool, probeKey, {
    benched(key, recheckMs) {
      events.alert(
        config.id,
        'key_rejected',
        key.id,
        `provider ${config.id} refused key ${key.id} (${key.secret.fingerprint}) when probed; it is out of rotation, probed again in ${recheckMs / 1000} s`,
      );
    },
    restored(key) {
      events.warn(config.id, `provider key ${key.id} works again when probed; it is back in rotation`);
    },
  });
}

/**
 * Builds the providers and loads their keys. A local source that fails is a configuration
 * problem (returned, so all of them are reported at once); an external one (Vault, AWS, Azure,
 * keyring) may be down for a while: the provider starts without keys, answers 503, and its
 * refresh keeps trying.
 */
export async function createProviderRuntimes(
  configs: readonly ProviderConfig[],
  environment: SourceEnvironment,
  events: KeyEvents,
): Promise<{ runtimes: Map<string, ProviderRuntime>; problems: string[] }> {
  const problems: string[] = [];
  const built = await Promise.all(
    configs.map(async (config, i): Promise<ProviderRuntime | undefined> => {
      const keys = createProviderKeys(config, environment, events);
      try {
        await keys.loadOrThrow();
      } catch (error) {
        if (!(error instanceof KeySourceError)) throw error;
        if (LOCAL_SOURCES.has(keys.sourceKind)) {
          problems.push(`providers[${i}].keys (${config.id}): ${error.message}`);
          return undefined;
        }
        events.refreshFailed(config.id, keys.sourceKind, error.message, false);
      }
      keys.start();
      const dispatcher = createProviderPool(config);
      const keyProbe = createKeyProbe(config);
      return {
        id: config.id,
        config,
        adapter: createAdapter(config),
        dispatcher,
        keys,
        ...(keyProbe && { keyProbe, checker: keyChecker(config, keys, dispatcher, keyProbe, events) }),
      };
    }),
  );
  const runtimes = new Map<string, ProviderRuntime>();
  for (const runtime of built) if (runtime) runtimes.set(runtime.id, runtime);
  if (problems.length > 0) await closeProviderRuntimes(runtimes.values());
  return { runtimes, problems };
}

export async function closeProviderRuntimes(runtimes: Iterable<ProviderRuntime>): Promise<void> {
  await Promise.all(
    [...runtimes].map(async (runtime) => {
      runtime.checker?.close();
      await runtime.keys.close();
      await runtime.dispatcher.close();
    }),
  );
}
