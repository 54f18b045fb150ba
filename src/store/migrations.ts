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
];
