import { AUDIT_HEAD } from '../audit/index.js';
import { TokenService } from '../auth/index.js';
import { dataPaths } from '../config/index.js';
import { ConversationService, ThreadConversationWriter } from '../conversations/index.js';
import { StoredKeys } from '../keys/index.js';
import { Router } from '../routing/index.js';
import { browserFromConfig } from '../sessions/index.js';
import { adminViews } from './admin-views.js';
import { createAudit } from './audit.js';
import { startBanner } from './banner.js';
import { closeProviders, lifecycle } from './lifecycle.js';
import { createPlanes } from './planes.js';
import { keySourceEnvironment, startProviders } from './providers.js';
import { reloader } from './reload.js';
import { Resources } from './resources.js';
import { credentialKeys, openSecrets } from './secrets.js';
import { shareAuthFailures } from './shared-auth-failures.js';
import { shareKeyStates } from './shared-key-state.js';
import { shareTokenTraffic } from './shared-token-traffic.js';
import type { Start } from './start.js';
import { announce, openStore, refusalsBeforeMigrating, storeFaultAtStart } from './storage.js';
import { watchStore } from './store-watch.js';
import { createTelemetry, keyEventsFor } from './telemetry.js';
import { outputRefusal } from './template-output.js';
import { loadTemplates } from './templates.js';
import { createTraffic } from './traffic.js';
import type { Gateway, GatewayOptions } from './types.js';
import { writerThread } from './writer-thread.js';

