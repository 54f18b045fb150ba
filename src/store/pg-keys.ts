import type { Pool } from 'pg';
import { inTransaction } from './pg-transaction.js';
import { type KeyRow, keyFromRow } from './rows.js';
import type { MetaStore, ProviderKeyStore } from './types.js';

export function pgProviderKeys(pool: Pool): ProviderKeyStore {
  return {
    async list(provider) {
      const { rows } =
        provider === undefined
          ? await pool.query<KeyRow>('SELECT * FROM provider_keys ORDER BY created_at, id')
          : await pool.query<KeyRow>(
              'SELECT * FROM provider_keys WHERE provider = $1 ORDER BY created_at, id',
              [provider],
            );
      return rows.map(keyFromRow);
    },
    async get(id) {
      const row = (await pool.query<KeyRow>('SELECT * FROM provider_keys WHERE id = $1', [id])).rows[0];
      return row && keyFromRow(row);
    },
    async insert(r) {
      return inTransaction(pool, async (client) => {
        // No unique index to lean on (stores this race filled hold duplicates): two instances adding
        // one value at once take turns here, and the second's look, made after the lock, sees the first.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`provider_key:${r.provider}`]);
        const stored = (
          await client.query<KeyRow>(
            'SELECT * FROM provider_keys WHERE provider = $1 AND fingerprint = $2 ORDER BY created_at, id LIMIT 1',
            [r.provider, r.fingerprint],
          )
        ).rows[0];
        if (stored) return keyFromRow(stored);
        await client.query(
          `INSERT INTO provider_keys (id, provider, ciphertext, fingerprint, status, weight, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [r.id, r.provider, r.ciphertext, r.fingerprint, r.status, r.weight, r.createdAt, r.updatedAt],
        );
        return undefined;
      });
    },
    async setStatus(id, status, now) {
      const result = await pool.query('UPDATE provider_keys SET status = $1, updated_at = $2 WHERE id = $3', [
        status,
        now,
        id,
      ]);
      return result.rowCount === 1;
    },
    async remove(id) {
      return (await pool.query('DELETE FROM provider_keys WHERE id = $1', [id])).rowCount === 1;
    },
    async rewrap(ciphertexts, now) {
      await inTransaction(pool, async (client) => {
        for (const [id, ciphertext] of ciphertexts) {
          const result = await client.query(
            'UPDATE provider_keys SET ciphertext = $1, updated_at = $2 WHERE id = $3',
            [ciphertext, now, id],
          );
          if (result.rowCount !== 1) throw new Error(`key ${id} vanished during rewrap`);
        }
      });
    },
  };
}

export function pgMeta(pool: Pool): MetaStore {
  const get = async (name: string): Promise<string | undefined> =>
    (await pool.query<{ value: string }>('SELECT value FROM meta WHERE name = $1', [name])).rows[0]?.value;
  return {
    get,
    async set(name, value) {
      await pool.query(
        'INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        [name, value],
      );
    },
    async setIfAbsent(name, value) {
      // Read first: a value already there is found without a write, which a read-only store
      // (`keyward doctor`) would refuse.
      const stored = await get(name);
      if (stored !== undefined) return stored;
      await pool.query('INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [
        name,
        value,
      ]);
      return (await get(name)) as string;
    },
    async deleteIf(name, value) {
      return (
        (await pool.query('DELETE FROM meta WHERE name = $1 AND value = $2', [name, value])).rowCount === 1
      );
    },
  };
}
