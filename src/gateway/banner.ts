import type { StaticKeyVerifier } from '../auth/index.js';
import type { Config, DataPaths } from '../config/index.js';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { Router } from '../routing/index.js';
import type { Store } from '../store/index.js';
import { storeLocation } from './storage.js';

export interface BannerSources {
  config: Config;
  source: string;
  providers: ReadonlyMap<string, ProviderRuntime>;
  router: Router<ProviderRuntime>;
  verifier: StaticKeyVerifier;
  store: Store;
  paths: DataPaths;
}

/** `auto` means readable lines for a person at a terminal; a log sink given in code stays JSON. */
export function wantsPretty(format: Config['logging']['format'], toStdout: boolean): boolean {
  if (format !== 'auto') return format === 'pretty';
  return toStdout && process.stdout.isTTY === true;
}

/**
 * What a person starting the gateway wants to see once: where it listens (the URLs come from the
 * caller), what it serves, how clients authenticate and where state is kept. Written with
 * `banner: true`, which the readable format lays out one field per line.
 */
export async function startBanner(sources: BannerSources): Promise<Record<string, unknown>> {
  const { config, providers, router, verifier, store, paths } = sources;
  const tokens = (await store.tokens.list()).length;
  const credentials = [
    verifier.size > 0 ? `${verifier.size} static key(s)` : undefined,
    tokens > 0 ? `${tokens} gateway token(s)` : undefined,
  ].filter(Boolean);
  const aliases = router.listAliases().map((a) => a.name);
  const wildcards = config.models.filter((m) => m.name.endsWith('*')).map((m) => m.name);
  return {
    banner: true,
    source: sources.source,
    providers: [...providers.values()].map((p) => `${p.id} (${p.config.type}, keys: ${p.keys.sourceKind})`),
    aliases: [...aliases, ...wildcards],
    credentials: credentials.length > 0 ? credentials.join(' + ') : 'none: every data-plane request gets 401',
    storage: `${storeLocation(config, paths)}${config.storage.redis ? ' + redis' : ''}`,
    limits: config.rateLimits.backend,
  };
}
