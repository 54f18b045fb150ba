import pg from 'pg';
import { StoreUnreachableError } from './errors.js';
import { pgAdminSessions } from './pg-admin-sessions.js';
import { pgAudit } from './pg-audit.js';
import { pgConversations } from './pg-conversations.js';
import { pgInstances } from './pg-instances.js';
import { pgMeta, pgProviderKeys } from './pg-keys.js';
import { CHANGES_CHANNEL, migratePostgres, postgresSchemaState } from './pg-migrations.js';
import { pgSessions } from './pg-sessions.js';
import { pgTemplates } from './pg-templates.js';
import { pgTokens } from './pg-tokens.js';
import { pgUsage } from './pg-usage.js';
import { refuseUnusable, type SchemaState } from './schema-tables.js';
import type { BeforeMigrate, Store } from './types.js';

export interface PostgresOptions {
  url: string;
  poolSize: number;
  /** TLS to the server: `false` off, `true` verified against the system's CAs, or the CA to trust. */
  ssl: boolean | { ca?: string; rejectUnauthorized: boolean };
  /** A connection the server dropped (the pool and the LISTEN connection recover by themselves). */
  onError?: (error: Error) => void;
  /**
   * Opened as it stands, on connections Postgres keeps from writing (`keyward doctor`): nothing is
   * migrated or created, and a schema that is not current and whole is refused.
   */
  readOnly?: boolean;
  /** Asked before a pending migration is applied: what it throws leaves the store unmigrated. */
  beforeMigrate?: BeforeMigrate;
}

const CONNECT_TIMEOUT_MS = 5_000;

/** How long a lost LISTEN connection waits before it connects again (doubling, at most 5 s). */
const RELISTEN_MS = [100, 200, 500, 1000, 2000, 5000];

/**
 * BIGINT (20) and NUMERIC (1700, what SUM of a BIGINT gives) arrive from pg as strings; every such
 * value here is an epoch ms, a count or micro-dollars, well within a double's exact integers.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700
      ? Number
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** How every connection to the store is made: the pool's and the LISTEN connection's alike. */
function connectionFor(options: PostgresOptions): pg.ClientConfig {
  return {
    connectionString: options.url,
    ssl:
      options.ssl === false ? undefined : options.ssl === true ? { rejectUnauthorized: true } : options.ssl,
    types,
    application_name: 'keyward',
    ...(options.readOnly && { options: '-c default_transaction_read_only=on' }),
  };
}

/**
 * The schema a Postgres database holds, read on a connection that cannot write: what `keyward
 * doctor` reports, where opening the store would migrate or create it.
 */
export async function inspectPostgresStore(options: PostgresOptions): Promise<SchemaState> {
  const client = new pg.Client({
    ...connectionFor({ ...options, readOnly: true }),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  client.on('error', (error) => options.onError?.(error));
  try {
    await client.connect().catch((error: Error) => {
      throw new StoreUnreachableError(error);
    });
    return await postgresSchemaState(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A read-only store's schema as it is, or why it cannot be used without a migration first. */
async function currentSchema(pool: pg.Pool): Promise<{ from: number; to: number }> {
  const state = await postgresSchemaState(pool);
  refuseUnusable(state);
  if (state.version < state.latest)
    throw new Error(
      `the store is at schema version ${state.version} of ${state.latest}; run keyward migrate`,
    );
  return { from: state.version, to: state.version };
}

/**
 * The shared store: Postgres, for several instances. The schema is migrated on open (under an
 * advisory lock); one connection LISTENs so that revocations and key changes reach this instance
 * as they commit anywhere.
 */
export async function openPostgresStore(options: PostgresOptions): Promise<Store> {
  const connection = connectionFor(options);
  // A server that stops answering fails queries after this rather than holding requests forever.
  const pool = new pg.Pool({
    ...connection,
    max: options.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // An idle pooled connection that the server drops must not take the process down.
  pool.on('error', (error) => options.onError?.(error));
  let schema: { from: number; to: number };
  try {
    // Connected first, and given back to the pool for what follows: a server that cannot be
    // reached is told apart from a store that cannot be used.
    const first = await pool.connect().catch((error: Error) => {
      throw new StoreUnreachableError(error);
    });
    first.release();
    schema = options.readOnly
      ? await currentSchema(pool)
      : await migratePostgres(pool, undefined, options.beforeMigrate);
  } catch (error) {
    await pool.end();
    throw error;
  }

  let marker = 0;
  const listeners = new Set<(table: string) => void>();
  /** `table` is what changed, or '' when notifications may have been missed. */
  const changed = (table = ''): void => {
    marker += 1;
    for (const listener of listeners) listener(table);
  };
  let listener: pg.Client | undefined;
  let closed = false;
  let attempt = 0;
  const listen = async (): Promise<void> => {
    const client = new pg.Client(connection);
    client.on('notification', (message) => changed(message.payload ?? ''));
    client.on('error', (error) => {
      options.onError?.(error);
      void client.end().catch(() => {});
      if (listener === client) relisten();
    });
    listener = client;
    await client.connect();
    await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    attempt = 0;
  };
  let retry: NodeJS.Timeout | undefined;
  const relisten = (): void => {
    listener = undefined;
    // One retry at a time: a failed connect can both emit 'error' and reject.
    if (closed || retry) return;
    // Notifications sent while no connection listened are lost: count one change, so that the
    // watchers read the store again once the connection is back.
    const delay = RELISTEN_MS[Math.min(attempt++, RELISTEN_MS.length - 1)];
    retry = setTimeout(() => {
      retry = undefined;
      if (closed) return;
      listen().then(
        () => changed(),
        (error: Error) => {
          options.onError?.(error);
          relisten();
        },
      );
    }, delay).unref();
  };
  try {
    await listen();
  } catch (error) {
    await listener?.end().catch(() => {});
    await pool.end();
    throw error;
  }

  return {
    kind: 'postgres',
    schema,
    providerKeys: pgProviderKeys(pool),
    instances: pgInstances(pool),
    tokens: pgTokens(pool),
    conversations: pgConversations(pool),
    usage: pgUsage(pool),
    audit: pgAudit(pool),
    sessions: pgSessions(pool),
    adminSessions: pgAdminSessions(pool),
    templates: pgTemplates(pool),
    meta: pgMeta(pool),
    async changeMarker() {
      return marker;
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async signalChange(what) {
      await pool.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, what]);
    },
    onChange(listen) {
      listeners.add(listen);
      return () => listeners.delete(listen);
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
