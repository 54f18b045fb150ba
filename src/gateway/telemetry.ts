import type { DestinationStream } from 'pino';
import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditLog, recordEvent } from '../audit/index.js';
import { type Config, ConfigError } from '../config/index.js';
import type { KeyEvents, SecretString } from '../keys/index.js';
import {
  type Alert,
  AlertMonitor,
  AlertWebhook,
  createLogger,
  LiveStats,
  type Logger,
  Metrics,
  Redactor,
  reportCrashesWith,
} from '../observability/index.js';
import { wantsPretty } from './banner.js';

/** Alerts kept for the dashboard. */
export const RECENT_ALERTS = 200;

export interface Telemetry {
  redactor: Redactor;
  logger: Logger;
  /** Writes out what the logger still buffers; the last thing close() does. */
  flush(): void;
  metrics: Metrics;
  /** The alert webhook in use; `reloadWebhook` may replace it. */
  readonly webhook: AlertWebhook | undefined;
  alerts: AlertMonitor;
  /** The alerts raised since start, newest last (at most 200), for the dashboard. */
  recentAlerts: readonly Alert[];
  /** The last hour of traffic, second by second, for the dashboard. */
  live: LiveStats;
  /** Applies a re-read `alerts.webhook`; a new one with a bad secret keeps the running one and says so. */
  reloadWebhook(next: Config['alerts']['webhook']): Promise<void>;
}

interface TelemetryOptions {
  config: Config;
  env: NodeJS.ProcessEnv;
  source: string;
  /** The credentials known at start, redacted from every log line from the first one on. */
  secrets: readonly SecretString[];
  logDestination: DestinationStream | undefined;
}

function alertWebhook(
  config: NonNullable<Config['alerts']['webhook']>,
  env: NodeJS.ProcessEnv,
  source: string,
  logger: Logger,
): AlertWebhook {
  const secret = env[config.secretEnv];
  if (!secret || secret.length < 16) {
    throw new ConfigError(source, [
      `alerts.webhook.secretEnv: ${config.secretEnv} must hold a signing secret of at least 16 characters`,
    ]);
  }
  return new AlertWebhook({
    url: config.url,
    secret,
    onError: (error) => logger.error(`alert webhook: ${error.message}`),
  });
}

/** The passwords in the store's and Redis's URLs: a driver's error may quote its connection. */
function storagePasswords(config: Config): string[] {
  const urls = [config.storage.postgres?.url, config.storage.redis?.url];
  return urls.flatMap((url) => {
    const password = url ? new URL(url).password : '';
    return password ? [decodeURIComponent(password)] : [];
  });
}

/**
 * The logger (with the one redactor), the metrics and the alerts. Built before the store opens, so
 * that a missing webhook secret stops the start with nothing to undo.
 */
export function createTelemetry({
  config,
  env,
  source,
  secrets,
  logDestination,
}: TelemetryOptions): Telemetry {
  const redactor = new Redactor([...secrets.map((key) => key.reveal()), ...storagePasswords(config)]);
  const { logger, flush } = createLogger({
    level: config.logging.level,
    redactor,
    pretty: wantsPretty(config.logging.format, logDestination === undefined),
    ...(logDestination && { destination: logDestination }),
  });
  reportCrashesWith(redactor, flush);
  const metrics = new Metrics();
  let webhook = config.alerts.webhook && alertWebhook(config.alerts.webhook, env, source, logger);
  let webhookConfig = config.alerts.webhook;
  const recentAlerts: Alert[] = [];
  const alerts = new AlertMonitor({
    spikeFactor: config.alerts.spikeFactor,
    authFailuresPerMinute: config.alerts.authFailuresPerMinute,
    emit(alert) {
      recentAlerts.push(alert);
      if (recentAlerts.length > RECENT_ALERTS) recentAlerts.shift();
      metrics.alertRaised(alert.kind);
      logger.warn({ alert: alert.kind, subject: alert.subject, ...alert.detail }, alert.message);
      webhook?.send(alert);
    },
  });
  return {
    redactor,
    logger,
    flush,
    metrics,
    get webhook() {
      return webhook || undefined;
    },
    alerts,
    recentAlerts,
    live: new LiveStats(),
    async reloadWebhook(next) {
      if (JSON.stringify(next) === JSON.stringify(webhookConfig)) return;
      try {
        const replaced = next && alertWebhook(next, env, source, logger);
        if (webhook) await webhook.close();
        webhook = replaced;
        webhookConfig = next;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        logger.error(`alerts.webhook not reloaded, the running one stays: ${error.problems.join('; ')}`);
      }
    },
  };
}

/** What provider key custody reports: loaded secrets join the redactor, failures become metrics, logs, alerts. */
export function keyEventsFor({ redactor, logger, metrics, alerts }: Telemetry, audit: AuditLog): KeyEvents {
  return {
    loaded(_provider, secrets) {
      for (const secret of secrets) redactor.addSecret(secret.reveal());
    },
    refreshFailed(provider, kind, message, kept) {
      metrics.keySourceFailed(provider, kind);
      const meanwhile = kept
        ? 'the keys loaded last stay in use'
        : 'the provider has no key and answers 503 until a load succeeds';
      logger.error({ provider, source: kind }, `loading provider keys failed; ${meanwhile}: ${message}`);
    },
    alert(provider, reason, key, message) {
      metrics.providerKeyAlert(provider, reason);
      alerts.raise({ kind: reason, subject: `${provider}/${key}`, message, detail: { provider, key } });
      if (reason === 'key_rejected') {
        recordEvent(audit, AUDIT_EVENTS.keyRejected, AUDIT_ACTORS.system, { provider, keyId: key });
      }
    },
    warn(provider, message) {
      logger.warn({ provider }, message);
    },
  };
}
