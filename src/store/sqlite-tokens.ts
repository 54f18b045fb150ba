import type Database from 'better-sqlite3';
import type { TokenRecord, TokenStore } from './types.js';

interface TokenRow {
  id: string;
  secret_hash: string;
  name: string;
  client_id: string | null;
  user_id: string | null;
  scopes: string;
  models: string | null;
  providers: string | null;
  templates: string | null;
  max_tokens: number | null;
  ip_allowlist: string | null;
  expires_at: number | null;
  limits: string;
  budget: string | null;
  metadata: string;
  created_by: string | null;
  created_at: number;
  revoked_at: number | null;
}

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));
const text = (value: unknown): string | null =>
  value === null || value === undefined ? null : JSON.stringify(value);

const toRecord = (row: TokenRow): TokenRecord => ({
  id: row.id,
  secretHash: row.secret_hash,
  name: row.name,
  clientId: row.client_id,
  userId: row.user_id,
  scopes: JSON.parse(row.scopes),
  models: json(row.models),
  providers: json(row.providers),
  templates: json(row.templates),
  maxTokens: row.max_tokens,
  ipAllowlist: json(row.ip_allowlist),
  expiresAt: row.expires_at,
  limits: JSON.parse(row.limits),
  budget: json(row.budget),
  metadata: JSON.parse(row.metadata),
  createdBy: row.created_by,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

export function sqliteTokens(db: Database.Database): TokenStore {
  const insert = db.prepare(
    `INSERT INTO tokens (id, secret_hash, name, client_id, user_id, scopes, models, providers, max_tokens,
       ip_allowlist, expires_at, limits, budget, metadata, created_by, created_at, revoked_at, templates)
     VALUES (@id, @secretHash, @name, @clientId, @userId, @scopes, @models, @providers, @maxTokens,
       @ipAllowlist, @expiresAt, @limits, @budget, @metadata, @createdBy, @createdAt, @revokedAt, @templates)`,
  );
  const getOne = db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?');
  const listAll = db.prepare<[], TokenRow>('SELECT * FROM tokens ORDER BY created_at, id');
  const listLive = db.prepare<[], TokenRow>(
    'SELECT * FROM tokens WHERE revoked_at IS NULL ORDER BY created_at, id',
  );
  const revoke = db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
  const revokedSince = db.prepare<[number], { id: string }>('SELECT id FROM tokens WHERE revoked_at >= ?');
  return {
    async insert(record) {
      insert.run({
        ...record,
        scopes: JSON.stringify(record.scopes),
        models: text(record.models),
        providers: text(record.providers),
        templates: text(record.templates),
        ipAllowlist: text(record.ipAllowlist),
        limits: JSON.stringify(record.limits),
        budget: text(record.budget),
        metadata: JSON.stringify(record.metadata),
      });
    },
    async get(id) {
      const row = getOne.get(id);
      return row && toRecord(row);
    },
    async list(options) {
      return (options?.includeRevoked ? listAll : listLive).all().map(toRecord);
    },
    async revoke(id, at) {
      return revoke.run(at, id).changes === 1;
    },
    async revokedSince(since) {
      return revokedSince.all(since).map((row) => row.id);
    },
  };
}
