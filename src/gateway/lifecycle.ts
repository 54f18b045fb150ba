import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.js';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import { listenOn } from '../http/listen.js';
import { listenersOf } from './listeners.js';
import { drain } from './shutdown.js';
import type { Start } from './start.js';
import type { Gateway } from './types.js';

const urlOf = (address: AddressInfo | string | null, tls: unknown): string => {
  if (!address || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
};

/** Releases a provider's upstream connections, then stops its key refresh. */
export async function closeProviders(providers: ReadonlyMap<string, ProviderRuntime>): Promise<void> {
  await Promise.all(
    [...providers.values()].map(async (p) => {
      p.checker?.close();
      await p.dispatcher.destroy();
      await p.keys.close();
    }),
  );
}

/**
 * The started gateway: listen opens both listeners, or neither; close drains them, then releases
 * everything else newest first (the resource stack), and writes out the last log lines however it
 * ended.
 */
export function lifecycle(
  { config, telemetry, resources, state }: Start,
  { data, admin }: { data: FastifyInstance; admin: FastifyInstance },
  /** What the start banner says: listeners aside, the providers, aliases, credentials and storage. */
  banner: () => Promise<Record<string, unknown>>,
  reload: (next: Config) => Promise<void>,
): Gateway {
  const { logger, metrics, redactor } = telemetry;
  return {
    logger,
    metrics,
    redactor,
    async listen() {
      try {
        const [dataListener, adminListener] = listenersOf(config);
        await listenOn(data, dataListener);
        await listenOn(admin, adminListener);
        state.serving = true;
        const urls = {
          dataUrl: urlOf(data.server.address(), config.server.tls),
          adminUrl: urlOf(admin.server.address(), config.admin.tls),
        };
        logger.info({ ...urls, ...(await banner()) }, 'keyward listening');
        return urls;
      } catch (error) {
        // All or nothing: a data plane left listening when the admin port was taken served (and
        // billed) requests for a caller told the start had failed, and kept its process alive.
        state.serving = false;
        await Promise.all([data.close(), admin.close()]);
        throw error;
      }
    },
    reload,
    async close(graceMs = config.shutdown.graceMs) {
      // The drain and the final writes share the grace period: a store that is down for a moment
      // is waited for with what the drain left of it.
      const deadline = Date.now() + graceMs;
      state.serving = false;
      try {
        await drain([data, admin], graceMs, logger);
        await resources.closeAll(deadline);
        logger.info('keyward stopped');
      } catch (error) {
        logger.error({ err: error }, 'error during shutdown');
        throw error;
      } finally {
        // The process exits next: the lines still buffered, an error's above all, would be lost.
        telemetry.flush();
      }
    },
  };
}
