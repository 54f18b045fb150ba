import type { CopyResult } from './copy.js';
import type { PostgresOptions } from './postgres.js';
import type { SchemaState } from './schema-tables.js';
import type { Store } from './types.js';

export type { CopyResult } from './copy.js';
export { StoreUnreachableError } from './errors.js';
export { STORE_FAULT_CAUSES, type StoreFault, storeFault } from './faults.js';
export type { PostgresOptions } from './postgres.js';
export { type SchemaProblem, type SchemaState, schemaProblem } from './schema-tables.js';
export { sqliteSchemaVersion } from './schema-version.js';
export { openSqliteStore, openSqliteStoreChecked } from './sqlite.js';

// Postgres is loaded on first use, as the Redis client is: a gateway on SQLite never needs the
// driver (about 15 MB of RSS).

/** The Postgres store (see `postgres.ts`). */
export async function openPostgresStore(options: PostgresOptions): Promise<Store> {
  return (await import('./postgres.js')).openPostgresStore(options);
}

/** The schema a Postgres database holds, read without writing (see `postgres.ts`). */
export async function inspectPostgresStore(options: PostgresOptions): Promise<SchemaState> {
  return (await import('./postgres.js')).inspectPostgresStore(options);
}

/** `keyward store copy` (see `copy.ts`). */
export async function copySqliteToPostgres(
  ...args: Parameters<typeof import('./copy.js').copySqliteToPostgres>
): Promise<CopyResult> {
  return (await import('./copy.js')).copySqliteToPostgres(...args);
}
export { GENESIS_MAC } from './sqlite-audit.js';
export { MAX_TOKEN_DEPTH } from './token-subtree.js';
export type {
  AdminSessionRecord,
  AdminSessionStore,
  AuditEntry,
  AuditRecord,
  AuditStore,
  BeforeMigrate,
  BudgetPeriod,
  ChainLink,
  ConversationItemRecord,
  ConversationRecord,
  ConversationStore,
  InstanceRecord,
  InstanceStore,
  JwtClaim,
  JwtRevocation,
  LoginCodeRecord,
  MetaStore,
  ProviderKeyRecord,
  ProviderKeyStatus,
  ProviderKeyStore,
  RefreshTokenRecord,
  Scope,
  SessionGrant,
  SessionRecord,
  SessionRotation,
  SessionStore,
  Store,
  TemplateRecord,
  TemplateStore,
  TokenRecord,
  TokenStore,
  UnmigratedStore,
  UsageDelta,
  UsageGrouping,
  UsageRow,
  UsageStore,
} from './types.js';
