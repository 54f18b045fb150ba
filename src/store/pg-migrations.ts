import type { Pool, PoolClient } from 'pg';
import { pgLiveInstances } from './pg-instances.js';
import { withClient } from './pg-transaction.js';
import { refuseUnusable, type SchemaState, schemaState, tablesAt, unmigratedStore } from './schema-tables.js';
import type { BeforeMigrate } from './types.js';

/**
 * Postgres schema versions, applied in order, each in its own transaction. Never edit a released
 * entry: add a new one. The Postgres history starts at the SQLite schema as it stands, in one step;
 * times are epoch ms (BIGINT), JSON columns stay TEXT so both stores read rows the same way.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE provider_keys (
     id TEXT PRIMARY KEY, provider TEXT NOT NULL, ciphertext TEXT NOT NULL, fingerprint TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
     weight INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
     created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
   CREATE INDEX provider_keys_by_provider ON provider_keys (provider, created_at);
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, name TEXT NOT NULL, client_id TEXT, user_id TEXT,
     scopes TEXT NOT NULL, models TEXT, providers TEXT, templates TEXT, max_tokens BIGINT,
     ip_allowlist TEXT, expires_at BIGINT, limits TEXT NOT NULL, budget TEXT, metadata TEXT NOT NULL,
     created_by TEXT, created_at BIGINT NOT NULL, revoked_at BIGINT);
   CREATE INDEX tokens_by_revocation ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;
   CREATE TABLE usage (
     day TEXT NOT NULL, token_id TEXT NOT NULL DEFAULT '', user_id TEXT NOT NULL DEFAULT '',
     model TEXT NOT NULL, provider TEXT NOT NULL, requests BIGINT NOT NULL, input_tokens BIGINT NOT NULL,
     output_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, cost_micros BIGINT NOT NULL,
     PRIMARY KEY (day, token_id, user_id, model, provider));
   CREATE INDEX usage_by_token ON usage (token_id, day);
   CREATE INDEX usage_by_user ON usage (user_id, day);
   CREATE TABLE audit (
     seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, type TEXT NOT NULL, actor TEXT NOT NULL,
     data TEXT NOT NULL, prev_mac TEXT NOT NULL, mac TEXT NOT NULL);
   CREATE INDEX audit_by_type ON audit (type, seq);
   CREATE TABLE instances (
     id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
     limits TEXT NOT NULL CHECK (limits IN ('memory', 'redis')),
     started_at BIGINT NOT NULL, seen_at BIGINT NOT NULL);
   CREATE TABLE login_codes (
     hash TEXT PRIMARY KEY, grant_json TEXT NOT NULL, created_by TEXT, expires_at BIGINT NOT NULL);
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY, user_id TEXT, guest BOOLEAN NOT NULL, grant_json TEXT NOT NULL,
     created_by TEXT, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
     refreshed_at BIGINT NOT NULL, access_hash TEXT NOT NULL, access_expires_at BIGINT NOT NULL,
     generation INTEGER NOT NULL, revoked_at BIGINT, revoked_reason TEXT);
   CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
   CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
   CREATE TABLE refresh_tokens (
     session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
     generation INTEGER NOT NULL, hash TEXT NOT NULL, retired_at BIGINT,
     PRIMARY KEY (session_id, generation));
   CREATE TABLE jwt_revocations (
     claim TEXT NOT NULL CHECK (claim IN ('sub', 'jti', 'sid')), value TEXT NOT NULL,
     issuer TEXT NOT NULL DEFAULT '', revoked_at BIGINT NOT NULL, PRIMARY KEY (claim, value, issuer));
   CREATE INDEX jwt_revocations_by_time ON jwt_revocations (revoked_at);
   CREATE TABLE templates (
     name TEXT NOT NULL, version INTEGER NOT NULL CHECK (version >= 1), definition TEXT NOT NULL,
     created_by TEXT NOT NULL, created_at BIGINT NOT NULL, deleted_at BIGINT,
     PRIMARY KEY (name, version));
   CREATE TABLE template_usage (
     day TEXT NOT NULL, template TEXT NOT NULL, token_id TEXT NOT NULL DEFAULT '',
     user_id TEXT NOT NULL DEFAULT '', requests BIGINT NOT NULL, input_tokens BIGINT NOT NULL,
     output_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, cost_micros BIGINT NOT NULL,
     PRIMARY KEY (day, template, token_id, user_id));
   CREATE TABLE conversations (
     id TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, created_at BIGINT NOT NULL,
     sealed TEXT NOT NULL);
   CREATE INDEX conversations_by_owner ON conversations (owner, created_at);
   CREATE INDEX conversations_by_age ON conversations (created_at);
   CREATE TABLE conversation_items (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     parent_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
     id TEXT NOT NULL, owner TEXT NOT NULL, part TEXT NOT NULL, created_at BIGINT NOT NULL,
     bytes BIGINT NOT NULL, sealed TEXT NOT NULL);
   CREATE INDEX conversation_items_by_parent ON conversation_items (parent_id, seq);
   CREATE INDEX conversation_items_by_owner ON conversation_items (owner, id);`,
  // Every instance LISTENs on keyward_changes: a commit that changes what other instances hold in
  // memory (keys, tokens, sessions, JWT revocations, templates) notifies them at once. Postgres
  // folds identical notifications of one transaction into one, delivered at commit. Not `meta`:
  // the audit head is written there with every audit batch, and nothing cached follows it.
  `CREATE FUNCTION keyward_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     PERFORM pg_notify('keyward_changes', TG_TABLE_NAME);
     RETURN NULL;
   END $$;
   CREATE TRIGGER provider_keys_changed AFTER INSERT OR UPDATE OR DELETE ON provider_keys
     FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
   CREATE TRIGGER tokens_changed AFTER INSERT OR UPDATE OR DELETE ON tokens
     FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
   CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON sessions
     FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
   CREATE TRIGGER jwt_revocations_changed AFTER INSERT OR UPDATE ON jwt_revocations
     FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();
   CREATE TRIGGER templates_changed AFTER INSERT OR UPDATE OR DELETE ON templates
     FOR EACH STATEMENT EXECUTE FUNCTION keyward_notify_change();`,
  // Dashboard logins, read from the store on every call: no instance caches them, so no trigger.
  `CREATE TABLE admin_sessions (
     hash TEXT PRIMARY KEY, actor TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);
   CREATE INDEX admin_sessions_by_actor ON admin_sessions (actor);
   CREATE INDEX admin_sessions_by_age ON admin_sessions (created_at);`,
  // Expired sessions and login codes are pruned every minute: without these, each prune scans the table.
  `CREATE INDEX sessions_by_expiry ON sessions (expires_at);
   CREATE INDEX login_codes_by_expiry ON login_codes (expires_at);`,
  // One turn of a conversation at a time across workers and instances: who holds it, and until when.
  `ALTER TABLE conversations ADD COLUMN turn_holder TEXT, ADD COLUMN turn_until BIGINT NOT NULL DEFAULT 0;`,
  // The response a response continues, so that a chain is read in a few queries, not two a link.
  // Empty on rows stored before it: their sealed text still names the previous response.
  `ALTER TABLE conversations ADD COLUMN previous_id TEXT;`,
  // A response's item count and bytes, so that a chain's size is known before its items are read.
  // Empty on rows stored before it: their items are counted when a chain reaches them.
  `ALTER TABLE conversations ADD COLUMN item_count BIGINT, ADD COLUMN item_bytes BIGINT;`,
  // Sessions idle past refreshIdle are pruned too: without this, each prune scans the table.
  `CREATE INDEX sessions_by_refresh ON sessions (refreshed_at);`,
  // A token's revocation and budget reach the tokens minted under it, found by their creator.
  `CREATE INDEX tokens_by_creator ON tokens (created_by);`,
  // A token's revocation ends the browser sessions it signed in, found by their creator.
  `CREATE INDEX sessions_by_creator ON sessions (created_by) WHERE created_by IS NOT NULL;`,
  // The conversation a response was made in, so that deleting the conversation deletes its
  // responses, and deleting an item its copies in them. Empty on rows stored before it.
  `ALTER TABLE conversations ADD COLUMN conversation_id TEXT;
   CREATE INDEX conversations_by_conversation ON conversations (conversation_id)
     WHERE conversation_id IS NOT NULL;`,
  // The master key each instance seals with, so that a rotation is not declared finished while an
  // instance still seals with the key it retires. Empty on rows of instances started before it.
  `ALTER TABLE instances ADD COLUMN master_key_id TEXT;`,
  // The token that signed in the session whose usage a row counts: its budget, and its creators',
  // count that spend when read back from the store, after the session itself is pruned. Filled
  // here from the sessions still stored; the usage of sessions pruned before it stays uncounted.
  `ALTER TABLE usage ADD COLUMN session_creator TEXT;
   UPDATE usage SET session_creator =
       (SELECT created_by FROM sessions WHERE sessions.id = substring(usage.token_id from 5))
     WHERE token_id LIKE 'ses!_%' ESCAPE '!';
   CREATE INDEX usage_by_session_creator ON usage (session_creator, day)
     WHERE session_creator IS NOT NULL;`,
];

/** The channel the triggers above notify. */
export const CHANGES_CHANNEL = 'keyward_changes';