/**
 * The composition root: each area is built by its own module, in dependency order. What a start
 * acquired before it failed is released, newest first, by the same stack close() unwinds.
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const env = options.env ?? process.env;
  const source = options.source ?? 'configuration';
  const clientKeys = credentialKeys(config.auth.apiKeys.env, env, source);
  const adminKeys = credentialKeys('KEYWARD_ADMIN_KEY', env, source);
  const secrets = [...clientKeys, ...adminKeys];
  const telemetry = createTelemetry({ config, env, source, secrets, logDestination: options.logDestination });
  const resources = new Resources();
  const start: Start = {
    options,
    config,
    env,
    source,
    clientKeys,
    adminKeys,
    telemetry,
    resources,
    state: { serving: false },
  };
  try {
    return await assemble(start);
  } catch (error) {
    // The start's own failure is the one to report, not a failure to release what it acquired.
    await start.resources.closeAll().catch(() => undefined);
    throw storeFaultAtStart(error, config, dataPaths(config, env, options.dataDir));
  }
}

async function assemble(start: Start): Promise<Gateway> {
  const { options, config, env, source, telemetry, resources } = start;
  const { logger, metrics } = telemetry;
  resources.add('alert webhook', () => telemetry.webhook?.close());
  const paths = dataPaths(config, env, options.dataDir);
  // A worker's primary has refused or migrated the store before forking it.
  const store = await openStore(
    config,
    paths,
    logger,
    options.worker
      ? undefined
      : refusalsBeforeMigrating(config, source, { ports: options.portsBeforeMigrating === true }),
  );
  resources.add('store', () => store.close());
  const { masters, pepper, auditKey } = await openSecrets({ config, env, paths, store, source, logger });
  if (!options.worker) {
    // With the key it seals with, told again as soon as it changes: `keyward master rotate`
    // finishes only once every instance seals with the new one.
    const instance = await announce(store, config, source, logger, () => masters.newest.id);
    masters.onSwitch(() => instance.beat());
    resources.add('instance heartbeat', () => instance.close());
  }
  // Closed after the audit log and the conversation writes (added below it), which flush into it.
  const thread =
    options.writerThread === true && store.kind === 'sqlite'
      ? writerThread({ databasePath: paths.database, audit: { key: auditKey, headName: AUDIT_HEAD } })
      : undefined;
  if (thread) resources.add('writer thread', () => thread.close());
  const { audit, authFailures } = createAudit({ config, store, auditKey, thread, telemetry });
  resources.add('audit log', (deadline) => audit.close(deadline));
  resources.add('auth failure sampler', () => authFailures.stop());
  const keyEvents = keyEventsFor(telemetry, audit);
  const environment = keySourceEnvironment(env, store, masters, logger);
  const providers = await startProviders(config, environment, keyEvents, metrics, source);
  resources.add('providers', () => closeProviders(providers));
  // Redis reaches every instance (and every worker); without it, workers share through their primary.
  const redisUrl = config.storage.redis?.url;
  if (redisUrl) {
    // Loaded only here: the Redis client costs a gateway without Redis about 20 MB of RSS.
    const { shareKeyStatesOverRedis } = await import('./redis-key-state.js');
    const sharing = shareKeyStatesOverRedis(providers, redisUrl, logger);
    resources.add('key state sharing', () => sharing.close());
  } else if (options.worker) shareKeyStates(providers, options.worker.channel);
  if (options.worker) {
    shareAuthFailures(telemetry.alerts, options.worker.channel);
    resources.add('token traffic sharing', shareTokenTraffic(telemetry.alerts, options.worker.channel));
  }
  const tokens = new TokenService(store, pepper);
  await tokens.load();
  const browser = await browserFromConfig(config, store, pepper, audit, tokens);
  await browser.jwt?.load();
  const jwt = browser.jwt;
  const sessionSweep = browser.sessions.keepSwept((error) =>
    logger.error({ err: error }, 'pruning ended sessions failed'),
  );
  resources.add('session pruning', () => clearInterval(sessionSweep));
  const syncs = [() => tokens.syncRevocations(), () => browser.sessions.syncRevocations()];
  if (jwt) syncs.push(() => jwt.syncRevocations());
  const templates = await loadTemplates(config, store, logger);
  const conversations = new ConversationService(
    store.conversations,
    (keyId) => masters.opening(keyId),
    config.conversations,
    { writer: thread && new ThreadConversationWriter(thread).write },
  );
  const retention = conversations.keepPurged((error) =>
    logger.error({ err: error }, 'conversation purge failed'),
  );
  resources.add('conversation writes', (deadline) => conversations.close(deadline));
  resources.add('conversation retention', () => clearInterval(retention));
  syncs.push(() => templates.refresh());
  const storedKeys = new StoredKeys(store, () => masters.newest);
  const { refreshStored, stop } = await watchStore({ store, syncs, masters, providers, logger });
  resources.add('store watch', stop);
  const router = new Router(config.models, providers);
  // The configuration file's templates were checked with it; their targets only now exist.
  for (const { name, model, output } of config.templates) {
    const refusal = output && outputRefusal(router, model, output);
    if (refusal) logger.warn({ template: name }, `the template's output schema cannot be used: ${refusal}`);
  }
  telemetry.metrics.labelAliases((name) => router.isAlias(name));
  telemetry.live.labelAliases((name) => router.isAlias(name));
  const traffic = await createTraffic({
    config,
    store,
    audit,
    telemetry,
    limiter: options.worker?.limiter,
    channel: options.worker?.channel,
    isAlias: (name) => router.isAlias(name),
  });
  options.worker?.answerFlushes?.(traffic.usage);
  resources.add('usage recorder', (deadline) => traffic.usage.close(deadline));
  resources.add('limiter', () => traffic.limiter.close());
  const parts = {
    store,
    providers,
    router,
    tokens,
    browser,
    templates,
    conversations,
    storedKeys,
    refreshStored,
    keyEvents,
    traffic,
    views: adminViews(
      telemetry,
      {
        providers,
        write: async () => {
          await Promise.all([traffic.usage.flush(), audit.flush()]);
        },
      },
      options.worker?.channel,
    ),
  };
  const planes = await createPlanes(start, { ...parts, audit, auditKey, authFailures });
  const { prices, admission } = traffic;
  const reload = reloader({
    config,
    providers,
    environment,
    telemetry,
    audit,
    router,
    prices,
    admission,
    planes,
    templates,
  });
  const banner = () =>
    startBanner({ config, source, providers, router, verifier: planes.verifier, store, paths });
  return lifecycle(start, planes, banner, reload);
}
