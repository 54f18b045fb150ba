import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { type RunningGateway, runCli, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { fillDisk, tinyDisk, unmount } from '../support/tiny-disk.js';

const PROVIDER_KEY = 'sk-disk-full-provider-key-0123456789';
const ADMIN_KEY = 'kwa-test-admin-key-0123456789abcdef';

/** A 4 MB tmpfs for the data directory; root may mount one, others skip. */
const disk = tinyDisk(4);

afterAll(() => unmount(disk));

describe.skipIf(!disk)('full disk (needs root to mount a 4 MB tmpfs)', () => {
  it('refuses store writes with a clear error, keeps serving, and leaves a sound store once space is back', async () => {
    const fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const dataDir = join(disk!, 'data');
    mkdirSync(dataDir);
    const config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      audit: { batchSize: 10, intervalMs: 50, requests: true },
    });
    const env = { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_DATA_DIR: dataDir };
    let gw: RunningGateway | undefined;
    try {
      gw = await startGatewayProcess(config, env);
      const admin = (body: unknown) =>
        request(`${gw!.adminUrl}/admin/tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const minted = await admin({ name: 'before' });
      expect(minted.statusCode).toBe(201);
      const { token } = (await minted.body.json()) as { token: string };
      const chat = async () => {
        const res = await request(`${gw!.dataUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
        });
        await res.body.dump();
        return res.statusCode;
      };

      const filler = fillDisk(disk!);
      const refused = await admin({ name: 'while-full' });
      const text = await refused.body.text();
      expect(refused.statusCode).toBe(507);
      expect(JSON.parse(text).error.code).toBe('store_full');
      const served = [];
      for (let i = 0; i < 20; i++) served.push(await chat());
      expect(served.every((s) => s === 200)).toBe(true);

      rmSync(filler);
      expect((await admin({ name: 'after' })).statusCode).toBe(201);
      gw.child.kill('SIGTERM');
      expect(await gw.exited).toBe(0);
    } finally {
      if (gw && gw.child.exitCode === null) gw.child.kill('SIGKILL');
      await fake.close();
    }
    const db = new Database(join(dataDir, 'keyward.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const names = db.prepare('SELECT name FROM tokens ORDER BY created_at').all() as Array<{
        name: string;
      }>;
      expect(names.map((n) => n.name)).toEqual(['before', 'after']);
    } finally {
      db.close();
    }
    const verify = await runCli(['audit', 'verify', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
  }, 60_000);
});