/** Advisory lock key for schema changes: one instance migrates, the others wait, then find nothing to do. */
const MIGRATION_LOCK = 0x6b77_6d31;

export interface MigrationResult {
  from: number;
  to: number;
}

/**
 * Brings the schema up to `migrations.length` under a session advisory lock, so instances starting
 * together do not both migrate; refuses a database written by a newer Keyward, one missing tables
 * its recorded version has, and one holding tables a migration would create. Nothing is written
 * to a database it refuses, nor to one `beforeMigrate` (asked when a migration is pending) refuses.
 */
export async function migratePostgres(
  pool: Pool,
  migrations: readonly string[] = POSTGRES_MIGRATIONS,
  beforeMigrate?: BeforeMigrate,
): Promise<MigrationResult> {
  return withClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const state = await postgresSchemaState(client, migrations);
      refuseUnusable(state);
      const from = state.version;
      if (beforeMigrate && from < migrations.length) {
        // On this connection: the pool may have no other while it holds the lock.
        await beforeMigrate(unmigratedStore(migrations, state, () => pgLiveInstances(client)));
      }
      for (let version = from; version < migrations.length; version += 1) {
        await client.query('BEGIN');
        try {
          // In the first migration's transaction: a database refused or left unmigrated keeps none.
          // Only then: CREATE … IF NOT EXISTS still needs the right to create in the schema.
          if (version === 0)
            await client.query(
              'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
            );
          await client.query(migrations[version] as string);
          await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [
            version + 1,
            Date.now(),
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw await cannotMigrate(client, error, version, migrations.length);
        }
      }
      return { from, to: Math.max(from, migrations.length) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  });
}

