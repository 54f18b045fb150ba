import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditLog, recordEvent } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { type ProviderRuntime, type SourceEnvironment, sourceFor } from '../forward/provider-runtime.js';
import type { Logger } from '../observability/index.js';

interface ReloadOptions {
  config: Config;
  providers: ReadonlyMap<string, ProviderRuntime>;
  environment: SourceEnvironment;
  logger: Logger;
  audit: AuditLog;
}

/** `Gateway.reload`: provider keys follow the re-read configuration; anything else waits for a restart. */
export function reloader({ config, providers, environment, logger, audit }: ReloadOptions) {
  return async (next: Config): Promise<void> => {
    const strip = (c: Config) =>
      JSON.stringify({ ...c, providers: c.providers.map((p) => ({ ...p, keys: null })) });
    if (strip(next) !== strip(config)) {
      logger.warn('configuration changes other than provider keys take effect after a restart');
    }
    await Promise.all(
      next.providers.map(async (provider) => {
        const runtime = providers.get(provider.id);
        if (!runtime) return;
        if (JSON.stringify(provider.keys) === JSON.stringify(runtime.config.keys)) {
          await runtime.keys.refresh();
          return;
        }
        // The new source goes in through the old manager, so pool state and metrics carry over.
        const replaced = await runtime.keys.replaceSource(sourceFor(provider, environment));
        runtime.config = { ...runtime.config, keys: provider.keys };
        logger.info({ provider: provider.id, ok: replaced }, 'provider keys reloaded from a changed source');
      }),
    );
    logger.info('configuration reloaded');
    recordEvent(audit, AUDIT_EVENTS.configReloaded, AUDIT_ACTORS.system, { ok: true });
  };
}
