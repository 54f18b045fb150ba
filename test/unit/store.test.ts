import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateMasterKey } from '../../src/keys/master-key.js';
import { KeyAlreadyStored, StoredKeys } from '../../src/keys/stored-keys.js';
import { announceInstance, PerInstanceLimitsError } from '../../src/limits/instances.js';
import {
  type AuditEntry,
  type AuditRecord,
  type InstanceRecord,
  openPostgresStore,
  openSqliteStore,
  type ProviderKeyRecord,
  type SessionRecord,
  type Store,
  type TokenRecord,
  type UsageDelta,
} from '../../src/store/index.js';
import { SQLITE_MIGRATIONS } from '../../src/store/migrations.js';
import { PAGE_SIZE } from '../../src/store/sqlite.js';
import { conversationStoreContract } from '../support/conversation-store-contract.js';
import { hasPostgres } from '../support/postgres.js';
import { sessionGrant, sessionRecord, tokenRecord } from '../support/records.js';
import { usePostgres } from '../support/use-postgres.js';

/** A login code's or session's grant, as the store keeps it whole. */
const GRANT = sessionGrant({ metadata: { team: 'a' } });

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

function delta(overrides: Partial<UsageDelta> = {}): UsageDelta {
  return {
    day: '2024-03-01',
    tokenId: 'tk_1',
    userId: 'alice',
    model: 'gpt-4o',
    provider: 'openai',
    requests: 1,
    inputTokens: 10,
    outputTokens: 20,
    cachedTokens: 0,
    costMicros: 100,
    ...overrides,
  };
}

function entry(n: number, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return { at: 1_000 + n, type: 'token.created', actor: 'admin', data: { n }, ...overrides };
}

