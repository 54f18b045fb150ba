import { chmodSync, copyFileSync, rmSync } from 'node:fs';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { sealedBy } from '../../src/keys/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir, runCli, writeTempConfig } from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * `keyward master rotate` with a key file, beside two running instances that share it (one data
 * directory) and one store: the common case of a provider key from the environment, where nothing
 * the rotation re-seals is a table the instances follow. No request may fail during or after the
 * rotation, and once it says it is done no instance may seal under the key it retired.
 */
const postgres = usePostgres();
let fake: FakeProvider;
const running: TestGateway[] = [];
beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
});
afterEach(async () => {
  for (const kw of running.splice(0)) await kw.close();
});
afterAll(async () => {
  await fake?.close();
});

interface Backend {
  storage: ConfigInput['storage'];
  /** The `sealed` text of every stored response and conversation, by id. */
  sealed(dataDir: string): Promise<Map<string, string>>;
}

const sqlite = async (): Promise<Backend> => ({
  storage: undefined,
  async sealed(dataDir) {
    const store = openSqliteStore(`${dataDir}/keyward.db`);
    try {
      return new Map((await store.conversations.list()).map((record) => [record.id, record.sealed]));
    } finally {
      await store.close();
    }
  },
});

const postgresBackend = async (): Promise<Backend> => {
  const url = await postgres.database();
  return {
    storage: { postgres: { url, poolSize: 4 } },
    async sealed() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string; sealed: string }>(
          'SELECT id, sealed FROM conversations',
        );
        return new Map(rows.map((row) => [row.id, row.sealed]));
      } finally {
        await client.end();
      }
    },
  };
};

const backends = [
  { name: 'SQLite', make: sqlite, skip: false },
  { name: 'Postgres', make: postgresBackend, skip: !hasPostgres() },
];

describe.each(backends)('keyward master rotate beside running instances on $name', ({ make, skip }) => {
  it.skipIf(skip)(
    'serves every stored response throughout, seals with the new key once it says so, and needs no .previous after',
    { timeout: 90_000 },
    async () => {
      const backend = await make();
      const dataDir = freshDataDir();
      const config: ConfigInput = {
        ...(backend.storage ? { storage: backend.storage } : {}),
        // Two instances share the store, each with limits of its own.
        rateLimits: { perInstance: true },
        providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      };
      const env = { KEYWARD_ADMIN_KEY: ADMIN_KEY, P_KEY: PROVIDER_KEY };
      const start = async () => {
        const kw = await startTestGateway(config, env, dataDir);
        running.push(kw);
        return kw;
      };
      const [a, b] = [await start(), await start()];
      const minted = await adminCall(a.adminUrl, 'POST', '/admin/tokens', { name: 'ada', userId: 'ada' });
      const clients = [a, b].map(
        (kw) =>
          new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: minted.json.token as string, maxRetries: 0 }),
      );
      const stored: string[] = [];
      for (const client of clients)
        stored.push((await client.responses.create({ model: 'fast', input: 'hi' })).id);

      // Each instance stores responses and reads back ones either stored, throughout.
      const failures: string[] = [];
      let busy = true;
      const load = Promise.all(
        clients.flatMap((client, i) => [
          (async () => {
            while (busy) {
              try {
                stored.push((await client.responses.create({ model: 'fast', input: 'hi' })).id);
              } catch (error) {
                failures.push(`store on ${i}: ${(error as Error).message}`);
              }
            }
          })(),
          (async () => {
            for (let n = 0; busy; n++) {
              const id = stored[n % stored.length]!;
              try {
                await client.responses.retrieve(id);
              } catch (error) {
                failures.push(`read ${id} on ${i}: ${(error as Error).message}`);
              }
            }
          })(),
        ]),
      );
      try {
        await expect.poll(() => stored.length, { timeout: 10_000 }).toBeGreaterThan(20);
        const rotated = await runCli(['master', 'rotate', '--json', '--config', writeTempConfig(config)], {
          env: { KEYWARD_DATA_DIR: dataDir, ...env },
        });
        expect(rotated.code, rotated.stderr).toBe(0);
        const { keyId, previousKeyId } = JSON.parse(rotated.stdout) as {
          keyId: string;
          previousKeyId: string;
        };

        // Done means every instance seals with the new key already.
        const after = await Promise.all(
          clients.map(
            async (client) => (await client.responses.create({ model: 'fast', input: 'after' })).id,
          ),
        );
        // A stored response is written behind its answer: read from the store once it lands.
        await expect
          .poll(async () => {
            const sealedNow = await backend.sealed(dataDir);
            return after.map((id) => {
              const text = sealedNow.get(id);
              return text === undefined ? undefined : sealedBy(text);
            });
          })
          .toEqual([keyId, keyId]);
        const during = stored.length;
        await expect.poll(() => stored.length, { timeout: 10_000 }).toBeGreaterThan(during + 10);
        busy = false;
        await load;
        expect(failures).toEqual([]);
        stored.push(...after);

        // Nothing is left under the old key: removing it, as the rotation advises, loses nothing.
        const sealed = await backend.sealed(dataDir);
        expect([...sealed.values()].filter((text) => sealedBy(text) === previousKeyId)).toEqual([]);
        rmSync(`${dataDir}/master.key.previous`);
        for (const kw of running.splice(0)) await kw.close();
        const restarted = await start();
        const client = new OpenAI({
          baseURL: `${restarted.dataUrl}/v1`,
          apiKey: minted.json.token as string,
          maxRetries: 0,
        });
        for (const id of stored) expect((await client.responses.retrieve(id)).id).toBe(id);
      } finally {
        busy = false;
        await load;
      }
    },
  );
});

describe('keyward master rotate beside an instance that reads another key file', () => {
  it('stops before moving anything, naming the instance, which serves on', { timeout: 60_000 }, async () => {
    const dataDir = freshDataDir();
    const config: ConfigInput = {
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    };
    const env = { KEYWARD_ADMIN_KEY: ADMIN_KEY, P_KEY: PROVIDER_KEY };
    // The same key, from a copy of the file that no rotation rewrites (a secret mounted apart).
    await (await startTestGateway(config, env, dataDir)).close();
    const copy = `${freshDataDir()}/master.key`;
    copyFileSync(`${dataDir}/master.key`, copy);
    chmodSync(copy, 0o600);
    const kw = await startTestGateway({ ...config, masterKey: { file: copy } }, env, dataDir);
    running.push(kw);
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'ada', userId: 'ada' });
    const client = new OpenAI({
      baseURL: `${kw.dataUrl}/v1`,
      apiKey: minted.json.token as string,
      maxRetries: 0,
    });
    const kept = await client.responses.create({ model: 'fast', input: 'hi' });
    const sealedBefore = (await (await sqlite()).sealed(dataDir)).get(kept.id)!;

    const rotated = await runCli(['master', 'rotate', '--config', writeTempConfig(config)], {
      env: { KEYWARD_DATA_DIR: dataDir, ...env },
    });
    expect(rotated.code).toBe(1);
    expect(rotated.stderr).toContain(
      'rotation incomplete: instances serving from this store did not take up',
    );
    expect(rotated.stderr).toContain(`pid ${process.pid} on`);
    expect(rotated.stderr).toContain(`sealing with ${sealedBy(sealedBefore)}`);
    // Nothing was moved: the record is as it was.
    expect((await (await sqlite()).sealed(dataDir)).get(kept.id)).toBe(sealedBefore);
    expect((await client.responses.retrieve(kept.id)).id).toBe(kept.id);
  });
});
