import { GatewayError } from '../errors/gateway-error.js';

/**
 * The store's own failures that an operator must fix and a client should hear about plainly,
 * rather than as an internal error: a full disk, and a write lock another process holds.
 * SQLite reports them by result code (better-sqlite3's `SqliteError.code`).
 */
const STORE_FAILURES: Readonly<Record<string, () => GatewayError>> = {
  SQLITE_FULL: () =>
    new GatewayError(
      507,
      'server_error',
      'The gateway cannot write to its store: the disk is full; nothing was changed',
      {
        code: 'store_full',
      },
    ),
  SQLITE_BUSY: () =>
    new GatewayError(
      503,
      'service_unavailable',
      'The store is locked by another process; nothing was changed, retry shortly',
      {
        code: 'store_busy',
        headers: { 'retry-after': '5' },
      },
    ),
};

/** The answer for a store failure, or undefined for any other error. */
export function storeFailure(error: unknown): GatewayError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? STORE_FAILURES[code]?.() : undefined;
}