/** A stand-in for the HMAC: any deterministic 64-hex function of the whole unsealed record. */
const sealWith =
  (calls: Array<Omit<AuditRecord, 'mac'>>) =>
  (record: Omit<AuditRecord, 'mac'>): string => {
    calls.push(structuredClone(record));
    return createHash('sha256').update(JSON.stringify(record)).digest('hex');
  };

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

    it('stores one key value once when two connections add it at once', async () => {
      // As two instances on one store would: each connection reads, then writes, between awaits.
      const master = generateMasterKey();
      const [a, b] = [
        new StoredKeys(await connect(), () => master),
        new StoredKeys(await connect(), () => master),
      ];
      for (let round = 0; round < 5; round++) {
        const value = `sk-same-value-${round}-xxxxxxxx`;
        const added = await Promise.allSettled([
          a.add('openai', value),
          b.add('openai', value),
          a.add('openai', value),
        ]);
        const stored = added.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
        expect(stored).toHaveLength(1);
        for (const result of added) {
          if (result.status === 'rejected') {
            expect(result.reason).toBeInstanceOf(KeyAlreadyStored);
            expect((result.reason as KeyAlreadyStored).stored.id).toBe(stored[0]!.id);
          }
        }
        expect(
          (await a.list('openai')).filter((key) => key.fingerprint === stored[0]!.fingerprint),
        ).toHaveLength(1);
      }
    });

    it('stores a record unless its provider has its fingerprint, and answers the stored one then', async () => {
      const store = await connect();
      const first = record('pk_1', 'openai', 1_000);
      expect(await store.providerKeys.insert(first)).toBeUndefined();
      const twin = { ...record('pk_2', 'openai', 2_000), fingerprint: first.fingerprint };
      expect(await store.providerKeys.insert(twin)).toEqual(first);
      // Another provider's key with the same value is another key.
      const elsewhere = { ...record('pk_3', 'azure', 3_000), fingerprint: first.fingerprint };
      expect(await store.providerKeys.insert(elsewhere)).toBeUndefined();
      expect((await store.providerKeys.list()).map((key) => key.id)).toEqual(['pk_1', 'pk_3']);
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

    it('removes a meta entry only while it holds the value the caller saw', async () => {
      const store = await connect();
      await store.meta.setIfAbsent('lock', 'mine');
      expect(await store.meta.deleteIf('lock', 'theirs')).toBe(false);
      expect(await store.meta.get('lock')).toBe('mine');
      expect(await store.meta.deleteIf('lock', 'mine')).toBe(true);
      expect(await store.meta.get('lock')).toBeUndefined();
      expect(await store.meta.deleteIf('lock', 'mine')).toBe(false);
    });

    it('changes its marker when another connection writes', async () => {
      const gateway = await connect();
      const cli = await connect();
      const initial = await gateway.changeMarker();
      await cli.providerKeys.insert(record('pk_1', 'openai', 1_000));
      // SQLite's marker moves with the commit; Postgres's when the notification arrives, just after.
      await expect.poll(() => gateway.changeMarker()).not.toBe(initial);
      const afterInsert = await gateway.changeMarker();
      expect((await gateway.providerKeys.get('pk_1'))?.provider).toBe('openai');
      await cli.tokens.insert(tokenRecord('tk_1', 1_000));
      await expect.poll(() => gateway.changeMarker()).not.toBe(afterInsert);
      expect(await gateway.tokens.get('tk_1')).toBeDefined();
    });

    describe('tokens', () => {
      it('starts empty', async () => {
        const store = await connect();
        expect(await store.tokens.list({ includeRevoked: true })).toEqual([]);
        expect(await store.tokens.get('tk_missing')).toBeUndefined();
        expect(await store.tokens.revokedSince(0)).toEqual([]);
      });

      it('inserts and gets a token with every field unchanged', async () => {
        const store = await connect();
        const full = tokenRecord('tk_full', 1_000, {
          clientId: 'client-1',
          userId: 'alice',
          scopes: ['models:read', 'chat', 'embeddings', 'templates', 'admin'],
          models: ['gpt-4o', 'anthropic/claude-3-5-sonnet', 'fast'],
          providers: ['openai', 'anthropic'],
          maxTokens: 4096,
          ipAllowlist: ['10.0.0.0/8', '2001:db8::/32'],
          expiresAt: 1_700_000_000_000,
          limits: { rpm: 60, tpm: 100_000, concurrency: 4 },
          budget: { usd: 12.5, period: 'month' },
          metadata: { team: 'search', 'cost-center': 'ü/42', empty: '' },
          createdBy: 'tk_admin',
          revokedAt: 9_000,
        });
        // Every nullable field null, every collection empty: null must not come back as [] or {}.
        const bare = tokenRecord('tk_bare', 2_000, { scopes: [], models: [], limits: { rpm: 1 } });
        const nulls = tokenRecord('tk_nulls', 3_000);
        for (const record of [full, bare, nulls]) await store.tokens.insert(record);
        expect(await store.tokens.get('tk_full')).toEqual(full);
        expect(await store.tokens.get('tk_bare')).toEqual(bare);
        expect(await store.tokens.get('tk_nulls')).toEqual(nulls);
        // toEqual treats undefined and missing alike; nulls must stay null exactly.
        const got = await store.tokens.get('tk_nulls');
        for (const field of [
          'clientId',
          'userId',
          'models',
          'providers',
          'maxTokens',
          'ipAllowlist',
          'expiresAt',
          'budget',
          'createdBy',
          'revokedAt',
        ] as const) {
          expect(got?.[field], field).toBeNull();
        }
        expect(got?.limits).toStrictEqual({});
        expect(got?.metadata).toStrictEqual({});
        expect((await store.tokens.get('tk_bare'))?.models).toStrictEqual([]);
      });

      it('refuses a duplicate id and keeps the first record', async () => {
        const store = await connect();
        const first = tokenRecord('tk_1', 1_000, { name: 'first' });
        await store.tokens.insert(first);
        await expect(store.tokens.insert(tokenRecord('tk_1', 2_000, { name: 'second' }))).rejects.toThrow();
        expect(await store.tokens.get('tk_1')).toEqual(first);
        expect(await store.tokens.list({ includeRevoked: true })).toEqual([first]);
      });

      it('lists live tokens, or all of them, ordered by createdAt', async () => {
        const store = await connect();
        await store.tokens.insert(tokenRecord('tk_c', 3_000));
        await store.tokens.insert(tokenRecord('tk_a', 1_000, { revokedAt: 1_500 }));
        await store.tokens.insert(tokenRecord('tk_d', 4_000));
        await store.tokens.insert(tokenRecord('tk_b', 2_000));
        expect(await store.tokens.revoke('tk_d', 5_000)).toBe(true);
        const ids = (records: TokenRecord[]) => records.map((r) => r.id);
        expect(ids(await store.tokens.list())).toEqual(['tk_b', 'tk_c']);
        expect(ids(await store.tokens.list({}))).toEqual(['tk_b', 'tk_c']);
        expect(ids(await store.tokens.list({ includeRevoked: false }))).toEqual(['tk_b', 'tk_c']);
        expect(ids(await store.tokens.list({ includeRevoked: true }))).toEqual([
          'tk_a',
          'tk_b',
          'tk_c',
          'tk_d',
        ]);
        expect((await store.tokens.list({ includeRevoked: true }))[3]).toEqual(
          tokenRecord('tk_d', 4_000, { revokedAt: 5_000 }),
        );
      });

      it('revokes a token once, returning false for unknown or already revoked ids', async () => {
        const store = await connect();
        await store.tokens.insert(tokenRecord('tk_1', 1_000));
        await store.tokens.insert(tokenRecord('tk_2', 1_000));
        expect(await store.tokens.revoke('tk_1', 5_000)).toBe(true);
        expect((await store.tokens.get('tk_1'))?.revokedAt).toBe(5_000);
        // A second revocation must not move revokedAt: revokedSince would re-announce it.
        expect(await store.tokens.revoke('tk_1', 6_000)).toBe(false);
        expect((await store.tokens.get('tk_1'))?.revokedAt).toBe(5_000);
        expect(await store.tokens.revoke('tk_missing', 6_000)).toBe(false);
        expect(await store.tokens.get('tk_missing')).toBeUndefined();
        expect(await store.tokens.get('tk_2')).toEqual(tokenRecord('tk_2', 1_000));
      });

      it('revokes the tokens minted under a token with it, however deep, and no others', async () => {
        const store = await connect();
        await store.tokens.insert(tokenRecord('tk_root', 1_000));
        await store.tokens.insert(tokenRecord('tk_child', 1_001, { createdBy: 'tk_root' }));
        await store.tokens.insert(tokenRecord('tk_grandchild', 1_002, { createdBy: 'tk_child' }));
        await store.tokens.insert(tokenRecord('tk_gone', 1_003, { createdBy: 'tk_child', revokedAt: 2_000 }));
        await store.tokens.insert(tokenRecord('tk_other', 1_004));
        await store.tokens.insert(tokenRecord('tk_others_child', 1_005, { createdBy: 'tk_other' }));
        const under = async (id: string, includeRevoked: boolean) =>
          (await store.tokens.list({ under: id, includeRevoked })).map((t) => t.id);
        expect(await under('tk_child', true)).toEqual(['tk_child', 'tk_grandchild', 'tk_gone']);
        expect(await under('tk_child', false)).toEqual(['tk_child', 'tk_grandchild']);
        expect(await under('tk_other', false)).toEqual(['tk_other', 'tk_others_child']);
        const grant = GRANT;
        await store.sessions.insertCode({
          hash: 'code-under',
          grant,
          createdBy: 'tk_grandchild',
          expiresAt: 9_000,
        });
        await store.sessions.insertCode({
          hash: 'code-other',
          grant,
          createdBy: 'tk_other',
          expiresAt: 9_000,
        });
        const signedIn = (id: string, createdBy: string) =>
          sessionRecord(id, grant, { userId: 'u', createdBy });
        await store.sessions.create(signedIn('s_under', 'tk_grandchild'), 'refresh-under');
        await store.sessions.create(signedIn('s_other', 'tk_other'), 'refresh-other');
        expect(await store.tokens.revoke('tk_child', 5_000)).toBe(true);
        // The login codes they minted and no one redeemed go with them, and the sessions signed in
        // with their codes end, announced to other instances as any revoked session is.
        expect(await store.sessions.takeCode('code-under', 5_001)).toBeUndefined();
        expect(await store.sessions.takeCode('code-other', 5_001)).toBeDefined();
        expect(await store.sessions.get('s_under')).toMatchObject({
          revokedAt: 5_000,
          revokedReason: 'token_revoked',
        });
        expect((await store.sessions.get('s_other'))?.revokedAt).toBeNull();
        expect(await store.sessions.revokedSince(5_000)).toEqual(['s_under']);
        const revokedAt = async (id: string) => (await store.tokens.get(id))?.revokedAt;
        expect(await revokedAt('tk_child')).toBe(5_000);
        expect(await revokedAt('tk_grandchild')).toBe(5_000);
        // Already revoked: its time stays, or revokedSince would announce it again.
        expect(await revokedAt('tk_gone')).toBe(2_000);
        for (const id of ['tk_root', 'tk_other', 'tk_others_child']) expect(await revokedAt(id)).toBeNull();
        expect((await store.tokens.revokedSince(5_000)).sort()).toEqual(['tk_child', 'tk_grandchild']);
        // Revoked already itself: false, yet what it minted since (or before an upgrade) goes too.
        await store.tokens.insert(tokenRecord('tk_late', 6_000, { createdBy: 'tk_child' }));
        expect(await store.tokens.revoke('tk_child', 7_000)).toBe(false);
        expect(await revokedAt('tk_late')).toBe(7_000);
      });

      it('reports exactly the ids revoked at or after a time', async () => {
        const store = await connect();
        for (const id of ['tk_1', 'tk_2', 'tk_3', 'tk_4', 'tk_live'])
          await store.tokens.insert(tokenRecord(id, 1_000));
        await store.tokens.revoke('tk_1', 4_999);
        await store.tokens.revoke('tk_2', 5_000);
        await store.tokens.revoke('tk_3', 5_001);
        await store.tokens.revoke('tk_4', 9_000);
        const since = async (t: number) => (await store.tokens.revokedSince(t)).sort();
        expect(await since(0)).toEqual(['tk_1', 'tk_2', 'tk_3', 'tk_4']);
        expect(await since(5_000)).toEqual(['tk_2', 'tk_3', 'tk_4']);
        expect(await since(5_001)).toEqual(['tk_3', 'tk_4']);
        expect(await since(9_000)).toEqual(['tk_4']);
        expect(await since(9_001)).toEqual([]);
      });

      it('shows revocations to another connection', async () => {
        const gateway = await connect();
        const cli = await connect();
        await gateway.tokens.insert(tokenRecord('tk_1', 1_000));
        expect(await cli.tokens.revoke('tk_1', 5_000)).toBe(true);
        expect(await gateway.tokens.revokedSince(5_000)).toEqual(['tk_1']);
        expect(await gateway.tokens.list()).toEqual([]);
        expect(await gateway.tokens.revoke('tk_1', 6_000)).toBe(false);
      });
    });

    describe('usage', () => {
      const totals = (n: number, costMicros: number) => ({
        requests: n,
        inputTokens: 10 * n,
        outputTokens: 20 * n,
        cachedTokens: 0,
        costMicros,
      });

      it('starts empty', async () => {
        const store = await connect();
        for (const by of ['token', 'user', 'model', 'day'] as const)
          expect(await store.usage.query(by)).toEqual([]);
        expect(await store.usage.spent({ tokenId: 'tk_1' })).toBe(0);
        expect(await store.usage.spent({ userId: 'alice' }, '2024-01-01')).toBe(0);
        await store.usage.add([]);
        expect(await store.usage.query('day')).toEqual([]);
      });

      it('adds deltas with the same key together, within a batch and across batches', async () => {
        const store = await connect();
        await store.usage.add([
          delta({ costMicros: 100 }),
          delta({ requests: 2, inputTokens: 5, outputTokens: 7, cachedTokens: 3, costMicros: 250 }),
        ]);
        await store.usage.add([delta({ costMicros: 1 })]);
        expect(await store.usage.query('day')).toEqual([
          {
            group: '2024-03-01',
            requests: 4,
            inputTokens: 25,
            outputTokens: 47,
            cachedTokens: 3,
            costMicros: 351,
          },
        ]);
      });

      it('keeps deltas that differ in any key part apart, null ids included', async () => {
        const store = await connect();
        const keys: Array<Partial<UsageDelta>> = [
          {},
          { day: '2024-03-02' },
          { tokenId: 'tk_2' },
          { tokenId: null },
          { userId: 'bob' },
          { userId: null },
          { tokenId: null, userId: null },
          { model: 'gpt-4o-mini' },
          { provider: 'azure' },
        ];
        // Each key twice (costs 1, then 2): the second add must sum into that key's row alone, replacing nothing.
        await store.usage.add(keys.map((key) => delta({ ...key, costMicros: 1 })));
        await store.usage.add(keys.map((key) => delta({ ...key, costMicros: 2 })));
        const byDay = await store.usage.query('day');
        expect(byDay).toEqual([
          { group: '2024-03-01', ...totals(16, 24) },
          { group: '2024-03-02', ...totals(2, 3) },
        ]);
        // Grouping by one part, filtered by another, puts each key's sum where its own parts say:
        // a null id is its own group (''), never folded into a named one.
        expect(await store.usage.query('token', { userId: 'alice' })).toEqual([
          { group: '', ...totals(2, 3) },
          { group: 'tk_1', ...totals(8, 12) },
          { group: 'tk_2', ...totals(2, 3) },
        ]);
        expect(await store.usage.query('user', { tokenId: 'tk_1' })).toEqual([
          { group: '', ...totals(2, 3) },
          { group: 'alice', ...totals(8, 12) },
          { group: 'bob', ...totals(2, 3) },
        ]);
        expect(await store.usage.query('user', { tokenId: 'tk_1', from: '2024-03-02' })).toEqual([
          { group: 'alice', ...totals(2, 3) },
        ]);
        expect(await store.usage.query('user')).toEqual([
          { group: '', ...totals(4, 6) },
          { group: 'alice', ...totals(12, 18) },
          { group: 'bob', ...totals(2, 3) },
        ]);
        expect(await store.usage.query('model')).toEqual([
          { group: 'gpt-4o', ...totals(16, 24) },
          { group: 'gpt-4o-mini', ...totals(2, 3) },
        ]);
      });

      it('groups by token, user, model and day, with null ids grouped as ""', async () => {
        const store = await connect();
        await store.usage.add([
          delta({ day: '2024-03-01', tokenId: 'tk_1', userId: 'alice', model: 'm-a', costMicros: 1 }),
          delta({ day: '2024-03-02', tokenId: 'tk_1', userId: 'bob', model: 'm-b', costMicros: 10 }),
          delta({ day: '2024-03-03', tokenId: 'tk_2', userId: 'alice', model: 'm-a', costMicros: 100 }),
          delta({ day: '2024-03-03', tokenId: null, userId: null, model: 'm-b', costMicros: 1_000 }),
          delta({ day: '2024-03-04', tokenId: 'tk_2', userId: null, model: 'm-c', costMicros: 10_000 }),
        ]);
        expect(await store.usage.query('token')).toEqual([
          { group: '', ...totals(1, 1_000) },
          { group: 'tk_1', ...totals(2, 11) },
          { group: 'tk_2', ...totals(2, 10_100) },
        ]);
        expect(await store.usage.query('user')).toEqual([
          { group: '', ...totals(2, 11_000) },
          { group: 'alice', ...totals(2, 101) },
          { group: 'bob', ...totals(1, 10) },
        ]);
        expect(await store.usage.query('model')).toEqual([
          { group: 'm-a', ...totals(2, 101) },
          { group: 'm-b', ...totals(2, 1_010) },
          { group: 'm-c', ...totals(1, 10_000) },
        ]);
        expect(await store.usage.query('day')).toEqual([
          { group: '2024-03-01', ...totals(1, 1) },
          { group: '2024-03-02', ...totals(1, 10) },
          { group: '2024-03-03', ...totals(2, 1_100) },
          { group: '2024-03-04', ...totals(1, 10_000) },
        ]);

        // from and to are inclusive days.
        expect(await store.usage.query('day', { from: '2024-03-02', to: '2024-03-03' })).toEqual([
          { group: '2024-03-02', ...totals(1, 10) },
          { group: '2024-03-03', ...totals(2, 1_100) },
        ]);
        expect(await store.usage.query('token', { from: '2024-03-03' })).toEqual([
          { group: '', ...totals(1, 1_000) },
          { group: 'tk_2', ...totals(2, 10_100) },
        ]);
        expect(await store.usage.query('token', { to: '2024-03-02' })).toEqual([
          { group: 'tk_1', ...totals(2, 11) },
        ]);
        expect(await store.usage.query('model', { tokenId: 'tk_2' })).toEqual([
          { group: 'm-a', ...totals(1, 100) },
          { group: 'm-c', ...totals(1, 10_000) },
        ]);
        expect(await store.usage.query('day', { userId: 'alice' })).toEqual([
          { group: '2024-03-01', ...totals(1, 1) },
          { group: '2024-03-03', ...totals(1, 100) },
        ]);
        expect(await store.usage.query('user', { tokenId: 'tk_1', userId: 'bob' })).toEqual([
          { group: 'bob', ...totals(1, 10) },
        ]);
        expect(
          await store.usage.query('model', { tokenId: 'tk_1', from: '2024-03-02', to: '2024-03-02' }),
        ).toEqual([{ group: 'm-b', ...totals(1, 10) }]);
        expect(await store.usage.query('token', { tokenId: 'tk_missing' })).toEqual([]);
        expect(await store.usage.query('day', { from: '2024-03-05' })).toEqual([]);
      });

      it('sums what a token or a user spent from a day on, or ever', async () => {
        const store = await connect();
        await store.usage.add([
          delta({ day: '2024-02-28', tokenId: 'tk_1', userId: 'alice', costMicros: 1 }),
          delta({ day: '2024-03-01', tokenId: 'tk_1', userId: 'bob', costMicros: 10 }),
          delta({ day: '2024-03-01', tokenId: 'tk_1', userId: 'bob', model: 'other', costMicros: 20 }),
          delta({ day: '2024-03-02', tokenId: 'tk_2', userId: 'alice', costMicros: 100 }),
          delta({ day: '2024-03-03', tokenId: null, userId: 'alice', costMicros: 1_000 }),
          delta({ day: '2024-03-03', tokenId: 'tk_1', userId: null, costMicros: 10_000 }),
        ]);
        expect(await store.usage.spent({ tokenId: 'tk_1' })).toBe(10_031);
        expect(await store.usage.spent({ tokenId: 'tk_1' }, undefined)).toBe(10_031);
        expect(await store.usage.spent({ tokenId: 'tk_1' }, '2024-03-01')).toBe(10_030);
        expect(await store.usage.spent({ tokenId: 'tk_1' }, '2024-03-02')).toBe(10_000);
        expect(await store.usage.spent({ tokenId: 'tk_1' }, '2024-03-04')).toBe(0);
        expect(await store.usage.spent({ tokenId: 'tk_1' }, '2024-03-01', '2024-03-02')).toBe(30);
        expect(await store.usage.spent({ tokenId: 'tk_1' }, undefined, '2024-02-28')).toBe(1);
        expect(await store.usage.spent({ userId: 'alice' }, '2024-03-01', '2024-03-31')).toBe(1_100);
        expect(await store.usage.spent({ userId: 'alice' }, '2024-03-01', '2024-03-02')).toBe(100);
        expect(await store.usage.spent({ tokenId: 'tk_2' })).toBe(100);
        expect(await store.usage.spent({ userId: 'alice' })).toBe(1_101);
        expect(await store.usage.spent({ userId: 'alice' }, '2024-03-01')).toBe(1_100);
        expect(await store.usage.spent({ userId: 'alice' }, '2024-03-03')).toBe(1_000);
        expect(await store.usage.spent({ userId: 'bob' }, '2024-02-01')).toBe(30);
        expect(await store.usage.spent({ userId: 'carol' })).toBe(0);
        expect(await store.usage.spent({ tokenId: 'tk_missing' })).toBe(0);
      });

      it("counts the spend of the tokens minted under a token, however deep, in the token's", async () => {
        const store = await connect();
        await store.tokens.insert(tokenRecord('tk_root', 1_000));
        await store.tokens.insert(tokenRecord('tk_child', 1_001, { createdBy: 'tk_root' }));
        await store.tokens.insert(tokenRecord('tk_grandchild', 1_002, { createdBy: 'tk_child' }));
        await store.tokens.insert(tokenRecord('tk_other', 1_003));
        await store.usage.add([
          delta({ day: '2024-03-01', tokenId: 'tk_root', costMicros: 1 }),
          delta({ day: '2024-03-01', tokenId: 'tk_child', costMicros: 10 }),
          delta({ day: '2024-03-02', tokenId: 'tk_grandchild', costMicros: 100 }),
          delta({ day: '2024-03-02', tokenId: 'tk_other', costMicros: 1_000 }),
        ]);
        expect(await store.usage.spent({ tokenId: 'tk_root' })).toBe(111);
        expect(await store.usage.spent({ tokenId: 'tk_root' }, '2024-03-02')).toBe(100);
        expect(await store.usage.spent({ tokenId: 'tk_child' })).toBe(110);
        expect(await store.usage.spent({ tokenId: 'tk_grandchild' })).toBe(100);
        expect(await store.usage.spent({ tokenId: 'tk_other' })).toBe(1_000);
      });

      it('counts the spend of the browser sessions a token or one under it signed in, no session stored', async () => {
        const store = await connect();
        await store.tokens.insert(tokenRecord('tk_root', 1_000));
        await store.tokens.insert(tokenRecord('tk_child', 1_001, { createdBy: 'tk_root' }));
        await store.tokens.insert(tokenRecord('tk_other', 1_002));
        // The sessions themselves were pruned long ago: their usage names who signed them in.
        await store.usage.add([
          delta({ day: '2024-03-01', tokenId: 'tk_root', userId: null, costMicros: 1 }),
          delta({
            day: '2024-03-01',
            tokenId: 'ses_a',
            userId: 'alice',
            sessionCreator: 'tk_root',
            costMicros: 10,
          }),
          delta({
            day: '2024-03-02',
            tokenId: 'ses_b',
            userId: 'bob',
            sessionCreator: 'tk_child',
            costMicros: 100,
          }),
          delta({
            day: '2024-03-02',
            tokenId: 'ses_c',
            userId: 'alice',
            sessionCreator: 'tk_other',
            costMicros: 1_000,
          }),
        ]);
        // Added again: the row's creator stays, its sums grow.
        await store.usage.add([
          delta({
            day: '2024-03-01',
            tokenId: 'ses_a',
            userId: 'alice',
            sessionCreator: 'tk_root',
            costMicros: 10,
          }),
        ]);
        expect(await store.usage.spent({ tokenId: 'tk_root' })).toBe(121);
        expect(await store.usage.spent({ tokenId: 'tk_root' }, '2024-03-02')).toBe(100);
        expect(await store.usage.spent({ tokenId: 'tk_root' }, undefined, '2024-03-01')).toBe(21);
        expect(await store.usage.spent({ tokenId: 'tk_child' })).toBe(100);
        expect(await store.usage.spent({ tokenId: 'tk_other' })).toBe(1_000);
        // A session's own budget, and a user's, count its rows once.
        expect(await store.usage.spent({ tokenId: 'ses_a' })).toBe(20);
        expect(await store.usage.spent({ userId: 'alice' })).toBe(1_020);
        expect(await store.usage.spent({ userId: 'bob' }, '2024-03-02')).toBe(100);
        expect(await store.usage.query('token')).toEqual([
          { group: 'ses_a', ...totals(2, 20) },
          { group: 'ses_b', ...totals(1, 100) },
          { group: 'ses_c', ...totals(1, 1_000) },
          { group: 'tk_root', ...totals(1, 1) },
        ]);
      });

      it('adds a batch all or nothing: one bad delta rolls back the others', async () => {
        const store = await connect();
        await store.usage.add([delta({ costMicros: 100 })]);
        const before = await store.usage.query('day');
        // The bad delta comes last, after an update of an existing row and an insert of a new one.
        await expect(
          store.usage.add([
            delta({ costMicros: 5 }),
            delta({ day: '2024-03-02', costMicros: 7 }),
            delta({ day: '2024-03-03', costMicros: 1.5 }),
          ]),
        ).rejects.toThrow();
        expect(await store.usage.query('day')).toEqual(before);
        expect(await store.usage.spent({ tokenId: 'tk_1' })).toBe(100);
        // The store still works after the failed batch.
        await store.usage.add([delta({ costMicros: 1 })]);
        expect(await store.usage.spent({ tokenId: 'tk_1' })).toBe(101);
      });

      it('sees usage added by another connection', async () => {
        const gateway = await connect();
        const other = await connect();
        await gateway.usage.add([delta({ costMicros: 100 })]);
        await other.usage.add([delta({ costMicros: 50 })]);
        expect(await gateway.usage.spent({ tokenId: 'tk_1' })).toBe(150);
        expect(await other.usage.query('token')).toEqual([{ group: 'tk_1', ...totals(2, 150) }]);
      });
    });

    describe('audit', () => {
      const ZEROS = '0'.repeat(64);

      it('starts empty', async () => {
        const store = await connect();
        expect(await store.audit.list()).toEqual([]);
        expect(await store.audit.last()).toBeUndefined();
      });

      it('chains records: consecutive seqs from 1, each prevMac the mac before it', async () => {
        const store = await connect();
        const calls: Array<Omit<AuditRecord, 'mac'>> = [];
        const seal = sealWith(calls);
        const first = await store.audit.appendChained(
          [entry(1), entry(2, { data: { nested: { a: [1, 'x', null] } } })],
          seal,
        );
        const second = await store.audit.appendChained([entry(3, { type: 'key.added', actor: 'cli' })], seal);
        expect(await store.audit.appendChained([], seal)).toEqual([]);
        const records = [...first, ...second];
        expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
        expect(records[0]?.prevMac).toBe(ZEROS);
        expect(records[1]?.prevMac).toBe(records[0]?.mac);
        expect(records[2]?.prevMac).toBe(records[1]?.mac);
        // seal sees each record with its seq and prevMac set but no mac, and its answer is the mac.
        expect(calls).toHaveLength(3);
        records.forEach((record, i) => {
          const { mac, ...unsealed } = record;
          expect(calls[i]).toStrictEqual(unsealed);
          expect(mac).toBe(createHash('sha256').update(JSON.stringify(calls[i])).digest('hex'));
        });
        expect(records[1]).toMatchObject({
          ...entry(2, { data: { nested: { a: [1, 'x', null] } } }),
          seq: 2,
        });
        expect(records[2]).toMatchObject({ at: 1_003, type: 'key.added', actor: 'cli', data: { n: 3 } });
        // What was returned is what was stored.
        expect(await store.audit.list()).toEqual(records);
        expect(await store.audit.last()).toEqual(records[2]);
      });

      it('extends one chain from two connections', async () => {
        const gateway = await connect();
        const cli = await connect();
        const calls: Array<Omit<AuditRecord, 'mac'>> = [];
        const seal = sealWith(calls);
        const a = await gateway.audit.appendChained([entry(1), entry(2)], seal);
        const b = await cli.audit.appendChained([entry(3, { actor: 'cli' })], seal);
        const c = await gateway.audit.appendChained([entry(4)], seal);
        const d = await cli.audit.appendChained(
          [entry(5, { actor: 'cli' }), entry(6, { actor: 'cli' })],
          seal,
        );
        const records = [...a, ...b, ...c, ...d];
        expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(records[0]?.prevMac).toBe(ZEROS);
        for (let i = 1; i < records.length; i++) expect(records[i]?.prevMac).toBe(records[i - 1]?.mac);
        expect(await gateway.audit.list()).toEqual(records);
        expect(await cli.audit.list()).toEqual(records);
        expect(await gateway.audit.last()).toEqual(records[5]);
      });

      it('appends nothing when seal throws', async () => {
        const store = await connect();
        const calls: Array<Omit<AuditRecord, 'mac'>> = [];
        const [first] = await store.audit.appendChained([entry(1)], sealWith(calls));
        let n = 0;
        const failing = (record: Omit<AuditRecord, 'mac'>): string => {
          if (++n === 2) throw new Error('seal failed');
          return sealWith(calls)(record);
        };
        await expect(store.audit.appendChained([entry(2), entry(3)], failing)).rejects.toThrow('seal failed');
        expect(await store.audit.list()).toEqual([first]);
        const [next] = await store.audit.appendChained([entry(4)], sealWith(calls));
        expect(next).toMatchObject({ seq: 2, prevMac: first?.mac });
      });

      it('lists by afterSeq, limit, type and actor, in seq order', async () => {
        const store = await connect();
        const records = await store.audit.appendChained(
          [
            entry(1, { type: 'token.created', actor: 'admin' }),
            entry(2, { type: 'token.revoked', actor: 'admin' }),
            entry(3, { type: 'token.created', actor: 'tk_1' }),
            entry(4, { type: 'auth.failed', actor: '203.0.113.9' }),
            entry(5, { type: 'token.created', actor: 'admin' }),
          ],
          sealWith([]),
        );
        const seqs = (list: AuditRecord[]) => list.map((r) => r.seq);
        expect(seqs(await store.audit.list())).toEqual([1, 2, 3, 4, 5]);
        expect(seqs(await store.audit.list({ afterSeq: 0 }))).toEqual([1, 2, 3, 4, 5]);
        expect(seqs(await store.audit.list({ afterSeq: 2 }))).toEqual([3, 4, 5]);
        expect(seqs(await store.audit.list({ afterSeq: 5 }))).toEqual([]);
        expect(seqs(await store.audit.list({ limit: 2 }))).toEqual([1, 2]);
        expect(seqs(await store.audit.list({ afterSeq: 1, limit: 3 }))).toEqual([2, 3, 4]);
        expect(seqs(await store.audit.list({ type: 'token.created' }))).toEqual([1, 3, 5]);
        expect(seqs(await store.audit.list({ actor: 'admin' }))).toEqual([1, 2, 5]);
        expect(seqs(await store.audit.list({ type: 'token.created', actor: 'admin' }))).toEqual([1, 5]);
        expect(seqs(await store.audit.list({ type: 'token.created', afterSeq: 1, limit: 1 }))).toEqual([3]);
        expect(seqs(await store.audit.list({ type: 'nothing' }))).toEqual([]);
        expect(await store.audit.list({ actor: '203.0.113.9' })).toEqual([records[3]]);
        expect(await store.audit.last()).toEqual(records[4]);
      });
    });

    describe('sessions', () => {
      const grant = GRANT;
      const session = (id: string, overrides: Partial<SessionRecord> = {}) =>
        sessionRecord(id, grant, overrides);

      it('takes a login code once, and never when it has expired', async () => {
        const store = await connect();
        const other = await connect();
        await store.sessions.insertCode({ hash: 'h1', grant, createdBy: 'tk_1', expiresAt: 5_000 });
        await store.sessions.insertCode({ hash: 'h2', grant, createdBy: null, expiresAt: 5_000 });
        const [first, second] = await Promise.all([
          store.sessions.takeCode('h1', 1_000),
          other.sessions.takeCode('h1', 1_000),
        ]);
        expect([first, second].filter(Boolean)).toEqual([
          { hash: 'h1', grant, createdBy: 'tk_1', expiresAt: 5_000 },
        ]);
        expect(await store.sessions.takeCode('h2', 5_000)).toBeUndefined();
        expect(await store.sessions.takeCode('h2', 1_000)).toBeUndefined();
      });

      it('creates, rotates once per generation, revokes and prunes sessions', async () => {
        const store = await connect();
        await store.sessions.create(session('s1'), 'refresh-1');
        await store.sessions.create(session('s2', { userId: 'bob', guest: true, createdAt: 2_000 }), 'r');
        expect(await store.sessions.get('s1')).toEqual(session('s1'));
        expect((await store.sessions.get('s2'))?.guest).toBe(true);
        const rotation = (from: number, generation: number) => ({
          from,
          generation,
          refreshHash: `refresh-${generation}`,
          accessHash: `access-${generation}`,
          accessExpiresAt: 3_000,
          at: 1_500,
        });
        const other = await connect();
        const won = await Promise.all([
          store.sessions.rotate('s1', rotation(1, 2)),
          other.sessions.rotate('s1', rotation(1, 2)),
        ]);
        expect(won.sort()).toEqual([false, true]);
        expect(await store.sessions.refreshToken('s1', 1)).toEqual({
          sessionId: 's1',
          generation: 1,
          hash: 'refresh-1',
          retiredAt: 1_500,
        });
        expect((await store.sessions.refreshToken('s1', 2))?.retiredAt).toBeNull();
        expect(await store.sessions.get('s1')).toMatchObject({ generation: 2, accessHash: 'access-2' });

        expect(await store.sessions.revoke('s2', 4_000, 'logout')).toBe(true);
        expect(await store.sessions.revoke('s2', 4_500, 'again')).toBe(false);
        expect(await store.sessions.rotate('s2', rotation(1, 2))).toBe(false);
        expect((await store.sessions.list()).map((s) => s.id)).toEqual(['s1']);
        expect((await store.sessions.list({ includeRevoked: true })).map((s) => s.id)).toEqual(['s1', 's2']);
        // A page at a time: after a session's place (creation, then id), at most `limit`.
        const page = async (after?: { createdAt: number; id: string }) =>
          (await store.sessions.list({ includeRevoked: true, limit: 1, ...(after && { after }) })).map(
            (s) => s.id,
          );
        const [first] = await store.sessions.list({ includeRevoked: true, limit: 1 });
        expect(await page()).toEqual(['s1']);
        expect(await page({ createdAt: first!.createdAt, id: first!.id })).toEqual(['s2']);
        expect(await page({ createdAt: 2_000, id: 's2' })).toEqual([]);
        expect(await store.sessions.revokeUser('alice', 5_000, 'admin')).toEqual(['s1']);
        expect((await store.sessions.list({ userId: 'alice', includeRevoked: true }))[0]).toMatchObject({
          revokedAt: 5_000,
          revokedReason: 'admin',
        });
        expect((await store.sessions.revokedSince(4_500)).sort()).toEqual(['s1']);
        await store.sessions.prune(200_000, 0);
        expect(await store.sessions.get('s1')).toBeUndefined();
        expect(await store.sessions.refreshToken('s1', 2)).toBeUndefined();
      });

      it('keeps JWT revocations, the newest time per claim', async () => {
        const store = await connect();
        await store.sessions.revokeJwt({ claim: 'sub', value: 'u1', issuer: '', revokedAt: 1_000 });
        await store.sessions.revokeJwt({ claim: 'sub', value: 'u1', issuer: '', revokedAt: 3_000 });
        await store.sessions.revokeJwt({ claim: 'jti', value: 'j', issuer: 'https://idp', revokedAt: 2_000 });
        expect(await store.sessions.jwtRevocationsSince(2_500)).toEqual([
          { claim: 'sub', value: 'u1', issuer: '', revokedAt: 3_000 },
        ]);
        expect(await store.sessions.jwtRevocationsSince(0)).toHaveLength(2);
      });
    });

    it("keeps dashboard logins for every connection, until they end, expire or the same actor's newer ones crowd them out", async () => {
      const store = await connect();
      const other = await connect();
      const byKey = 'admin-key [#0a1b2c3d]';
      const limit = (now: number) => ({ now, perActor: 2, total: 3, spared: 'admin-key ' });
      const login = (hash: string, actor: string, createdAt: number) => ({
        hash,
        actor,
        createdAt,
        expiresAt: createdAt + 10_000,
      });
      await store.adminSessions.create(login('h-admin', byKey, 1_000), limit(1_000));
      await store.adminSessions.create(login('h-tok-1', 'tk_1', 2_000), limit(2_000));
      await store.adminSessions.create(login('h-tok-2', 'tk_1', 3_000), limit(3_000));
      expect(await other.adminSessions.get('h-admin', 5_000)).toEqual(login('h-admin', byKey, 1_000));
      expect(await other.adminSessions.get('h-tok-1', 5_000)).toEqual(login('h-tok-1', 'tk_1', 2_000));
      expect(await other.adminSessions.get('h-admin', 11_000)).toBeUndefined();
      expect(await other.adminSessions.get('h-unknown', 5_000)).toBeUndefined();

      // A token's third login drops its own oldest, never the admin key's older one.
      await other.adminSessions.create(login('h-tok-3', 'tk_1', 4_000), limit(4_000));
      expect(await store.adminSessions.get('h-tok-1', 5_000)).toBeUndefined();
      expect(await store.adminSessions.get('h-tok-2', 5_000)).toEqual(login('h-tok-2', 'tk_1', 3_000));
      expect(await store.adminSessions.get('h-admin', 5_000)).toEqual(login('h-admin', byKey, 1_000));

      // However many actors log in, beyond the total the oldest token logins go, never the admin key's.
      await store.adminSessions.create(login('h-tok-b1', 'tk_2', 4_100), limit(4_100));
      await store.adminSessions.create(login('h-tok-c1', 'tk_3', 4_200), limit(4_200));
      expect(await store.adminSessions.get('h-admin', 5_000)).toEqual(login('h-admin', byKey, 1_000));
      expect(await store.adminSessions.get('h-tok-2', 5_000)).toBeUndefined();
      expect(await store.adminSessions.get('h-tok-3', 5_000)).toBeDefined();
      expect(await store.adminSessions.get('h-tok-b1', 5_000)).toBeDefined();
      expect(await store.adminSessions.get('h-tok-c1', 5_000)).toBeDefined();

      await store.adminSessions.removeFor('tk_1');
      expect(await other.adminSessions.get('h-tok-2', 5_000)).toBeUndefined();
      expect(await other.adminSessions.get('h-tok-3', 5_000)).toBeUndefined();
      await other.adminSessions.remove('h-admin');
      expect(await store.adminSessions.get('h-admin', 5_000)).toBeUndefined();
    });

    it('versions templates, never overwriting, and deletes every version', async () => {
      const store = await connect();
      const other = await connect();
      const saved = await Promise.all([
        store.templates.save('greet', { v: 1 }, 'admin', 1_000),
        other.templates.save('greet', { v: 2 }, 'tk_1', 1_001),
      ]);
      expect(saved.map((t) => t.version).sort()).toEqual([1, 2]);
      await store.templates.save('other', { v: 1 }, 'admin', 1_002);
      expect((await store.templates.latest()).map((t) => [t.name, t.version])).toEqual([
        ['greet', 2],
        ['other', 1],
      ]);
      expect(await store.templates.remove('greet', 2_000)).toBe(true);
      expect(await store.templates.remove('greet', 2_001)).toBe(false);
      expect((await store.templates.latest()).map((t) => t.name)).toEqual(['other']);
      const versions = await store.templates.versions('greet');
      expect(versions.map((t) => [t.version, t.deletedAt])).toEqual([
        [1, 2_000],
        [2, 2_000],
      ]);
      expect((await store.templates.save('greet', { v: 3 }, 'admin', 3_000)).version).toBe(3);
    });

    it('lets exactly one of two instances starting at once see the other, live by the store clock', async () => {
      const [a, b] = [await connect(), await connect()];
      const instance = (id: string): InstanceRecord => ({
        id,
        host: 'h',
        pid: 1,
        limits: 'memory',
        startedAt: 10_000,
        seenAt: 10_000,
      });
      const seen = await Promise.all([
        a.instances.join(instance('i1'), 5_000),
        b.instances.join(instance('i2'), 5_000),
      ]);
      expect(seen.map((others) => others.length).sort()).toEqual([0, 1]);
      await b.instances.leave('i2');
      await a.instances.beat('i1', undefined);
      const [first, ...rest] = await b.instances.join(instance('i3'), 5_000);
      expect(rest).toEqual([]);
      // Stamped by the store's clock, not with the seenAt the caller's record carried.
      expect(first).toEqual({ ...instance('i1'), seenAt: first!.seenAt });
      expect(Math.abs(first!.seenAt - Date.now())).toBeLessThan(5_000);
      // Read without joining (the CLI asks who serves): every live row, this caller's included.
      expect((await a.instances.live(5_000)).map((other) => other.id).sort()).toEqual(['i1', 'i3']);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(await b.instances.join(instance('i4'), 20)).toEqual([]);
      expect((await a.instances.live(20)).map((other) => other.id)).toEqual(['i4']);
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

  it("counts, once migrated, the usage stored before of the sessions still stored in their creator's spend", async () => {
    const first = openSqliteStore(path);
    await first.tokens.insert(tokenRecord('tk_root', 1_000));
    await first.sessions.create(sessionRecord('s_kept', GRANT, { createdBy: 'tk_root' }), 'refresh');
    await first.usage.add([
      delta({ tokenId: 'ses_s_kept', costMicros: 10 }),
      delta({ tokenId: 'ses_s_pruned', costMicros: 100 }),
    ]);
    await first.close();
    // The schema as it was before usage named the token that signed a session in.
    const db = new Database(path);
    db.exec('DROP INDEX usage_by_session_creator; ALTER TABLE usage DROP COLUMN session_creator');
    db.pragma(`user_version = ${SQLITE_MIGRATIONS.length - 1}`);
    db.close();
    const second = openSqliteStore(path);
    try {
      // The pruned session's creator is known nowhere any more.
      expect(await second.usage.spent({ tokenId: 'tk_root' })).toBe(10);
    } finally {
      await second.close();
    }
  });

  it('makes a new database file with 8 KiB pages, and keeps the pages of one made before', async () => {
    await (await openSqliteStore(path)).close();
    const pageSize = (file: string) => {
      const db = new Database(file, { readonly: true });
      try {
        return db.pragma('page_size', { simple: true });
      } finally {
        db.close();
      }
    };
    expect(pageSize(path)).toBe(PAGE_SIZE);
    expect(PAGE_SIZE).toBe(8192);
    // A file from before the change: its page size is fixed, and it must go on working as it is.
    const older = join(dir, 'data', 'older.db');
    const db = new Database(older);
    db.pragma('page_size = 4096');
    db.pragma('journal_mode = WAL');
    db.close();
    const store = openSqliteStore(older);
    try {
      await store.providerKeys.insert(record('pk_1', 'openai', 1_000));
      expect(await store.providerKeys.list()).toEqual([record('pk_1', 'openai', 1_000)]);
    } finally {
      await store.close();
    }
    expect(pageSize(older)).toBe(4096);
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

  it('refuses a database missing tables its recorded version has, naming them and what to do', async () => {
    await (await openSqliteStore(path)).close();
    const db = new Database(path);
    db.exec('DROP TABLE usage; DROP TABLE conversation_items');
    db.close();
    // Served as it was, every usage flush and every stored conversation item failed.
    expect(() => openSqliteStore(path)).toThrow(
      /damaged: .*table\(s\) usage, conversation_items are missing; restore the store from a backup/,
    );
  });
});

describe.skipIf(!hasPostgres())('Postgres store', () => {
  const postgres = usePostgres();
  let url: string;
  beforeEach(async () => {
    url = await postgres.database();
  });
  const open = () => openPostgresStore({ url, poolSize: 4, ssl: false });

  storeContract('contract', open);
  const conversations: Store[] = [];
  afterAll(async () => {
    for (const store of conversations) await store.close();
  });
  conversationStoreContract('postgres', async () => {
    const store = await open();
    conversations.push(store);
    return store.conversations;
  });

  it('appends one new id from two instances at once under two ids: the append holds the conversation', async () => {
    const [one, two] = [await open(), await open()];
    conversations.push(one, two);
    await one.conversations.put({
      id: 'conv_race',
      kind: 'conversation',
      owner: 'user:a',
      createdAt: 1_000,
      sealed: 's',
    });
    const item = (id: string) => ({
      parentId: 'conv_race',
      id,
      owner: 'user:a',
      part: 'item' as const,
      createdAt: 1_000,
      bytes: 1,
      sealed: id,
    });
    const append = (store: Store, other: string) =>
      store.conversations.appendItems(
        { parentId: 'conv_race', owner: 'user:a', ids: ['msg_same'] },
        (taken) => [item(taken.has('msg_same') ? other : 'msg_same')],
      );
    for (let round = 0; round < 10; round++)
      await Promise.all([append(one, `msg_a${round}`), append(two, `msg_b${round}`)]);
    const ids = (await one.conversations.items('conv_race')).map((i) => i.id);
    expect(ids.filter((id) => id === 'msg_same')).toHaveLength(1);
    expect(new Set(ids).size).toBe(20);
  });

  it("judges other instances' liveness by the database's clock, not a host's", async () => {
    const [behind, ahead] = [await open(), await open()];
    const options = {
      limits: 'memory' as const,
      perInstance: false,
      masterKeyId: () => undefined,
      onError: () => undefined,
    };
    try {
      // An instance on a host whose clock runs a minute behind: stamped by that clock, its beats
      // would look four liveness windows old.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() - 60_000);
      const now = Date.now();
      const far = {
        id: 'far',
        host: 'elsewhere',
        pid: 1,
        limits: 'memory',
        startedAt: now,
        seenAt: now,
      } as const;
      await behind.instances.join(far, 15_000);
      vi.useRealTimers();
      await expect(announceInstance(ahead.instances, options)).rejects.toThrow(PerInstanceLimitsError);
    } finally {
      vi.useRealTimers();
      await Promise.all([behind.close(), ahead.close()]);
    }
  });

  it('tells a listener at once when another instance commits a change', async () => {
    const store = await open();
    const other = await open();
    try {
      await other.tokens.insert(tokenRecord('tk_1', 1_000));
      const heard = new Promise<void>((resolve) => store.onChange?.(() => resolve()));
      await other.tokens.revoke('tk_1', 2_000);
      await heard;
      expect(await store.tokens.revokedSince(2_000)).toEqual(['tk_1']);
    } finally {
      await Promise.all([store.close(), other.close()]);
    }
  });

  it('deletes with a conversation a response another instance was writing in it meanwhile', async () => {
    const store = await open();
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    try {
      const record = (id: string, kind: 'conversation' | 'response', conversationId?: string) => ({
        id,
        kind,
        owner: 'user:ann',
        createdAt: 1_000,
        sealed: `sealed-${id}`,
        ...(conversationId && { conversationId }),
      });
      await store.conversations.putAll([{ record: record('conv_x', 'conversation'), items: [] }]);
      // Another instance's write of a turn, as the store makes it: the conversation's row share-locked
      // until the response is committed.
      await writer.query('BEGIN');
      await writer.query("SELECT 1 FROM conversations WHERE id = 'conv_x' FOR KEY SHARE");
      await writer.query(
        `INSERT INTO conversations (id, kind, owner, created_at, sealed, conversation_id)
         VALUES ('resp_late', 'response', 'user:ann', 1000, 'sealed-late', 'conv_x')`,
      );
      let removed = false;
      const removal = store.conversations.remove('conv_x').then((gone) => {
        removed = true;
        return gone;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(removed).toBe(false);
      await writer.query('COMMIT');
      expect(await removal).toBe(true);
      expect(await store.conversations.get('resp_late')).toBeUndefined();
      // A write that comes after the deletion finds no conversation, and stores nothing.
      await store.conversations.putAll([{ record: record('resp_later', 'response', 'conv_x'), items: [] }]);
      expect(await store.conversations.get('resp_later')).toBeUndefined();
    } finally {
      await writer.end();
      await store.close();
    }
  });

  it('notifies what instances cache, and not the audit batches written with every request', async () => {
    const store = await open();
    const other = await open();
    try {
      const heard: string[] = [];
      store.onChange?.((table) => heard.push(table));
      await other.audit.appendChained([{ at: 1, type: 'request', actor: 'tk_1', data: {} }], () =>
        'f'.repeat(64),
      );
      await other.meta.set('audit_head', '{"seq":1}');
      await other.usage.add([delta()]);
      await other.tokens.insert(tokenRecord('tk_1', 1_000));
      // Notifications arrive in commit order: anything the audit or usage writes sent comes first.
      await expect.poll(() => heard).toContain('tokens');
      expect(heard).toEqual(['tokens']);
    } finally {
      await Promise.all([store.close(), other.close()]);
    }
  });

  it('listens again when its connection is cut, counting a change for what it may have missed', async () => {
    const errors: Error[] = [];
    const store = await openPostgresStore({ url, poolSize: 2, ssl: false, onError: (e) => errors.push(e) });
    const other = await open();
    try {
      const heard: string[] = [];
      store.onChange?.((table) => heard.push(table));
      // Both stores' LISTEN connections, as a server restart or a failover would cut them.
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const { rowCount: killed } = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database() AND pid <> pg_backend_pid()",
      );
      await admin.end();
      expect(killed).toBe(2);
      await expect.poll(() => heard, { timeout: 5000 }).toContain('');
      expect(errors.length).toBeGreaterThan(0);
      await other.tokens.insert(tokenRecord('tk_1', 1_000));
      await expect.poll(() => heard).toContain('tokens');
    } finally {
      await Promise.all([store.close(), other.close()]);
    }
  });

  it('answers a ping while the database is reachable, and fails it when it no longer is', async () => {
    const store = await open();
    const admin = new pg.Client({ connectionString: postgres.server.url });
    await admin.connect();
    const name = new URL(url).pathname.slice(1);
    try {
      await store.ping();
      // No new connection is allowed and the open ones are cut: as when the server is gone.
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      await expect(store.ping()).rejects.toThrow();
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await expect
        .poll(
          () =>
            store.ping().then(
              () => 'up',
              () => 'down',
            ),
          { timeout: 5000 },
        )
        .toBe('up');
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
      await store.close();
    }
  });

  it('refuses to start on a server it cannot reach, saying so', async () => {
    const dead = url.replace(`:${postgres.server.port}/`, ':1/');
    await expect(openPostgresStore({ url: dead, poolSize: 1, ssl: false })).rejects.toThrow(/ECONNREFUSED/);
  });
});
