/**
 * Schema versions, applied in order inside one transaction each. Never edit a released entry:
 * add a new one. `PRAGMA user_version` records how far a database has come.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (
     name  TEXT PRIMARY KEY,
     value TEXT NOT NULL
   ) STRICT;
   CREATE TABLE provider_keys (
     id          TEXT PRIMARY KEY,
     provider    TEXT NOT NULL,
     ciphertext  TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     status      TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
     weight      INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
     created_at  INTEGER NOT NULL,
     updated_at  INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX provider_keys_by_provider ON provider_keys (provider, created_at);`,
  `CREATE TABLE tokens (
     id           TEXT PRIMARY KEY,
     secret_hash  TEXT NOT NULL,
     name         TEXT NOT NULL,
     client_id    TEXT,
     user_id      TEXT,
     scopes       TEXT NOT NULL,
     models       TEXT,
     providers    TEXT,
     max_tokens   INTEGER,
     ip_allowlist TEXT,
     expires_at   INTEGER,
     limits       TEXT NOT NULL,
     budget       TEXT,
     metadata     TEXT NOT NULL,
     created_by   TEXT,
     created_at   INTEGER NOT NULL,
     revoked_at   INTEGER
   ) STRICT;
   CREATE INDEX tokens_by_revocation ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;
   CREATE TABLE usage (
     day           TEXT NOT NULL,
     token_id      TEXT NOT NULL DEFAULT '',
     user_id       TEXT NOT NULL DEFAULT '',
     model         TEXT NOT NULL,
     provider      TEXT NOT NULL,
     requests      INTEGER NOT NULL,
     input_tokens  INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     cost_micros   INTEGER NOT NULL,
     PRIMARY KEY (day, token_id, user_id, model, provider)
   ) STRICT;
   CREATE INDEX usage_by_token ON usage (token_id, day);
   CREATE INDEX usage_by_user ON usage (user_id, day);
   CREATE TABLE audit (
     seq      INTEGER PRIMARY KEY,
     at       INTEGER NOT NULL,
     type     TEXT NOT NULL,
     actor    TEXT NOT NULL,
     data     TEXT NOT NULL,
     prev_mac TEXT NOT NULL,
     mac      TEXT NOT NULL
   ) STRICT;
   CREATE INDEX audit_by_type ON audit (type, seq);`,
  // instances: each running gateway announces itself and beats every few seconds, so that a second
  // instance on the same store with per-instance (memory) rate limits is noticed at start.
  `CREATE TABLE instances (
     id         TEXT PRIMARY KEY,
     host       TEXT NOT NULL,
     pid        INTEGER NOT NULL,
     limits     TEXT NOT NULL CHECK (limits IN ('memory', 'redis')),
     started_at INTEGER NOT NULL,
     seen_at    INTEGER NOT NULL
   ) STRICT;`,
  // Browser sessions (issue 15): one-time login codes, cookie sessions with their refresh-token
  // generations, and revocations of external (JWT) identities. Secrets are keyed hashes only.
  `CREATE TABLE login_codes (
     hash       TEXT PRIMARY KEY,
     grant_json TEXT NOT NULL,
     created_by TEXT,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE sessions (
     id                TEXT PRIMARY KEY,
     user_id           TEXT,
     guest             INTEGER NOT NULL,
     grant_json        TEXT NOT NULL,
     created_by        TEXT,
     created_at        INTEGER NOT NULL,
     expires_at        INTEGER NOT NULL,
     refreshed_at      INTEGER NOT NULL,
     access_hash       TEXT NOT NULL,
     access_expires_at INTEGER NOT NULL,
     generation        INTEGER NOT NULL,
     revoked_at        INTEGER,
     revoked_reason    TEXT
   ) STRICT;
   CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
   CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
   CREATE TABLE refresh_tokens (
     session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
     generation INTEGER NOT NULL,
     hash       TEXT NOT NULL,
     retired_at INTEGER,
     PRIMARY KEY (session_id, generation)
   ) STRICT;
   CREATE TABLE jwt_revocations (
     claim      TEXT NOT NULL CHECK (claim IN ('sub', 'jti', 'sid')),
     value      TEXT NOT NULL,
     issuer     TEXT NOT NULL DEFAULT '',
     revoked_at INTEGER NOT NULL,
     PRIMARY KEY (claim, value, issuer)
   ) STRICT;
   CREATE INDEX jwt_revocations_by_time ON jwt_revocations (revoked_at);`,
  // templates (issue 17): stored prompt templates, every version kept; gateway tokens limited to
  // named templates; usage per template beside the usage per model.
  `CREATE TABLE templates (
     name       TEXT NOT NULL,
     version    INTEGER NOT NULL CHECK (version >= 1),
     definition TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     deleted_at INTEGER,
     PRIMARY KEY (name, version)
   ) STRICT;
   ALTER TABLE tokens ADD COLUMN templates TEXT;
   CREATE TABLE template_usage (
     day           TEXT NOT NULL,
     template      TEXT NOT NULL,
     token_id      TEXT NOT NULL DEFAULT '',
     user_id       TEXT NOT NULL DEFAULT '',
     requests      INTEGER NOT NULL,
     input_tokens  INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     cost_micros   INTEGER NOT NULL,
     PRIMARY KEY (day, template, token_id, user_id)
   ) STRICT;`,
  // conversations: Responses and Conversations API state. Content is sealed (kw1:…, bound to owner
  // and id); owner, ids, times and sizes stay in the clear for ownership checks and retention.
  `CREATE TABLE conversations (
     id         TEXT PRIMARY KEY,
     kind       TEXT NOT NULL,
     owner      TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     sealed     TEXT NOT NULL
   ) STRICT;
   CREATE INDEX conversations_by_owner ON conversations (owner, created_at);
   CREATE INDEX conversations_by_age ON conversations (created_at);
   CREATE TABLE conversation_items (
     seq        INTEGER PRIMARY KEY AUTOINCREMENT,
     parent_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
     id         TEXT NOT NULL,
     owner      TEXT NOT NULL,
     part       TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     bytes      INTEGER NOT NULL,
     sealed     TEXT NOT NULL
   ) STRICT;
   CREATE INDEX conversation_items_by_parent ON conversation_items (parent_id, seq);
   CREATE INDEX conversation_items_by_owner ON conversation_items (owner, id);`,
  // admin_sessions: dashboard logins, shared by workers and instances (the hash of the cookie's id).
  `CREATE TABLE admin_sessions (
     hash       TEXT PRIMARY KEY,
     actor      TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT;
   CREATE INDEX admin_sessions_by_actor ON admin_sessions (actor);
   CREATE INDEX admin_sessions_by_age ON admin_sessions (created_at);`,
  // Expired sessions and login codes are pruned every minute: without these, each prune scans the table.
  `CREATE INDEX sessions_by_expiry ON sessions (expires_at);
   CREATE INDEX login_codes_by_expiry ON login_codes (expires_at);`,
  // One turn of a conversation at a time across workers and instances: who holds it, and until when.
  `ALTER TABLE conversations ADD COLUMN turn_holder TEXT;
   ALTER TABLE conversations ADD COLUMN turn_until INTEGER NOT NULL DEFAULT 0;`,
  // The response a response continues, so that a chain is read in a few queries, not two a link.
  // Empty on rows stored before it: their sealed text still names the previous response.
  `ALTER TABLE conversations ADD COLUMN previous_id TEXT;`,
  // A response's item count and bytes, so that a chain's size is known before its items are read.
  // Empty on rows stored before it: their items are counted when a chain reaches them.
  `ALTER TABLE conversations ADD COLUMN item_count INTEGER;
   ALTER TABLE conversations ADD COLUMN item_bytes INTEGER;`,
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
       (SELECT created_by FROM sessions WHERE sessions.id = substr(usage.token_id, 5))
     WHERE token_id LIKE 'ses!_%' ESCAPE '!';
   CREATE INDEX usage_by_session_creator ON usage (session_creator, day)
     WHERE session_creator IS NOT NULL;`,
];
