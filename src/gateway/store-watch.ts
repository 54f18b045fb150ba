import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';
import type { MasterKeys } from './secrets.js';

/**
 * How often the store is checked for changes made by another process (a CLI command, another
 * instance): a revoked token stops working everywhere within this.
 */
const STORE_POLL_MS = 250;

interface StoreWatchOptions {
  store: Store;
  /** What follows revocations and other changes in the store: tokens, sessions, JWT revocations… */
  syncs: readonly (() => Promise<unknown>)[];
  masters: MasterKeys;
  providers: ReadonlyMap<string, ProviderRuntime>;
  logger: Logger;
}

/**
 * Follows changes other processes make to the store: revocations (`syncs`), and the provider keys kept
 * in the store (with a master key rotated meanwhile). `refreshStored` is also what the admin API
 * calls after changing stored keys itself.
 */
export async function watchStore({ store, syncs, masters, providers, logger }: StoreWatchOptions) {
  /** Reloads the providers that keep their keys in the store, after a change made here or elsewhere. */
  const refreshStored = async (): Promise<void> => {
    masters.reread();
    await Promise.all(
      [...providers.values()].filter((p) => p.keys.sourceKind === 'store').map((p) => p.keys.refresh()),
    );
  };
  let marker = await store.changeMarker();
  let checking: Promise<void> | undefined;
  let again = false;
  const check = async (): Promise<void> => {
    try {
      const now = await store.changeMarker();
      if (now === marker) return;
      await Promise.all([...syncs.map((sync) => sync()), refreshStored()]);
      // Only once every sync has read what changed: a failed one is tried again at the next poll.
      marker = now;
    } catch (error) {
      logger.error({ err: error }, 'cannot check the store for changes');
    }
  };
  // One check at a time; a change heard during a check runs one more after it, never several.
  const wake = (): void => {
    if (checking) {
      again = true;
      return;
    }
    checking = check().finally(() => {
      checking = undefined;
      if (again) {
        again = false;
        wake();
      }
    });
  };
  // Postgres tells at commit (LISTEN/NOTIFY); the poll stays as the bound when a notification is lost.
  const unsubscribe = store.onChange?.(wake);
  const poll = setInterval(wake, STORE_POLL_MS);
  poll.unref();
  return {
    refreshStored,
    stop: () => {
      clearInterval(poll);
      unsubscribe?.();
    },
  };
}
