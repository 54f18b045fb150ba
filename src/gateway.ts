import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { DestinationStream } from 'pino';
import { PriceTable, UsageRecorder } from './accounting/index.js';
import {
  AUDIT_ACTORS,
  AUDIT_EVENTS,
  AUDIT_HEAD,
  AuditLog,
  AuthFailureSampler,
  recordEvent,
  storeAppender,
  ThreadAppender,
} from './audit/index.js';
import { MIN_CLIENT_KEY_LENGTH, StaticKeyVerifier, TokenService } from './auth/index.js';
import { type Config, ConfigError, dataPaths } from './config/index.js';
import { ConversationService } from './conversations/index.js';
import {
  EnvelopeError,
  type KeyEvents,
  KeySourceError,
  keysFromEnv,
  loadMasterKey,
  loadSealedSecret,
  type MasterKey,
  MasterKeyError,
  readMasterKeyFile,
  type SecretString,
  StoredKeys,
} from './keys/index.js';
import { limiterFromConfig } from './limits/index.js';
import {
  AlertMonitor,
  AlertWebhook,
  createLogger,
  type Logger,
  Metrics,
  Redactor,
} from './observability/index.js';
import { Router } from './routing/index.js';
import { createAdminPlane } from './server/admin-plane.js';
import { Admission } from './server/admission.js';
import { parseBudgetKey } from './server/admission-rules.js';
import { createDataPlane } from './server/data-plane.js';
import { FailureGuard } from './server/failure-guard.js';
import { createProviderRuntimes, type SourceEnvironment, sourceFor } from './server/provider-runtime.js';
import { readinessCheck } from './server/readiness.js';
import { requestAccounting } from './server/request-accounting.js';
import { openSqliteStore, type Store } from './store/index.js';

export interface GatewayOptions {
  config: Config;
  /** Where the configuration came from, for error messages. */
  source?: string;
  env?: NodeJS.ProcessEnv;
  /** `--data-dir`; else KEYWARD_DATA_DIR, else ./.keyward. */
  dataDir?: string;
  /** Log sink (tests capture lines here); defaults to stdout. */
  logDestination?: DestinationStream;
  /**
   * Seal and append audit records on a worker thread (`ThreadAppender`) rather than on the event
   * loop that serves requests. `keyward start` does; the worker is compiled JavaScript, so a
   * gateway run from the TypeScript sources (the in-process tests) appends on its own thread.
   */
  auditThread?: boolean;
}

