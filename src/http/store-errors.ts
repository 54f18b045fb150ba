import { GatewayError } from '../errors/gateway-error.js';
import { type StoreFault, storeFault } from '../store/index.js';

/** How long a client is told to wait before it tries again, in seconds. */
const RETRY_SECONDS = '5';

/** A store that cannot be used right now, whatever the cause: nothing was done, retry. */
const unavailable = () =>
  new GatewayError(
    503,
    'service_unavailable',
    "The gateway's store cannot be reached right now; the request was not carried out and nothing was changed, retry shortly",
    {
      code: 'store_unavailable',
      headers: { 'retry-after': RETRY_SECONDS },
    },
  );

/**
 * The store's own failures (`store/faults.ts`) that an operator must fix and a client should hear
 * about plainly, rather than as an internal error: a full disk, a write lock another process holds,
 * and a store that cannot be reached (a Postgres server down or restarting, a disk failing). The
 * driver's words stay in the log.
 */
const STORE_FAILURES: Readonly<Record<StoreFault, () => GatewayError>> = {
  full: () =>
    new GatewayError(
      507,
      'server_error',
      'The gateway cannot write to its store: the disk is full; nothing was changed',
      {
        code: 'store_full',
      },
    ),
  busy: () =>
    new GatewayError(
      503,
      'service_unavailable',
      'The store is locked by another process; nothing was changed, retry shortly',
      {
        code: 'store_busy',
        headers: { 'retry-after': RETRY_SECONDS },
      },
    ),
  unreachable: unavailable,
  io: unavailable,
  readonly: unavailable,
};

/** The answer for a store failure, or undefined for any other error. */
export function storeFailure(error: unknown): GatewayError | undefined {
  const fault = storeFault(error);
  return fault && STORE_FAILURES[fault]();
}
