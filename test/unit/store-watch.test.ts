import { describe, expect, it } from 'vitest';
import type { MasterKeys } from '../../src/gateway/secrets.js';
import { watchStore } from '../../src/gateway/store-watch.js';
import type { Logger } from '../../src/observability/index.js';
import { openPostgresStore } from '../../src/store/index.js';
import { hasPostgres } from '../support/postgres.js';
import { tokenRecord } from '../support/records.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * Clients cause notifications (a browser session's refresh, a logout): however many arrive while
 * an instance is re-reading, it re-reads once more afterwards, never once per notification, so a
 * burst of them cannot keep every instance busy re-reading.
 */
describe.skipIf(!hasPostgres())('the store watch under a burst of notifications', () => {
  const postgres = usePostgres();

  it('coalesces 50 notifications that arrive during one re-read into one more', async () => {
    const url = await postgres.database();
    const watched = await openPostgresStore({ url, poolSize: 2, ssl: false });
    const other = await openPostgresStore({ url, poolSize: 2, ssl: false });
    let syncs = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const watch = await watchStore({
      store: watched,
      syncs: [
        async () => {
          syncs += 1;
          await gate;
        },
      ],
      masters: { reread() {} } as unknown as MasterKeys,
      providers: new Map(),
      logger: { error() {} } as unknown as Logger,
    });
    try {
      const before = await watched.changeMarker();
      await other.tokens.insert(tokenRecord('tk_first', 1_000));
      await expect.poll(() => syncs).toBe(1);
      for (let i = 0; i < 50; i++) await other.tokens.insert(tokenRecord(`tk_${i}`, 1_000));
      await expect.poll(() => watched.changeMarker()).toBe(before + 51);
      release();
      await expect.poll(() => syncs).toBe(2);
      // Nothing new since: the poll finds the marker unchanged and re-reads nothing more.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(syncs).toBe(2);
    } finally {
      watch.stop();
      await Promise.all([watched.close(), other.close()]);
    }
  });
});
