import type { FastifyInstance } from 'fastify';
import type { PriceTable } from '../accounting/index.js';
import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditLog, recordEvent } from '../audit/index.js';
import type { Config } from '../config/index.js';
import { planReload } from '../config/reload-plan.js';
import { type ProviderRuntime, type SourceEnvironment, sourceFor } from '../forward/provider-runtime.js';
import { reloadTls } from '../http/tls.js';
import type { Admission } from '../limits/admission.js';
import type { Router } from '../routing/index.js';
import type { TemplateRegistry } from '../templates/index.js';
import type { Telemetry } from './telemetry.js';

interface ReloadOptions {
  config: Config;
  providers: ReadonlyMap<string, ProviderRuntime>;
  environment: SourceEnvironment;
  telemetry: Telemetry;
  audit: AuditLog;
  router: Router<ProviderRuntime>;
  prices: PriceTable;
  admission: Admission;
  planes: { data: FastifyInstance; admin: FastifyInstance };
  templates: TemplateRegistry;
}

/** Renewed certificates are picked up on SIGHUP; the listeners' other TLS settings need a restart. */
function reloadCertificates(next: Config, { config, planes, telemetry }: ReloadOptions): void {
  const pairs = [
    [planes.data, next.server.tls ?? config.server.tls, config.server.tls],
    [planes.admin, next.admin.tls ?? config.admin.tls, config.admin.tls],
  ] as const;
  for (const [listener, tls, started] of pairs) {
    if (!tls || !started) continue;
    try {
      reloadTls(listener.server, tls);
    } catch (error) {
      telemetry.logger.error(
        `cannot reload the TLS certificate; the current one stays in use: ${(error as Error).message}`,
      );
    }
  }
}

/** Providers whose `keys` block changed load from the new source; the others refresh theirs. */
/** Reloads each provider's keys; resolves the providers whose changed source could not load. */
async function reloadProviderKeys(next: Config, { providers, environment, telemetry }: ReloadOptions) {
  const kept: string[] = [];
  await Promise.all(
    next.providers.map(async (provider) => {
      const runtime = providers.get(provider.id);
      if (!runtime) return;
      if (JSON.stringify(provider.keys) === JSON.stringify(runtime.config.keys)) {
        await runtime.keys.refresh();
        return;
      }
      // The new source goes in through the old manager, so pool state and metrics carry over.
      if (await runtime.keys.replaceSource(sourceFor(provider, environment))) {
        runtime.config = { ...runtime.config, keys: provider.keys };
        telemetry.logger.info({ provider: provider.id }, 'provider keys reloaded from a changed source');
      } else {
        kept.push(`providers[${provider.id}].keys`);
        telemetry.logger.error(
          { provider: provider.id },
          "the provider's new keys source could not load: its keys and their source stay as they were; fix the keys block and reload again",
        );
      }
    }),
  );
  return kept;
}

/**
 * `Gateway.reload` (SIGHUP): aliases, limits, budgets, pricing, alerts, the log level and provider
 * keys follow the re-read configuration. What needs new listeners, pools or a store is named in a
 * warning.
 */
export function reloader(options: ReloadOptions) {
  const { config, telemetry, audit, router, prices, admission } = options;
  const { logger, alerts } = telemetry;
  /** The configuration in effect: the start's, with what each reload applied since. */
  let current = config;
  return async (next: Config): Promise<void> => {
    const plan = planReload(current, next, config);
    const routed = plan.apply.includes('models');
    if (routed) router.reload(next.models);
    // Every other live section is applied below whatever the plan says; the models stay as they
    // were while they name a provider that only a restart starts.
    current = { ...next, models: routed ? next.models : current.models };
    prices.reload(next.pricing);
    admission.reload(next);
    alerts.reconfigure(next.alerts);
    options.templates.setFileTemplates(next.templates);
    await telemetry.reloadWebhook(next.alerts.webhook);
    const kept = await reloadProviderKeys(next, options);
    const applied = plan.apply.filter((path) => !kept.includes(path));
    reloadCertificates(next, options);
    if (plan.restart.length > 0) {
      logger.warn(
        { needsRestart: plan.restart },
        `changed settings that take effect only after a restart: ${plan.restart.join(', ')}`,
      );
    }
    logger.info(
      { applied, needsRestart: plan.restart, ...(kept.length > 0 && { notApplied: kept }) },
      'configuration reloaded',
    );
    recordEvent(audit, AUDIT_EVENTS.configReloaded, AUDIT_ACTORS.system, {
      ok: kept.length === 0,
      changed: applied,
      ...(kept.length > 0 && { notApplied: kept }),
    });
    // Last, so that the summary above is written at the level the operator ran with until now.
    logger.level = next.logging.level;
  };
}
