import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openPostgresStore, openSqliteStore, type Store } from '../../src/store/index.js';
import { hasPostgres } from '../support/postgres.js';
import { sessionGrant, sessionRecord } from '../support/records.js';
import { usePostgres } from '../support/use-postgres.js';

/** Quotes and a backslash are escaped in the stored JSON: the match must be on the id, not its spelling there. */
const ODD_USER = 'o"d\\d é';

/** `SessionStore.revokeUser` on a store `open` connects to, empty at first. */
function revokesUser(open: () => Promise<Store>): void {
  it("revokes the user's live sessions and drops the login codes handed out for them, exactly that user's", async () => {
    const store = await open();
    try {
      const code = (hash: string, userId: string) =>
        store.sessions.insertCode({
          hash,
          grant: sessionGrant({ userId }),
          createdBy: null,
          expiresAt: 60_000,
        });
      await code('alice-1', 'alice');
      await code('alice-2', 'alice');
      // Near misses: another case, a longer id, a prefix.
      await code('Alice', 'Alice');
      await code('alice2', 'alice2');
      await code('ali', 'ali');
      await code('odd', ODD_USER);
      await store.sessions.create(sessionRecord('s-alice', sessionGrant()), 'r1');
      await store.sessions.create(
        sessionRecord('s-bob', sessionGrant({ userId: 'bob' }), { userId: 'bob' }),
        'r2',
      );

      expect(await store.sessions.revokeUser('alice', 5_000, 'admin')).toEqual(['s-alice']);
      expect(await store.sessions.takeCode('alice-1', 1_000)).toBeUndefined();
      expect(await store.sessions.takeCode('alice-2', 1_000)).toBeUndefined();
      for (const kept of ['Alice', 'alice2', 'ali', 'odd'])
        expect((await store.sessions.takeCode(kept, 1_000))?.hash).toBe(kept);
      expect((await store.sessions.get('s-bob'))?.revokedAt).toBeNull();

      // A user with no session at all: the codes still go.
      await code('odd-again', ODD_USER);
      expect(await store.sessions.revokeUser(ODD_USER, 6_000, 'admin')).toEqual([]);
      expect(await store.sessions.takeCode('odd-again', 1_000)).toBeUndefined();
    } finally {
      await store.close();
    }
  });
}

describe('SQLite store', () => {
  revokesUser(async () => openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-revoke-user-')), 'k.db')));
});

describe.skipIf(!hasPostgres())('Postgres store', () => {
  const postgres = usePostgres();
  revokesUser(async () => openPostgresStore({ url: await postgres.database(), poolSize: 2, ssl: false }));
});
