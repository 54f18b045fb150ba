import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { lockStore } from '../support/store-lock.js';
import { fillDisk, tinyDisk, unmount } from '../support/tiny-disk.js';

const ADMIN_KEY = 'kwa-test-admin-key-0123456789abcdef';

/** A 2 MB tmpfs; root may mount one, others skip. */
const disk = tinyDisk(2);

afterAll(() => unmount(disk));

const config = () =>
  writeTempConfig({
    server: { port: 0 },
    admin: { port: 0 },
    providers: [{ id: 'oa', type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', keys: { env: 'P_KEY' } }],
    models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
  });
const env = (dataDir: string) => ({
  P_KEY: 'sk-start-fault-0123456789',
  KEYWARD_ADMIN_KEY: ADMIN_KEY,
  KEYWARD_DATA_DIR: dataDir,
});

/** A data directory whose store a gateway has created and left. */
async function usedDataDir(parent?: string): Promise<{ file: string; dataDir: string }> {
  const dataDir = parent ? join(parent, 'data') : mkdtempSync(join(tmpdir(), 'keyward-data-'));
  if (parent) mkdirSync(dataDir);
  const file = config();
  const gw = await startGatewayProcess(file, env(dataDir));
  gw.child.kill('SIGTERM');
  expect(await gw.exited).toBe(0);
  return { file, dataDir };
}

/** The failure is the store's, named, in one line: no stack and no "unexpected error". */
function expectStoreFailure(run: { code: number | null; stderr: string }, cause: string): void {
  expect(run.code, run.stderr).toBe(1);
  expect(run.stderr).toContain('cannot use the store (sqlite ');
  expect(run.stderr).toContain(cause);
  expect(run.stderr).not.toContain('unexpected error');
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

describe('keyward start on a store that refuses its first writes', () => {
  it('exits 1 naming the store and the write lock another process holds', async () => {
    const { file, dataDir } = await usedDataDir();
    const locker = await lockStore(join(dataDir, 'keyward.db'));
    try {
      for (const workers of [[], ['--workers', '2']]) {
        const run = await runCli(['start', '--config', file, ...workers], { env: env(dataDir) });
        expectStoreFailure(run, 'another process holds its write lock');
      }
    } finally {
      await locker.release();
    }
  }, 60_000);

  it.skipIf(!disk)(
    'exits 1 naming the store and the full disk (needs root to mount a tmpfs)',
    async () => {
      const { file, dataDir } = await usedDataDir(disk);
      // Room for the store to open (its WAL and shared memory), not for its first write.
      const filler = fillDisk(disk!, 32 * 1024);
      try {
        for (const workers of [[], ['--workers', '2']]) {
          const run = await runCli(['start', '--config', file, ...workers], { env: env(dataDir) });
          expectStoreFailure(run, 'the disk is full');
        }
      } finally {
        rmSync(filler);
      }
    },
    60_000,
  );
});
