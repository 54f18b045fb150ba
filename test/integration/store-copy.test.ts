import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir, runCli, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

describe.skipIf(!hasPostgres())(
  'keyward migrate and keyward store copy (needs the Debian package postgresql)',
  () => {
    const postgres = usePostgres();
    let fake: FakeProvider;
    beforeAll(async () => {
      fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    });
    afterAll(async () => {
      await fake?.close();
    });

    const configWith = (storage: Record<string, unknown>) =>
      writeTempConfig({
        server: { port: 0 },
        admin: { port: 0 },
        storage,
        providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { store: true } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      });
    const chat = async (dataUrl: string, token: string) => {
      const res = await request(`${dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.body.dump();
      return res.statusCode;
    };

    it('migrates an empty Postgres database once, then finds nothing to do', async () => {
      const config = configWith({ postgres: { url: await postgres.database() } });
      const first = await runCli(['migrate', '--config', config, '--json']);
      expect(first.code).toBe(0);
      const report = JSON.parse(first.stdout) as { store: string; from: number; to: number };
      expect(report).toMatchObject({
        from: 0,
        store: expect.stringMatching(/^postgres 127\.0\.0\.1:\d+\/test_/),
      });
      expect(report.to).toBeGreaterThan(0);
      const again = await runCli(['migrate', '--config', config]);
      expect(again.stdout).toContain(`is at schema version ${report.to}: nothing to do`);
    });

    it('lets one of two copies run at once into the same database fill it; the other says it holds a store', async () => {
      const dataDir = freshDataDir();
      const env = { KEYWARD_DATA_DIR: dataDir };
      const config = configWith({});
      expect((await runCli(['init', '--config', config], { env })).code).toBe(0);
      // Enough rows that the copies overlap: each found the target empty before the other wrote it.
      const db = new Database(join(dataDir, 'keyward.db'));
      const insert = db.prepare(
        `INSERT INTO usage (day, token_id, user_id, model, provider, requests, input_tokens,
           output_tokens, cached_tokens, cost_micros) VALUES (?, '', '', 'm', 'oa', 1, 1, 1, 0, 1)`,
      );
      db.transaction(() => {
        for (let day = 0; day < 30_000; day++) insert.run(`d${day}`);
      })();
      db.close();
      const url = await postgres.database();
      const runs = await Promise.all(
        [1, 2].map(() => runCli(['store', 'copy', '--to', url, '--config', config], { env })),
      );
      const [won, lost] = runs.sort((a, b) => (a.code ?? 9) - (b.code ?? 9));
      expect(won?.code, won?.stderr).toBe(0);
      expect(lost?.code).toBe(1);
      expect(lost?.stderr).toContain('the target already holds a store (table meta is not empty)');
    });

    it('moves a SQLite store to Postgres: the same token, the same sealed key, the usage, one verified chain', async () => {
      const dataDir = freshDataDir();
      const env = { KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_DATA_DIR: dataDir };
      const sqlite = await startGatewayProcess(configWith({}), env);
      const added = await adminCall(sqlite.adminUrl, 'POST', '/admin/keys', {
        provider: 'oa',
        value: PROVIDER_KEY,
      });
      expect(added.status).toBe(201);
      const minted = await adminCall(sqlite.adminUrl, 'POST', '/admin/tokens', {
        name: 'moved',
        userId: 'alice',
      });
      const token = minted.json.token as string;
      expect(await chat(sqlite.dataUrl, token)).toBe(200);
      sqlite.child.kill('SIGTERM');
      expect(await sqlite.exited).toBe(0);

      const url = await postgres.database();
      const withPassword = url.replace('postgres@', 'postgres:hunter2@');
      const refused = await runCli(['store', 'copy', '--to', withPassword, '--config', configWith({})], {
        env,
      });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain('put the password in PGPASSWORD');
      expect(refused.stderr).not.toContain('hunter2');

      const copied = await runCli(['store', 'copy', '--to', url, '--config', configWith({}), '--json'], {
        env,
      });
      expect(copied.stderr).toBe('');
      expect(copied.code).toBe(0);
      const result = JSON.parse(copied.stdout) as { rows: Record<string, number>; audit: { ok: boolean } };
      expect(result.audit.ok).toBe(true);
      expect(result.rows).toMatchObject({ provider_keys: 1, tokens: 1, usage: 1 });
      expect(result.rows.audit).toBeGreaterThan(2);

      const twice = await runCli(['store', 'copy', '--to', url, '--config', configWith({})], { env });
      expect(twice.code).toBe(1);
      expect(twice.stderr).toContain('the target already holds a store (table meta is not empty)');

      // Another data directory: all that crosses over is the master key, as on a new machine.
      const onPostgres = await startGatewayProcess(configWith({ postgres: { url } }), {
        KEYWARD_ADMIN_KEY: ADMIN_KEY,
        KEYWARD_DATA_DIR: freshDataDir(),
        KEYWARD_MASTER_KEY: readFileSync(join(dataDir, 'master.key'), 'utf8').trim(),
      });
      try {
        const before = fake.requests.length;
        expect(await chat(onPostgres.dataUrl, token)).toBe(200);
        expect(fake.requests[before]?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
        await expect
          .poll(async () => (await adminCall(onPostgres.adminUrl, 'GET', '/admin/usage?by=user')).json.rows)
          .toEqual([expect.objectContaining({ group: 'alice', requests: 2 })]);
        const verdict = await adminCall(onPostgres.adminUrl, 'POST', '/admin/audit/verify');
        expect(verdict.json).toMatchObject({ ok: true });
      } finally {
        onPostgres.child.kill('SIGTERM');
        await onPostgres.exited;
      }
    });
  },
);