export interface Gateway {
  logger: Logger;
  metrics: Metrics;
  redactor: Redactor;
  /** Starts both listeners; resolves with their base URLs. */
  listen(): Promise<{ dataUrl: string; adminUrl: string }>;
  /**
   * Applies a re-read configuration (SIGHUP): providers whose `keys` block changed load from the
   * new source, the others refresh theirs. Other changes need a restart, and a warning says so.
   */
  reload(config: Config): Promise<void>;
  /**
   * Stops accepting, lets in-flight requests and streams finish for up to `graceMs`, then cuts
   * what is left and releases upstream connections.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * How often the store is checked for changes made by another process (a CLI command, another
 * instance): a revoked token stops working everywhere within this.
 */
const STORE_POLL_MS = 250;

/** Client keys from `auth.apiKeys.env` and the admin key: absent is allowed (fail closed), weak is not. */
function credentialKeys(
  variable: string | undefined,
  env: NodeJS.ProcessEnv,
  source: string,
): SecretString[] {
  if (!variable || !env[variable]?.trim()) return [];
  let keys: SecretString[];
  try {
    keys = keysFromEnv(variable, env);
  } catch (error) {
    if (error instanceof KeySourceError) throw new ConfigError(source, [error.message]);
    throw error;
  }
  if (keys.some((key) => key.reveal().length < MIN_CLIENT_KEY_LENGTH)) {
    throw new ConfigError(source, [
      `${variable}: every key must be at least ${MIN_CLIENT_KEY_LENGTH} characters`,
    ]);
  }
  return keys;
}

/** Digests of the admin keys `keyward init` created (the keys themselves were shown once). */
export async function adminKeyHashes(store: Store): Promise<string[]> {
  const raw = await store.meta.get('admin_key_hashes');
  return raw ? (JSON.parse(raw) as string[]) : [];
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

const urlOf = (address: AddressInfo | string | null): string => {
  if (!address || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
};

function openStore(path: string, source: string): Store {
  try {
    return openSqliteStore(path);
  } catch (error) {
    throw new ConfigError(source, [`cannot open the store ${path}: ${(error as Error).message}`]);
  }
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const env = options.env ?? process.env;
  const source = options.source ?? 'configuration';

  const clientKeys = credentialKeys(config.auth.apiKeys.env, env, source);
  const adminKeys = credentialKeys('KEYWARD_ADMIN_KEY', env, source);
  const redactor = new Redactor([...clientKeys, ...adminKeys].map((key) => key.reveal()));
  const { logger, flush } = createLogger({
    level: config.logging.level,
    redactor,
    ...(options.logDestination && { destination: options.logDestination }),
  });
  const metrics = new Metrics();

  // Checked before the store opens, so a missing secret stops the start with nothing to undo.
  const webhook = config.alerts.webhook && alertWebhook(config.alerts.webhook, env, source, logger);
  const paths = dataPaths(config, env, options.dataDir);
  const store = openStore(paths.database, source);
  let masters: MasterKey[];
  try {
    const { master, created } = await loadMasterKey({
      env,
      file: paths.masterKeyFile,
      // Only the default location is created: a configured file that is missing is more likely a
      // secret mount that failed than a first start, and a new key would orphan every record.
      create: config.masterKey.file === undefined,
      salt: async () =>
        Buffer.from(
          await store.meta.setIfAbsent('master_salt', randomBytes(16).toString('base64')),
          'base64',
        ),
    });
    if (created) logger.warn({ file: paths.masterKeyFile }, 'created a new master key file; back it up');
    masters = [master];
  } catch (error) {
    await store.close();
    if (error instanceof MasterKeyError) throw new ConfigError(source, [`master key: ${error.message}`]);
    throw error;
  }

  let pepper: Buffer;
  let auditKey: Buffer;
  try {
    pepper = await loadSealedSecret(store, masters, 'token_pepper');
    auditKey = await loadSealedSecret(store, masters, 'audit_key');
  } catch (error) {
    await store.close();
    if (error instanceof EnvelopeError) {
      throw new ConfigError(source, [
        `master key: the store was sealed with another master key (${error.message})`,
      ]);
    }
    throw error;
  }
  const audit = new AuditLog({
    // The newest record is kept beside the chain so that `keyward audit verify` can tell a cut
    // tail from a short log.
    appender: options.auditThread
      ? new ThreadAppender(paths.database, auditKey, { headName: AUDIT_HEAD })
      : storeAppender(store.audit, auditKey, { meta: store.meta, name: AUDIT_HEAD }),
    redact: (text) => redactor.redact(text),
    batchSize: config.audit.batchSize,
    intervalMs: config.audit.intervalMs,
    onError: (error) => logger.error({ err: error }, 'audit log'),
  });
  const authFailures = new AuthFailureSampler({ log: audit });
  const alerts = new AlertMonitor({
    spikeFactor: config.alerts.spikeFactor,
    authFailuresPerMinute: config.alerts.authFailuresPerMinute,
    emit(alert) {
      metrics.alertRaised(alert.kind);
      logger.warn({ alert: alert.kind, subject: alert.subject, ...alert.detail }, alert.message);
      webhook?.send(alert);
    },
  });

  const keyEvents: KeyEvents = {
    loaded(_provider, secrets) {
      for (const secret of secrets) redactor.addSecret(secret.reveal());
    },
    refreshFailed(provider, kind, message) {
      metrics.keySourceFailed(provider, kind);
      logger.error(
        { provider, source: kind },
        `loading provider keys failed; the keys loaded last stay in use: ${message}`,
      );
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
  const environment: SourceEnvironment = {
    env,
    store,
    masters: () => masters,
    warn: (message) => logger.warn(message),
  };
  const { runtimes: providers, problems } = await createProviderRuntimes(
    config.providers,
    environment,
    keyEvents,
  );
  if (problems.length > 0) {
    await store.close();
    throw new ConfigError(source, problems);
  }
  metrics.observeKeys(() =>
    [...providers.values()].flatMap((runtime) =>
      runtime.keys.pool
        .list()
        .map((key) => ({ provider: runtime.id, id: key.id, state: key.state, createdAt: key.createdAt })),
    ),
  );

  const tokens = new TokenService(store, pepper);
  await tokens.load();

  const storedKeys = new StoredKeys(store, () => masters[0]!);
  /** Reloads the providers that keep their keys in the store, after a change made here or elsewhere. */
  const refreshStored = async (): Promise<void> => {
    // `keyward master rotate` run elsewhere rewrites the key file; pick the new key up, keep the old.
    if (masters[0]!.origin === 'file') {
      try {
        const { master } = readMasterKeyFile(paths.masterKeyFile, false);
        if (master.id !== masters[0]!.id) masters = [master, ...masters.filter((m) => m.id !== master.id)];
      } catch (error) {
        logger.error(`cannot re-read the master key file: ${(error as Error).message}`);
      }
    }
    await Promise.all(
      [...providers.values()].filter((p) => p.keys.sourceKind === 'store').map((p) => p.keys.refresh()),
    );
  };
  let marker = await store.changeMarker();
  const poll = setInterval(async () => {
    try {
      const now = await store.changeMarker();
      if (now === marker) return;
      marker = now;
      await Promise.all([tokens.syncRevocations(), refreshStored()]);
    } catch (error) {
      logger.error({ err: error }, 'cannot check the store for changes');
    }
  }, STORE_POLL_MS);
  poll.unref();

  const router = new Router(config.models, providers);
  const verifier = new StaticKeyVerifier(
    clientKeys,
    config.auth.apiKeys.hashes.map((h) => h.slice('sha256:'.length)),
  );
  let ready = false;
  const prices = new PriceTable(config.pricing);
  const usage = new UsageRecorder({
    store: store.usage,
    onError: (error) =>
      logger.error({ err: error }, 'writing usage failed; the counts are kept for the next attempt'),
  });
  const spentBefore = async (key: string): Promise<number> => {
    const budget = parseBudgetKey(key);
    if (!budget) return 0;
    await usage.flush();
    const who = budget.tokenId !== undefined ? { tokenId: budget.tokenId } : { userId: budget.userId! };
    return store.usage.spent(who, budget.fromDay);
  };
  const limiter = limiterFromConfig(config, spentBefore, (error, mode) => {
    metrics.limiterUnavailable(mode);
    logger.error(
      `the rate-limit backend (Redis) failed; requests are ${mode === 'closed' ? 'refused' : 'let through unlimited'} until it is back: ${error.message}`,
    );
  });
  const readiness = readinessCheck({ config, store, limiter, providers, serving: () => ready });
  const admission = new Admission(limiter, config, prices, (subject) => alerts.budgetExhausted(subject));
  const failures = new FailureGuard(config.rateLimits.perIp.failuresPerMinute);
  const onFinished = requestAccounting({
    prices,
    usage,
    admission,
    audit,
    auditRequests: config.audit.requests,
    alerts,
    logger,
  });
  const onAuthFailure = (request: FastifyRequest, reason: string): void => {
    metrics.authFailed();
    alerts.authFailure();
    authFailures.failed(request.ip, reason);
  };

  const conversations = new ConversationService(store.conversations, () => masters, config.conversations);
  const retention = conversations.keepPurged((error) =>
    logger.error({ err: error }, 'conversation purge failed'),
  );
  const data = createDataPlane({
    config,
    logger,
    metrics,
    router,
    verifier,
    tokens,
    keyEvents,
    admission,
    failures,
    onFinished,
    onAuthFailure,
    readiness,
    conversations,
  });
  const admin = createAdminPlane({
    config,
    logger,
    metrics,
    adminVerifier: new StaticKeyVerifier(adminKeys, await adminKeyHashes(store)),
    readiness,
    keys: { stored: storedKeys, providers, changed: refreshStored },
    tokens,
    store,
    usage,
    audit,
    conversations,
  });

  if (verifier.size === 0 && (await store.tokens.list()).length === 0) {
    logger.warn(
      'no client credential is configured (auth.apiKeys, gateway tokens): the data plane answers 401 to every request; set KEYWARD_API_KEY or create a token',
    );
  }
  if (adminKeys.length === 0 && (await adminKeyHashes(store)).length === 0)
    logger.warn('no admin key is configured (KEYWARD_ADMIN_KEY): the admin API answers 401');
  if (providers.size === 0) logger.warn('no provider is configured: every model request will fail');

  return {
    logger,
    metrics,
    redactor,
    async listen() {
      await data.listen({ host: config.server.host, port: config.server.port });
      await admin.listen({ host: config.admin.host, port: config.admin.port });
      ready = true;
      const urls = { dataUrl: urlOf(data.server.address()), adminUrl: urlOf(admin.server.address()) };
      logger.info({ ...urls, source, providers: [...providers.keys()] }, 'keyward listening');
      return urls;
    },
    async reload(next) {
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
          logger.info(
            { provider: provider.id, ok: replaced },
            'provider keys reloaded from a changed source',
          );
        }),
      );
      logger.info('configuration reloaded');
      recordEvent(audit, AUDIT_EVENTS.configReloaded, AUDIT_ACTORS.system, { ok: true });
    },
    async close(graceMs = config.shutdown.graceMs) {
      ready = false;
      clearInterval(poll);
      const closing = Promise.all([data.close(), admin.close()]);
      // server.close() drops the connections idle at that moment only; a keep-alive connection
      // whose last response finishes during the drain must be dropped too, or close() waits for
      // the client to hang up.
      const sweep = setInterval(() => {
        data.server.closeIdleConnections();
        admin.server.closeIdleConnections();
      }, 50);
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<'expired'>((resolve) => {
        timer = setTimeout(() => resolve('expired'), graceMs);
      });
      if ((await Promise.race([closing, expired])) === 'expired') {
        logger.warn({ graceMs }, 'shutdown grace period over: closing the connections still open');
        data.server.closeAllConnections();
        admin.server.closeAllConnections();
        await closing;
      }
      clearTimeout(timer);
      clearInterval(sweep);
      clearInterval(retention);
      await Promise.all(
        [...providers.values()].map(async (p) => {
          await p.dispatcher.destroy();
          await p.keys.close();
        }),
      );
      authFailures.stop();
      await webhook?.close();
      await usage.close();
      await audit.close();
      await limiter.close();
      await store.close();
      logger.info('keyward stopped');
      flush();
    },
  };
}
