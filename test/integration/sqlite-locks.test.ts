import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { type RunningGateway, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * The gateway's SQLite file, shared with another process while it serves (the CLI, the sqlite3
 * shell, a backup). The writer thread used to open and close the file with `fs` before opening its
 * connection, which dropped the process's POSIX locks on it: the next other process to close the
 * database took itself for its last user and deleted the WAL under the gateway. From then on the
 * gateway wrote (keys added, usage, audit) to a deleted file, and the CLI's changes (a key disabled)
 * never reached it.
 */
const KEYS = ['sk-locks-first-0123456789abcdef01', 'sk-locks-second-0123456789abcdef0'];

/**
 * Runs SQL with the sqlite3 shell, on a connection of its own, which it closes (and, taking itself
 * for the database's last user when it can lock the file, checkpoints and deletes the WAL).
 */
function otherProcess(database: string, sql: string): unknown {
  return JSON.parse(execFileSync('sqlite3', ['-json', database, sql], { encoding: 'utf8' }) || '[]');
}

describe('the SQLite file shared with other processes', () => {
  let fake: FakeProvider;
  let kw: RunningGateway;
  const dataDir = mkdtempSync(join(tmpdir(), 'keyward-locks-'));
  const database = join(dataDir, 'keyward.db');

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: KEYS });
    // `keyward start`, whose writer thread opens its own connection at the first write.
    const config = writeTempConfig({
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      server: { port: 0 },
      admin: { port: 0 },
      providers: [
        { id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } },
        { id: 'stored', type: 'openai', baseUrl: fake.baseUrl, keys: { store: true } },
      ],
    });
    kw = await startGatewayProcess(config, {
      KEYWARD_DATA_DIR: dataDir,
      KEYWARD_API_KEY: CLIENT_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      PROVIDER_KEY: KEYS[0],
    });
  });
  afterAll(async () => {
    kw?.child.kill('SIGTERM');
    await kw?.exited;
    await fake?.close();
  });

  it('keeps its WAL when another process closes the database, and both see the same keys', async () => {
    const openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'oa/gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
    // The request's audit record is written by the writer thread, read here by another process
    // (nothing read through the gateway, which would take its lock again): once it is there, the
    // thread has opened its connection.
    await expect
      .poll(() => otherProcess(database, "SELECT count(*) AS n FROM audit WHERE type = 'request'"), {
        timeout: 5_000,
      })
      .toEqual([{ n: 1 }]);
    expect(existsSync(`${database}-wal`)).toBe(true);

    expect(
      (await adminCall(kw.adminUrl, 'POST', '/admin/keys', { provider: 'stored', value: KEYS[1] })).status,
    ).toBe(201);
    expect(otherProcess(database, 'SELECT count(*) AS n FROM provider_keys')).toEqual([{ n: 1 }]);
  });
});
