/**
 * The store's server could not be connected to (down, unreachable, or refusing the connection),
 * as distinct from a store that was reached and cannot be used: the one is the network's or the
 * database's state, the other the store's.
 */
export class StoreUnreachableError extends Error {
  override name = 'StoreUnreachableError';
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}
