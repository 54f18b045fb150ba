import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createAdminPlane } from '../admin/index.js';
import { type AuditLog, type AuthFailureSampler, verifyStoredChain } from '../audit/index.js';
import { StaticKeyVerifier, type TokenService } from '../auth/index.js';
import type { ConversationService } from '../conversations/index.js';
import { createDataPlane } from '../data-plane/index.js';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { KeyEvents, SecretString, StoredKeys } from '../keys/index.js';
import type { Router } from '../routing/index.js';
import type { Browser } from '../sessions/index.js';
import type { Store } from '../store/index.js';
import type { TemplateRegistry } from '../templates/index.js';
import type { AdminViews } from './admin-views.js';
import { readinessCheck } from './readiness.js';
import { adminKeyHashes } from './secrets.js';
import { failureGuard } from './shared-failure-guard.js';
import type { Start } from './start.js';
import type { Telemetry } from './telemetry.js';
import { outputRefusal } from './template-output.js';
import type { Traffic } from './traffic.js';

interface PlanesParts {
  store: Store;
  providers: ReadonlyMap<string, ProviderRuntime>;
  router: Router<ProviderRuntime>;
  tokens: TokenService;
  browser: Browser;
  templates: TemplateRegistry;
  conversations: ConversationService;
  keyEvents: KeyEvents;
  traffic: Traffic;
  audit: AuditLog;
  /** Verifies the audit chain for the dashboard. */
  auditKey: Buffer;
  authFailures: AuthFailureSampler;
  storedKeys: StoredKeys;
  /** Reloads the store-kept provider keys after the admin API changed them. */
  refreshStored(): Promise<void>;
  views: AdminViews;
}

/** The two listeners: the data plane clients call, and the admin plane. Neither listens yet. */
export async function createPlanes(
  { config, env, source, telemetry, clientKeys, adminKeys, state, options: { worker, answers } }: Start,
  options: PlanesParts,
): Promise<{ data: FastifyInstance; admin: FastifyInstance; verifier: StaticKeyVerifier }> {
  const { store, providers, traffic, tokens, audit } = options;
  const { logger, metrics, alerts } = telemetry;
  const verifier = new StaticKeyVerifier(
    clientKeys,
    config.auth.apiKeys.hashes.map((h) => h.slice('sha256:'.length)),
  );
  const readiness = readinessCheck({
    config,
    store,
    limiter: traffic.limiter,
    providers,
    serving: () => state.serving,
  });
  const onAuthFailure = (request: FastifyRequest, reason: string): void => {
    metrics.authFailed();
    alerts.authFailure();
    options.authFailures.failed(request.ip, reason);
  };
  const data = createDataPlane({
    config,
    logger,
    metrics,
    router: options.router,
    verifier,
    tokens,
    admission: traffic.admission,
    failures: traffic.failures,
    onFinished: (request, status, ms) => {
      traffic.onFinished(request, status, ms);
      const { usage, costMicros, provider, model } = request.kw;
      const tokens = usage ? usage.inputTokens + usage.outputTokens : 0;
      telemetry.live.finished(status, ms, tokens, costMicros ?? 0, { provider, model });
    },
    onAuthFailure,
    readiness,
    browser: options.browser,
    templates: options.templates,
    conversations: options.conversations,
    answers,
  });
  const admin = createAdminPlane({
    config,
    logger,
    metrics,
    adminVerifier: new StaticKeyVerifier(adminKeys, await adminKeyHashes(store)),
    readiness,
    keys: {
      stored: options.storedKeys,
      providers,
      changed: options.refreshStored,
      use: options.views.keyUse,
    },
    tokens,
    store,
    written: options.views.written,
    audit,
    failures: failureGuard(config.rateLimits.perIp.failuresPerMinute, 'admin', worker?.channel),
    sessions: options.browser.sessions,
    jwt: options.browser.jwt,
    templates: options.templates,
    routes: (model) => options.router.peek(model) !== undefined,
    outputRefusal: (model, schema) => outputRefusal(options.router, model, schema),
    conversations: options.conversations,
    prometheus: options.views.prometheus,
    dashboard: {
      live: options.views.live,
      alerts: options.views.alerts,
      verifyAudit: async () => {
        await audit.flush();
        return verifyStoredChain(store, options.auditKey);
      },
    },
  });
  await warnUnconfigured(verifier, adminKeys, store, providers, logger, clientKeyAdvice(config, env, source));
  return { data, admin, verifier };
}

/**
 * How to give the data plane a client key. KEYWARD_API_KEY is read only when the configuration
 * names it (the no-file mode does): set in the environment beside a file that does not, it is
 * ignored, and "set KEYWARD_API_KEY" would send the operator in a circle.
 */
function clientKeyAdvice(config: Start['config'], env: NodeJS.ProcessEnv, source: string): string {
  const variable = config.auth.apiKeys.env;
  if (variable !== undefined) return `set ${variable} or create a token`;
  const ignored = env.KEYWARD_API_KEY?.trim() ? 'KEYWARD_API_KEY is set but not read: ' : '';
  return `${ignored}add auth: { apiKeys: { env: KEYWARD_API_KEY } } to ${source}, or create a token`;
}

/** Starting without credentials or providers is allowed (everything is refused); say so once. */
async function warnUnconfigured(
  verifier: StaticKeyVerifier,
  adminKeys: SecretString[],
  store: Store,
  providers: ReadonlyMap<string, ProviderRuntime>,
  logger: Telemetry['logger'],
  clientKeyHow: string,
): Promise<void> {
  if (verifier.size === 0 && (await store.tokens.list()).length === 0) {
    logger.warn(
      `no client credential is configured (auth.apiKeys, gateway tokens): the data plane answers 401 to every request; ${clientKeyHow}`,
    );
  }
  if (adminKeys.length === 0 && (await adminKeyHashes(store)).length === 0)
    logger.warn('no admin key is configured (KEYWARD_ADMIN_KEY): the admin API answers 401');
  if (providers.size === 0) logger.warn('no provider is configured: every model request will fail');
}
