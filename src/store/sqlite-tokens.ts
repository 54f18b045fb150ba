import type Database from 'better-sqlite3';
import { jsonText, type TokenRow, tokenFromRow } from './rows.js';
import { subtree } from './token-subtree.js';
import type { TokenStore } from './types.js';

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
  const listUnder = db.prepare<{ under: string; includeRevoked: number }, TokenRow>(
    `${subtree('@under')} SELECT * FROM tokens WHERE id IN (SELECT id FROM subtree)
       AND (@includeRevoked = 1 OR revoked_at IS NULL) ORDER BY created_at, id`,
  );
  const revokeSubtree = db.prepare<{ id: string; at: number }, { id: string }>(
    `${subtree('@id')} UPDATE tokens SET revoked_at = @at WHERE id IN (SELECT id FROM subtree) AND revoked_at IS NULL
     RETURNING id`,
  );
  const dropCodes = db.prepare(
    `${subtree('@id')} DELETE FROM login_codes WHERE created_by IN (SELECT id FROM subtree)`,
  );
  const revokeSessions = db.prepare(
    `${subtree('@id')} UPDATE sessions SET revoked_at = @at, revoked_reason = 'token_revoked'
     WHERE created_by IN (SELECT id FROM subtree) AND revoked_at IS NULL`,
  );
  const revoke = db.transaction((id: string, at: number) => {
    const own = revokeSubtree.all({ id, at }).some((row) => row.id === id);
    dropCodes.run({ id });
    revokeSessions.run({ id, at });
    return own;
  });
  const revokedSince = db.prepare<[number], { id: string }>('SELECT id FROM tokens WHERE revoked_at >= ?');
  return {
    async insert(record) {
      insert.run({
        ...record,
        scopes: JSON.stringify(record.scopes),
        models: jsonText(record.models),
        providers: jsonText(record.providers),
        templates: jsonText(record.templates),
        ipAllowlist: jsonText(record.ipAllowlist),
        limits: JSON.stringify(record.limits),
        budget: jsonText(record.budget),
        metadata: JSON.stringify(record.metadata),
      });
    },
    async get(id) {
      const row = getOne.get(id);
      return row && tokenFromRow(row);
    },
    async list(options) {
      const rows =
        options?.under !== undefined
          ? listUnder.all({ under: options.under, includeRevoked: options.includeRevoked ? 1 : 0 })
          : (options?.includeRevoked ? listAll : listLive).all();
      return rows.map(tokenFromRow);
    },
    async revoke(id, at) {
      return revoke(id, at);
    },
    async revokedSince(since) {
      return revokedSince.all(since).map((row) => row.id);
    },
  };
}
