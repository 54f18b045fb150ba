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
];
