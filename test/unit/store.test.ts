import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type ProviderKeyRecord, type Store } from '../../src/store/index.js';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations.js';

function record(id: string, provider: string, createdAt: number): ProviderKeyRecord {
  return {
    id,
    provider,
    // Opaque to the store: it must keep whatever it is given, byte for byte.
    ciphertext: `kw1:0a1b2c3d:${id}-ciphertext`,
    fingerprint: `sk-…${id.slice(-4)} [#00000000]`,
    status: 'active',
    weight: 1,
    createdAt,
    updatedAt: createdAt,
  };
}

/**
 * What every Store must do, whatever it is built on. `open()` connects to the store under test:
 * within one test every call reaches the same data (so two calls are two connections, as a CLI and
 * the gateway would be), and each test starts from an empty store.
 */
function storeContract(name: string, open: () => Promise<Store>): void {
  describe(name, () => {
    const opened: Store[] = [];
    const connect = async (): Promise<Store> => {
      const store = await open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    it('starts empty', async () => {
      const store = await connect();
      expect(await store.providerKeys.list()).toEqual([]);
      expect(await store.providerKeys.get('pk_missing')).toBeUndefined();
      expect(await store.meta.get('salt')).toBeUndefined();
    });

    it('inserts and gets a provider key unchanged', async () => {
      const store = await connect();
      const key = { ...record('pk_1', 'openai', 1_000), weight: 7, status: 'disabled' as const };
      await store.providerKeys.insert(key);
      expect(await store.providerKeys.get('pk_1')).toEqual(key);
    });

    it('refuses a duplicate id and keeps the first record', async () => {
      const store = await connect();
      const first = record('pk_1', 'openai', 1_000);
      await store.providerKeys.insert(first);
      await expect(store.providerKeys.insert(record('pk_1', 'anthropic', 2_000))).rejects.toThrow();
      expect(await store.providerKeys.get('pk_1')).toEqual(first);
    });

    it('lists all keys or one provider, ordered by createdAt', async () => {
      const store = await connect();
      // Inserted out of order so that insertion order cannot pass for createdAt order.
      await store.providerKeys.insert(record('pk_c', 'openai', 3_000));
      await store.providerKeys.insert(record('pk_a', 'openai', 1_000));
      await store.providerKeys.insert(record('pk_x', 'anthropic', 2_000));
      await store.providerKeys.insert(record('pk_b', 'openai', 1_500));
      const ids = (records: ProviderKeyRecord[]) => records.map((r) => r.id);
      expect(ids(await store.providerKeys.list())).toEqual(['pk_a', 'pk_b', 'pk_x', 'pk_c']);
      expect(ids(await store.providerKeys.list('openai'))).toEqual(['pk_a', 'pk_b', 'pk_c']);
      expect(ids(await store.providerKeys.list('anthropic'))).toEqual(['pk_x']);
      expect(await store.providerKeys.list('gemini')).toEqual([]);
    });

    it('sets the status and updatedAt of one key, and reports unknown ids', async () => {
      const store = await connect();
      await store.providerKeys.insert(record('pk_1', 'openai', 1_000));
      await store.providerKeys.insert(record('pk_2', 'openai', 1_000));
      expect(await store.providerKeys.setStatus('pk_1', 'disabled', 5_000)).toBe(true);
      expect(await store.providerKeys.get('pk_1')).toEqual({
        ...record('pk_1', 'openai', 1_000),
        status: 'disabled',
        updatedAt: 5_000,
      });
      expect(await store.providerKeys.get('pk_2')).toEqual(record('pk_2', 'openai', 1_000));
      expect(await store.providerKeys.setStatus('pk_missing', 'disabled', 5_000)).toBe(false);
      expect(await store.providerKeys.setStatus('pk_1', 'active', 6_000)).toBe(true);
      expect((await store.providerKeys.get('pk_1'))?.status).toBe('active');
    });

    it('removes a key once, returning false for unknown ids', async () => {
      const store = await connect();
      await store.providerKeys.insert(record('pk_1', 'openai', 1_000));
      await store.providerKeys.insert(record('pk_2', 'openai', 2_000));
      expect(await store.providerKeys.remove('pk_1')).toBe(true);
      expect(await store.providerKeys.get('pk_1')).toBeUndefined();
      expect(await store.providerKeys.remove('pk_1')).toBe(false);
      expect(await store.providerKeys.remove('pk_missing')).toBe(false);
      expect((await store.providerKeys.list()).map((r) => r.id)).toEqual(['pk_2']);
    });

    it('rewraps the named ciphertexts and leaves the others alone', async () => {
      const store = await connect();
      await store.providerKeys.insert(record('pk_1', 'openai', 1_000));
      await store.providerKeys.insert(record('pk_2', 'openai', 1_000));
      await store.providerKeys.insert(record('pk_3', 'openai', 1_000));
      await store.providerKeys.rewrap(
        new Map([
          ['pk_1', 'kw1:ffffffff:new-1'],
          ['pk_2', 'kw1:ffffffff:new-2'],
        ]),
        9_000,
      );
      expect(await store.providerKeys.get('pk_1')).toMatchObject({
        ciphertext: 'kw1:ffffffff:new-1',
        updatedAt: 9_000,
        fingerprint: record('pk_1', 'openai', 1_000).fingerprint,
      });
      expect((await store.providerKeys.get('pk_2'))?.ciphertext).toBe('kw1:ffffffff:new-2');
      expect(await store.providerKeys.get('pk_3')).toEqual(record('pk_3', 'openai', 1_000));
    });

    it('rewraps all or nothing: an unknown id throws and changes nothing', async () => {
      const store = await connect();
      await store.providerKeys.insert(record('pk_1', 'openai', 1_000));
      await store.providerKeys.insert(record('pk_2', 'openai', 1_000));
      const before = await store.providerKeys.list();
      // The unknown id comes last, after updates that would already have landed without a transaction:
      // a half-rotated store would hold records under a master key that is about to be discarded.
      const ciphertexts = new Map([
        ['pk_1', 'kw1:ffffffff:new-1'],
        ['pk_2', 'kw1:ffffffff:new-2'],
        ['pk_missing', 'kw1:ffffffff:new-3'],
      ]);
      await expect(store.providerKeys.rewrap(ciphertexts, 9_000)).rejects.toThrow(/pk_missing/);
      expect(await store.providerKeys.list()).toEqual(before);
      expect(await store.providerKeys.get('pk_missing')).toBeUndefined();
    });

    it('keeps the first value of a meta entry', async () => {
      const store = await connect();
      expect(await store.meta.get('salt')).toBeUndefined();
      expect(await store.meta.setIfAbsent('salt', 'first')).toBe('first');
      // Two instances racing to create the passphrase salt must both end up with the same one.
      expect(await store.meta.setIfAbsent('salt', 'second')).toBe('first');
      expect(await store.meta.get('salt')).toBe('first');
      expect(await store.meta.setIfAbsent('other', 'value')).toBe('value');
    });

    it('changes its marker when another connection writes', async () => {
      const gateway = await connect();
      const cli = await connect();
      const initial = await gateway.changeMarker();
      await cli.providerKeys.insert(record('pk_1', 'openai', 1_000));
      const afterInsert = await gateway.changeMarker();
      expect(afterInsert).not.toBe(initial);
      expect((await gateway.providerKeys.get('pk_1'))?.provider).toBe('openai');
      await cli.meta.setIfAbsent('salt', 'value');
      expect(await gateway.changeMarker()).not.toBe(afterInsert);
      expect(await gateway.meta.get('salt')).toBe('value');
    });
  });
}

describe('SQLite store', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-store-'));
    path = join(dir, 'data', 'keyward.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  storeContract('contract', async () => openSqliteStore(path));

  it('creates the database file, WAL included, readable only by its owner', async () => {
    const store = openSqliteStore(path);
    try {
      await store.providerKeys.insert(record('pk_1', 'openai', 1_000));
      // The file holds only ciphertexts, but fingerprints and metadata are still nobody else's business.
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
    } finally {
      await store.close();
    }
  });

  it('keeps its data across a reopen', async () => {
    const first = openSqliteStore(path);
    await first.providerKeys.insert(record('pk_1', 'openai', 1_000));
    await first.meta.setIfAbsent('salt', 'value');
    await first.close();
    const second = openSqliteStore(path);
    try {
      expect(await second.providerKeys.list()).toEqual([record('pk_1', 'openai', 1_000)]);
      expect(await second.meta.get('salt')).toBe('value');
    } finally {
      await second.close();
    }
  });

  it('refuses a database from a newer Keyward, saying to upgrade', async () => {
    await (await openSqliteStore(path)).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SQLITE_MIGRATIONS.length + 1}`);
    db.close();
    // Running old code over a newer schema could corrupt it; the only safe move is to stop.
    expect(() => openSqliteStore(path)).toThrow(/newer than this Keyward.*upgrade Keyward/);
    const check = new Database(path, { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(SQLITE_MIGRATIONS.length + 1);
    } finally {
      check.close();
    }
  });
});
