import type { Pool } from 'pg';
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

export function pgTokens(pool: Pool): TokenStore {
  return {
    async insert(r) {
      await pool.query(
        `INSERT INTO tokens (id, secret_hash, name, client_id, user_id, scopes, models, providers, templates,
           max_tokens, ip_allowlist, expires_at, limits, budget, metadata, created_by, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
        [
          r.id,
          r.secretHash,
          r.name,
          r.clientId,
          r.userId,
          JSON.stringify(r.scopes),
          text(r.models),
          text(r.providers),
          text(r.templates),
          r.maxTokens,
          text(r.ipAllowlist),
          r.expiresAt,
          JSON.stringify(r.limits),
          text(r.budget),
          JSON.stringify(r.metadata),
          r.createdBy,
          r.createdAt,
          r.revokedAt,
        ],
      );
    },
    async get(id) {
      const row = (await pool.query<TokenRow>('SELECT * FROM tokens WHERE id = $1', [id])).rows[0];
      return row && toRecord(row);
    },
    async list(options) {
      const where = options?.includeRevoked ? '' : 'WHERE revoked_at IS NULL';
      const { rows } = await pool.query<TokenRow>(`SELECT * FROM tokens ${where} ORDER BY created_at, id`);
      return rows.map(toRecord);
    },
    async revoke(id, at) {
      const result = await pool.query(
        'UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
        [at, id],
      );
      return result.rowCount === 1;
    },
    async revokedSince(since) {
      const { rows } = await pool.query<{ id: string }>('SELECT id FROM tokens WHERE revoked_at >= $1', [
        since,
      ]);
      return rows.map((row) => row.id);
    },
  };
}
