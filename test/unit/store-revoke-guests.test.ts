import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openPostgresStore, openSqliteStore, type Store } from '../../src/store/index.js';
import { hasPostgres } from '../support/postgres.js';
import { sessionGrant, sessionRecord } from '../support/records.js';
import { usePostgres } from '../support/use-postgres.js';

const grant = sessionGrant();

/** `SessionStore.revokeGuests` on a store `open` connects to, empty at first. */
function revokesGuests(open: () => Promise<Store>): void {
  it('revokes every live guest session once, and no other', async () => {
    const store = await open();
    try {
      await store.sessions.create(sessionRecord('g1', grant, { guest: true, userId: null }), 'r1');
      await store.sessions.create(sessionRecord('g2', grant, { guest: true, userId: null }), 'r2');
      await store.sessions.create(sessionRecord('u1', grant, { userId: 'alice' }), 'r3');
      await store.sessions.revoke('g2', 2_000, 'logout');
      expect(await store.sessions.revokeGuests(5_000, 'admin')).toBe(1);
      expect(await store.sessions.get('g1')).toMatchObject({ revokedAt: 5_000, revokedReason: 'admin' });
      // Already revoked: its time stays, or revokedSince would announce it again.
      expect(await store.sessions.get('g2')).toMatchObject({ revokedAt: 2_000, revokedReason: 'logout' });
      expect((await store.sessions.get('u1'))?.revokedAt).toBeNull();
      expect(await store.sessions.revokedSince(4_000)).toEqual(['g1']);
      expect(await store.sessions.revokeGuests(6_000, 'admin')).toBe(0);
    } finally {
      await store.close();
    }
  });
}

describe('SQLite store', () => {
  revokesGuests(async () => openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-guests-')), 'k.db')));
});

describe.skipIf(!hasPostgres())('Postgres store', () => {
  const postgres = usePostgres();
  revokesGuests(async () => openPostgresStore({ url: await postgres.database(), poolSize: 2, ssl: false }));
});
