import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openPostgresStore, type Store } from '../../src/store/index.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

describe.skipIf(!hasPostgres())('Postgres conversation purge (needs postgres)', () => {
  const postgres = usePostgres();

  it('commits a batch at a time: a response being written in an expired conversation holds back only its batch', async () => {
    const url = await postgres.database();
    const store: Store = await openPostgresStore({ url, poolSize: 4, ssl: false });
    const holder = new pg.Client({ connectionString: url });
    const reader = new pg.Client({ connectionString: url });
    await Promise.all([holder.connect(), reader.connect()]);
    try {
      const record = (id: string, createdAt: number) => ({
        record: { id, kind: 'conversation' as const, owner: 'user:a', createdAt, sealed: 'sealed' },
        items: [],
      });
      // The newest expired conversation comes last: the third batch.
      await store.conversations.putAll([
        ...Array.from({ length: 1_200 }, (_, i) => record(`conv_${i}`, 10)),
        record('conv_held', 99),
      ]);
      // As a response being stored in it holds it (see PUT in pg-conversations.ts).
      await holder.query('BEGIN');
      await holder.query("SELECT 1 FROM conversations WHERE id = 'conv_held' FOR KEY SHARE");
      const purged = store.conversations.purge({ before: 100 });
      const left = async () =>
        Number((await reader.query<{ n: string }>('SELECT count(*) AS n FROM conversations')).rows[0]!.n);
      // One DELETE of everything would wait for the lock with every row still in place.
      let count = await left();
      for (let tries = 0; count > 201 && tries < 250; tries++) {
        await sleep(20);
        count = await left();
      }
      expect(count).toBe(201);
      await holder.query('ROLLBACK');
      expect(await purged).toBe(1_201);
      expect(await left()).toBe(0);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await Promise.all([holder.end(), reader.end()]);
      await store.close();
    }
  });
});
