import type { Dispatcher } from 'undici';
import type { ProviderConfig } from '../config/index.js';
import { Pool } from './undici.js';
import { GATEWAY_ID, VIA_HEADER } from './via.js';

type Headers = Dispatcher.DispatchOptions['headers'];

/** `headers` naming this gateway in `x-keyward-via`, unless they name the gateways already. */
function withVia(headers: Headers): Headers {
  if (!headers) return { [VIA_HEADER]: GATEWAY_ID };
  if (Array.isArray(headers)) {
    const named = headers.some((value, i) => i % 2 === 0 && value.toLowerCase() === VIA_HEADER);
    return named ? headers : [...headers, VIA_HEADER, GATEWAY_ID];
  }
  const record = Symbol.iterator in headers ? Object.fromEntries(headers) : headers;
  return VIA_HEADER in record ? record : { ...record, [VIA_HEADER]: GATEWAY_ID };
}

/**
 * Every request a provider's pool sends names this gateway (see `via.ts`): a forwarded request
 * carries the gateways its client's request passed through too (`exchange`); a key probe or a
 * model list, made by the gateway itself, names this one alone.
 */
class ProviderPool extends Pool {
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const headers = withVia(options.headers);
    return super.dispatch(headers === options.headers ? options : { ...options, headers }, handler);
  }
}

/**
 * One keep-alive undici Pool per provider (so per origin, with that provider's timeouts).
 * `headersTimeout` and `bodyTimeout` are the first-byte and idle timeouts.
 */
export function createProviderPool(config: ProviderConfig): Pool {
  const { timeouts } = config;
  return new ProviderPool(new URL(config.baseUrl).origin, {
    connections: config.connections,
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.firstByteMs,
    bodyTimeout: timeouts.idleMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });
}
