import { readFileSync } from 'node:fs';
import { type Config, ConfigError, type DataPaths } from '../config/index.js';
import { ListenError, refuseTakenPorts } from '../http/listen.js';
import {
  type Announced,
  announceInstance,
  PerInstanceLimitsError,
  refusePerInstanceLimits,
} from '../limits/index.js';
import type { Logger } from '../observability/index.js';
import {
  type BeforeMigrate,
  openPostgresStore,
  openSqliteStore,
  openSqliteStoreChecked,
  type PostgresOptions,
  STORE_FAULT_CAUSES,
  type Store,
  StoreUnreachableError,
  storeFault,
} from '../store/index.js';
import { listenersOf } from './listeners.js';

/** Where the store is, for the banner and errors. */
export function storeLocation(config: Config, paths: DataPaths): string {
  const postgres = config.storage.postgres;
  return postgres ? postgresLocation(new URL(postgres.url)) : `sqlite ${paths.database}`;
}

/** A Postgres url as messages show it: host and database, never the user or a password. */
export function postgresLocation(url: URL): string {
  return `postgres ${url.host}${url.pathname}`;
}

/**
 * The configured store: SQLite, or Postgres (migrated and listening once this resolves). With
 * `beforeMigrate`, a pending migration waits for it, and is not applied if it throws.
 */
export async function connectStore(
  config: Config,
  paths: DataPaths,
  logger?: Logger,
  beforeMigrate?: BeforeMigrate,
): Promise<Store> {
  const postgres = config.storage.postgres;
  if (!postgres)
    return beforeMigrate
      ? openSqliteStoreChecked(paths.database, beforeMigrate)
      : openSqliteStore(paths.database);
  return openPostgresStore({ ...postgresOptions(postgres, logger), beforeMigrate });
}

/** How the configured Postgres store is connected to. */
export function postgresOptions(
  postgres: NonNullable<Config['storage']['postgres']>,
  logger?: Logger,
): PostgresOptions {
  const { ssl } = postgres;
  return {
    url: postgres.url,
    poolSize: postgres.poolSize,
    ssl: typeof ssl === 'boolean' ? ssl : tlsOptions(ssl),
    onError: (error) => logger?.warn({ err: error }, 'a Postgres connection was lost; reconnecting'),
  };
}

/**
 * The configuration is valid but its store cannot be used: the database is down or unreachable,
 * or what it holds cannot be served (damaged, or from a newer Keyward). Names where the store is,
 * never a password.
 */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/**
 * The configured store, or an error that names where it is and why it cannot be used; a refusal
 * of refusalsBeforeMigrating as it is.
 */
export async function openStore(
  config: Config,
  paths: DataPaths,
  logger?: Logger,
  beforeMigrate?: BeforeMigrate,
): Promise<Store> {
  try {
    return await connectStore(config, paths, logger, beforeMigrate);
  } catch (error) {
    // A start refused before migrating (refusalsBeforeMigrating) says why itself.
    if (error instanceof ConfigError || error instanceof ListenError) throw error;
    const where = storeLocation(config, paths);
    const { message } = error as Error;
    throw new StoreOpenError(
      error instanceof StoreUnreachableError
        ? `cannot reach the store (${where}): ${message}; check that the database is up and accepts this connection`
        : `cannot open the store (${where}): ${message}`,
    );
  }
}

/**
 * A store fault met while the gateway starts, after the store opened (its first writes: this
 * instance's record, the master key's salt), as the StoreOpenError it is: a full disk or a
 * database gone since is no more a crash than a store that does not open. Other errors as they are.
 */
export function storeFaultAtStart(error: unknown, config: Config, paths: DataPaths): unknown {
  const fault = storeFault(error);
  if (!fault) return error;
  return new StoreOpenError(
    `cannot use the store (${storeLocation(config, paths)}): ${STORE_FAULT_CAUSES[fault]} (${(error as Error).message})`,
  );
}

function tlsOptions(ssl: { caFile?: string; rejectUnauthorized: boolean }): PostgresOptions['ssl'] {
  return {
    rejectUnauthorized: ssl.rejectUnauthorized,
    ...(ssl.caFile === undefined ? {} : { ca: readFileSync(ssl.caFile, 'utf8') }),
  };
}

/**
 * What refuses a start for reasons the schema has no part in, asked before the store is migrated:
 * such a start leaves the store as it found it (an older Keyward beside it still reads it). Another
 * live instance where rate limits would multiply (as `announce` refuses), then with `ports` a
 * listener's port taken (as listening fails), each with the message it would have given later.
 */
export function refusalsBeforeMigrating(
  config: Config,
  source: string,
  { ports }: { ports: boolean },
): BeforeMigrate {
  return async ({ instances }) => {
    try {
      await refusePerInstanceLimits(instances, {
        limits: config.rateLimits.backend,
        perInstance: config.rateLimits.perInstance,
      });
    } catch (error) {
      if (error instanceof PerInstanceLimitsError) throw new ConfigError(source, [error.message]);
      throw error;
    }
    if (ports) await refuseTakenPorts(listenersOf(config));
  };
}

/** Announces this instance in the store; refuses to start where rate limits would multiply. */
export async function announce(
  store: Store,
  config: Config,
  source: string,
  logger: Logger,
  masterKeyId: () => string | undefined,
): Promise<Announced> {
  try {
    return await announceInstance(store.instances, {
      limits: config.rateLimits.backend,
      perInstance: config.rateLimits.perInstance,
      masterKeyId,
      onError: (error) => logger.error({ err: error }, 'cannot record this instance as alive in the store'),
    });
  } catch (error) {
    if (error instanceof PerInstanceLimitsError) throw new ConfigError(source, [error.message]);
    throw error;
  }
}
