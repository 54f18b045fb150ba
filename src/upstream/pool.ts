import type { ProviderConfig } from '../config/index.js';
import { Pool } from './undici.js';

/**
 * One keep-alive undici Pool per provider (so per origin, with that provider's timeouts).
 * `headersTimeout` and `bodyTimeout` are the first-byte and idle timeouts.
 */
export function createProviderPool(config: ProviderConfig): Pool {
  const { timeouts } = config;
  return new Pool(new URL(config.baseUrl).origin, {
    connections: config.connections,
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.firstByteMs,
    bodyTimeout: timeouts.idleMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });
}
