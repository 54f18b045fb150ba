import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type AuditRecord, type AuditStore, GENESIS_MAC, openPostgresStore } from '../../src/store/index.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

const seal = (record: Omit<AuditRecord, 'mac'>): string =>
  createHmac('sha256', 'audit-key').update(JSON.stringify(record)).digest('hex');

describe.skipIf(!hasPostgres())('Postgres audit chain', () => {
  const postgres = usePostgres();

  it('keeps one verifiable chain while two separate pools (two processes) append at once', async () => {
    const url = await postgres.database();
    // Two stores, each with its own pool and connections: two processes, as far as Postgres can tell.
    const stores = [
      await openPostgresStore({ url, poolSize: 4, ssl: false }),
      await openPostgresStore({ url, poolSize: 4, ssl: false }),
    ];
    try {
      const writers = stores.map((store) => store.audit);
      await Promise.all(
        writers.flatMap((audit, writer) =>
          Array.from({ length: 20 }, (_, i) =>
            audit.appendChained(
              [
                { at: 1000 + i, type: 'token.created', actor: `writer-${writer}`, data: { i } },
                { at: 1000 + i, type: 'token.revoked', actor: `writer-${writer}`, data: { i } },
              ],
              seal,
            ),
          ),
        ),
      );
      const records = await (writers[1] as AuditStore).list({ limit: 500 });
      expect(records.map((record) => record.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
      let prevMac = GENESIS_MAC;
      for (const { mac, ...unsealed } of records) {
        expect(unsealed.prevMac).toBe(prevMac);
        expect(mac).toBe(seal(unsealed));
        prevMac = mac;
      }
      const audit = writers[0] as AuditStore;
      expect((await audit.last())?.seq).toBe(80);
      const revokedByOne = await audit.list({ type: 'token.revoked', actor: 'writer-1', afterSeq: 0 });
      expect(revokedByOne).toHaveLength(20);
      expect(revokedByOne[0]?.data).toEqual({ i: expect.any(Number) });
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});
