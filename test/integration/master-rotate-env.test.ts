import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey, sealedBy } from '../../src/keys/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir, runCli } from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * `keyward master rotate` with the master key in the environment, as instances sharing a store are
 * set up: a running instance learns a new key only when it restarts, so the rotation must never
 * re-seal what it serves under a key it does not hold.
 */
const OLD = generateMasterKey().key.toString('base64');
const NEW = generateMasterKey().key.toString('base64');

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

/** A gateway whose only provider key is stored (sealed under the master key), on `dataDir`. */
async function start(dataDir: string, masterEnv: Record<string, string>) {
  const kw = await startTestGateway(
    {
      // Two instances share one store in a test below.
      rateLimits: { perInstance: true },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { store: true } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    },
    { KEYWARD_ADMIN_KEY: ADMIN_KEY, ...masterEnv },
    dataDir,
  );
  running.push(kw);
  return kw;
}

async function stop(kw: TestGateway): Promise<void> {
  running.splice(running.indexOf(kw), 1);
  await kw.close();
}

/** A client of a token minted for ada, and a first stored response; the provider key is stored too. */
async function seed(kw: TestGateway) {
  expect(
    (await adminCall(kw.adminUrl, 'POST', '/admin/keys', { provider: 'oa', value: PROVIDER_KEY })).status,
  ).toBe(201);
  const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'ada', userId: 'ada' });
  return minted.json.token as string;
}

const clientOf = (kw: TestGateway, token: string) =>
  new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });

/** One chat through `client`, which needs the stored provider key opened. */
const chats = async (client: OpenAI) =>
  (await client.chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }))
    .choices.length === 1;

/** A store whose records the old key sealed (a stored key and response), and ada's token. */
async function sealedUnderOld(dataDir: string) {
  const first = await start(dataDir, { KEYWARD_MASTER_KEY: OLD });
  const token = await seed(first);
  const before = await clientOf(first, token).responses.create({ model: 'fast', input: 'before' });
  await stop(first);
  return { token, before };
}

const rotate = (dataDir: string, env: Record<string, string>) =>
  runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir, ...env } });

describe('keyward master rotate with the master key in the environment', { timeout: 60_000 }, () => {
  it('refuses the one-step rotation while an instance serves from the store, which goes on serving', async () => {
    const dataDir = freshDataDir();
    const kw = await start(dataDir, { KEYWARD_MASTER_KEY: OLD });
    const token = await seed(kw);
    const client = clientOf(kw, token);
    const stored = await client.responses.create({ model: 'fast', input: 'hi' });

    const refused = await rotate(dataDir, { KEYWARD_MASTER_KEY: OLD, KEYWARD_NEW_MASTER_KEY: NEW });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('serve from this store');
    expect(refused.stderr).toContain('KEYWARD_PREVIOUS_MASTER_KEY');
    expect(refused.stderr).not.toContain(NEW);
    // Nothing was re-sealed: the instance still opens its stored key and its stored response.
    expect(await chats(client)).toBe(true);
    expect((await client.responses.retrieve(stored.id)).id).toBe(stored.id);

    // With every instance stopped, the same command rotates.
    await stop(kw);
    const rotated = await rotate(dataDir, { KEYWARD_MASTER_KEY: OLD, KEYWARD_NEW_MASTER_KEY: NEW });
    expect(rotated.code, rotated.stderr).toBe(0);
    const after = await start(dataDir, { KEYWARD_MASTER_KEY: NEW });
    expect((await clientOf(after, token).responses.retrieve(stored.id)).id).toBe(stored.id);
  });

  it('rotates online: instances restarted with the new key and the previous one serve throughout, then every record moves', async () => {
    const dataDir = freshDataDir();
    const { token, before } = await sealedUnderOld(dataDir);

    // Restarted with the new key to seal with and the old one to open with.
    const both = { KEYWARD_MASTER_KEY: NEW, KEYWARD_PREVIOUS_MASTER_KEY: OLD };
    const kw = await start(dataDir, both);
    const client = clientOf(kw, token);
    expect(await chats(client)).toBe(true);
    expect((await client.responses.retrieve(before.id)).id).toBe(before.id);
    const during = await client.responses.create({ model: 'fast', input: 'during' });

    const finished = await rotate(dataDir, both);
    expect(finished.code, finished.stderr).toBe(0);
    const report = JSON.parse(finished.stdout) as { keyId: string; previousKeyId: string; rewrapped: number };
    expect(report.rewrapped).toBe(1);
    // The instance serves on while and after the records move.
    expect((await client.responses.retrieve(before.id)).id).toBe(before.id);
    expect((await client.responses.retrieve(during.id)).id).toBe(during.id);
    await stop(kw);

    const store = openSqliteStore(`${dataDir}/keyward.db`);
    const sealed = (await store.conversations.list()).map((record) => record.sealed);
    const keys = await store.providerKeys.list();
    await store.close();
    expect(sealed).toHaveLength(2);
    expect(sealed.filter((text) => sealedBy(text) !== report.keyId)).toEqual([]);
    expect(keys.map((key) => sealedBy(key.ciphertext))).toEqual([report.keyId]);

    // The previous key is no longer needed.
    const after = await start(dataDir, { KEYWARD_MASTER_KEY: NEW });
    const again = clientOf(after, token);
    expect((await again.responses.retrieve(before.id)).id).toBe(before.id);
    expect(await chats(again)).toBe(true);
  });

  it('does not finish while an instance, idle or not, still seals with the previous key', async () => {
    const dataDir = freshDataDir();
    const { before } = await sealedUnderOld(dataDir);
    const both = { KEYWARD_MASTER_KEY: NEW, KEYWARD_PREVIOUS_MASTER_KEY: OLD };
    await start(dataDir, both);
    // An instance the operator forgot to restart: it writes nothing while the records move.
    const forgotten = await start(dataDir, { KEYWARD_MASTER_KEY: OLD });

    const refused = await rotate(dataDir, both);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('seal with the previous key (pid');
    expect(refused.stderr).toContain('nothing was moved');
    expect(refused.stderr).not.toContain(OLD);
    const sealedBefore = async () => {
      const store = openSqliteStore(`${dataDir}/keyward.db`);
      const record = (await store.conversations.list()).find((r) => r.id === before.id)!;
      await store.close();
      return sealedBy(record.sealed);
    };
    const oldId = await sealedBefore();

    await stop(forgotten);
    const finished = await rotate(dataDir, both);
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stdout).not.toContain(OLD);
    expect(await sealedBefore()).not.toBe(oldId);
    expect(JSON.parse(finished.stdout)).toMatchObject({ previousKeyId: oldId });
  });

  it('refuses a new key while a rotation is under way, and a previous key beside a key file', async () => {
    const dataDir = freshDataDir();
    const kw = await start(dataDir, { KEYWARD_MASTER_KEY: OLD });
    await stop(kw);
    const both = await rotate(dataDir, {
      KEYWARD_MASTER_KEY: NEW,
      KEYWARD_PREVIOUS_MASTER_KEY: OLD,
      KEYWARD_NEW_MASTER_KEY: generateMasterKey().key.toString('base64'),
    });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('a rotation is under way');

    const fileDir = freshDataDir();
    await stop(await start(fileDir, {}));
    const beside = await rotate(fileDir, { KEYWARD_PREVIOUS_MASTER_KEY: OLD });
    expect(beside.code).not.toBe(0);
    expect(beside.stderr).toContain('master.key.previous');
  });
});
