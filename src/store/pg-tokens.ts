import type { Pool } from 'pg';
import { jsonText, type TokenRow, tokenFromRow } from './rows.js';
import { subtree } from './token-subtree.js';
import type { TokenStore } from './types.js';

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
          jsonText(r.models),
          jsonText(r.providers),
          jsonText(r.templates),
          r.maxTokens,
          jsonText(r.ipAllowlist),
          r.expiresAt,
          JSON.stringify(r.limits),
          jsonText(r.budget),
          JSON.stringify(r.metadata),
          r.createdBy,
          r.createdAt,
          r.revokedAt,
        ],
      );
    },
    async get(id) {
      const row = (await pool.query<TokenRow>('SELECT * FROM tokens WHERE id = $1', [id])).rows[0];
      return row && tokenFromRow(row);
    },
    async list(options) {
      const under = options?.under;
      const conditions = [
        ...(under === undefined ? [] : ['id IN (SELECT id FROM subtree)']),
        ...(options?.includeRevoked ? [] : ['revoked_at IS NULL']),
      ];
      const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
      const { rows } = await pool.query<TokenRow>(
        `${under === undefined ? '' : subtree('$1::text')}SELECT * FROM tokens ${where} ORDER BY created_at, id`,
        under === undefined ? [] : [under],
      );
      return rows.map(tokenFromRow);
    },
    async revoke(id, at) {
      const { rows } = await pool.query<{ own: number }>(
        `${subtree('$2::text')}, revoked AS (
           UPDATE tokens SET revoked_at = $1 WHERE id IN (SELECT id FROM subtree) AND revoked_at IS NULL
           RETURNING id),
         codes AS (DELETE FROM login_codes WHERE created_by IN (SELECT id FROM subtree)),
         ended AS (
           UPDATE sessions SET revoked_at = $1, revoked_reason = 'token_revoked'
           WHERE created_by IN (SELECT id FROM subtree) AND revoked_at IS NULL)
         SELECT count(*)::int AS own FROM revoked WHERE id = $2`,
        [at, id],
      );
      return rows[0]?.own === 1;
    },
    async revokedSince(since) {
      const { rows } = await pool.query<{ id: string }>('SELECT id FROM tokens WHERE revoked_at >= $1', [
        since,
      ]);
      return rows.map((row) => row.id);
    },
  };
}
