import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { MIN_CLIENT_KEY_LENGTH, StaticKeyVerifier } from './auth/index.js';
import { type Config, ConfigError } from './config/index.js';
import { KeySourceError, keysFromEnv, type SecretString } from './keys/index.js';
import { createLogger, type Logger, Metrics, Redactor } from './observability/index.js';
import { Router } from './routing/index.js';
import { createAdminPlane } from './server/admin-plane.js';
import { createDataPlane } from './server/data-plane.js';
import { createProviderRuntimes } from './server/provider-runtime.js';

export interface GatewayOptions {
  config: Config;
  /** Where the configuration came from, for error messages. */
  source?: string;
  env?: NodeJS.ProcessEnv;
  /** Log sink (tests capture lines here); defaults to stdout. */
  logDestination?: DestinationStream;
}

export interface Gateway {
  logger: Logger;
  metrics: Metrics;
  redactor: Redactor;
  /** Starts both listeners; resolves with their base URLs. */
  listen(): Promise<{ dataUrl: string; adminUrl: string }>;
  /**
   * Stops accepting, lets in-flight requests and streams finish for up to `graceMs`, then cuts
   * what is left and releases upstream connections.
   */
  close(graceMs?: number): Promise<void>;
}

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

const urlOf = (address: AddressInfo | string | null): string => {
  if (!address || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
};

export function createGateway(options: GatewayOptions): Gateway {
  const { config } = options;
  const env = options.env ?? process.env;
  const source = options.source ?? 'configuration';

  const keys = credentialKeys(config.auth.apiKeys.env, env, source);
  const adminKeys = credentialKeys('KEYWARD_ADMIN_KEY', env, source);
  const providers = createProviderRuntimes(config.providers, env, source);
  const redactor = new Redactor(
    [...keys, ...adminKeys, ...[...providers.values()].flatMap((p) => p.keys.values())].map((k) =>
      k.reveal(),
    ),
  );
  const { logger, flush } = createLogger({
    level: config.logging.level,
    redactor,
    ...(options.logDestination && { destination: options.logDestination }),
  });
  const metrics = new Metrics();
  const router = new Router(config.models, providers);
  const verifier = new StaticKeyVerifier(
    keys,
    config.auth.apiKeys.hashes.map((h) => h.slice('sha256:'.length)),
  );
  let ready = false;
  const isReady = () => ready;

  const data = createDataPlane({ config, logger, metrics, router, verifier, isReady });
  const admin = createAdminPlane({
    config,
    logger,
    metrics,
    adminVerifier: new StaticKeyVerifier(adminKeys, []),
    isReady,
  });

  if (verifier.size === 0) {
    logger.warn(
      'no client credential is configured (auth.apiKeys): the data plane answers 401 to every request; set KEYWARD_API_KEY',
    );
  }
  if (adminKeys.length === 0)
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
    async close(graceMs = config.shutdown.graceMs) {
      ready = false;
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
      await Promise.all([...providers.values()].map((p) => p.dispatcher.destroy()));
      logger.info('keyward stopped');
      flush();
    },
  };
}