/** SQLSTATE insufficient_privilege: no right to create in the schema, or not the table's owner. */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * A migration refused for want of rights as what it is: a gateway serving as a role with row
 * rights only (the usual split from the role that owns the schema) meets a schema behind its own.
 * Other errors as they are.
 */
async function cannotMigrate(
  client: Pick<PoolClient, 'query'>,
  error: unknown,
  version: number,
  latest: number,
): Promise<unknown> {
  if ((error as { code?: unknown }).code !== INSUFFICIENT_PRIVILEGE) return error;
  const { rows } = await client.query<{ role: string }>('SELECT current_user AS role');
  return new Error(
    `the store is at schema version ${version} of ${latest} and role ${rows[0]?.role} may not change its schema (${(error as Error).message}); run keyward migrate with a role that owns the schema, then start again`,
    { cause: error },
  );
}

/**
 * The recorded schema version and which of its tables exist, read without writing anything
 * (`keyward doctor` runs on a read-only connection). Tables are looked up as the store's queries
 * find them, through the search path.
 */
export async function postgresSchemaState(
  client: Pick<PoolClient, 'query'>,
  migrations: readonly string[] = POSTGRES_MIGRATIONS,
): Promise<SchemaState> {
  const { rows } = await client.query<{ name: string }>(
    'SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL',
    [['schema_migrations', ...tablesAt(migrations, migrations.length)]],
  );
  const present = new Set(rows.map((row) => row.name));
  let version = 0;
  if (present.has('schema_migrations')) {
    const recorded = await client.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM schema_migrations',
    );
    version = recorded.rows[0]?.version ?? 0;
  }
  return schemaState(migrations, version, present);
}
