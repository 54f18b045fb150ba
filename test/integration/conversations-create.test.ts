import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/** `POST /v1/conversations` with initial items: a create that fails leaves nothing stored. */
let fake: FakeProvider | undefined;
const running: TestGateway[] = [];
afterEach(async () => {
  for (const kw of running.splice(0)) await kw.close();
  await fake?.close();
  fake = undefined;
});

async function start(dataDir: string, storage?: { postgres: { url: string } }) {
  fake ??= await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      ...(storage && { storage }),
      providers: [{ id: 'gemini', type: 'gemini', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      models: [{ name: 'flash', provider: 'gemini', model: 'gemini-2.5-flash' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    dataDir,
  );
  running.push(kw);
  const mint = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'ada', userId: 'ada' });
  const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: mint.json.token, maxRetries: 0 });
  const stored = async () =>
    (await adminCall(kw.adminUrl, 'GET', '/admin/conversations?user=ada')).json.records as unknown[];
  return { client, stored };
}

const say = (content: string) => ({ role: 'user' as const, content });

describe('creating a conversation with items', () => {
  it('leaves no conversation when the store refuses one of its items, nor when an item is refused before', async () => {
    const dataDir = freshDataDir();
    const { client, stored } = await start(dataDir);
    // The store itself refuses an item after the conversation's row was written (a full disk, a
    // lock held too long): here a trigger in the gateway's own database file.
    const db = new Database(`${dataDir}/keyward.db`);
    db.exec(`CREATE TRIGGER refuse_item BEFORE INSERT ON conversation_items WHEN NEW.id = 'msg_refused'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    db.close();
    const refused = { type: 'message' as const, id: 'msg_refused', role: 'user' as const, content: 'two' };
    await expect(client.conversations.create({ items: [say('one'), refused] })).rejects.toMatchObject({
      status: 500,
    });
    expect(await stored()).toEqual([]);

    // Refused by the gateway: an unknown reference, a tool result without its call.
    await expect(
      client.conversations.create({ items: [say('one'), { type: 'item_reference', id: 'msg_missing' }] }),
    ).rejects.toMatchObject({ status: 404, error: { param: 'input[1]' } });
    await expect(
      client.conversations.create({
        items: [say('one'), { type: 'function_call_output', call_id: 'call_gone', output: 'lost' }],
      }),
    ).rejects.toMatchObject({ status: 400, error: { param: 'items[1]', code: 'function_call_not_found' } });
    expect(await stored()).toEqual([]);

    const created = await client.conversations.create({ items: [say('one'), say('two')] });
    expect(await stored()).toEqual([{ id: created.id, kind: 'conversation', createdAt: expect.any(Number) }]);
    expect((await client.conversations.items.list(created.id)).data).toHaveLength(2);
  });
});

describe.skipIf(!hasPostgres())('ids Postgres cannot store (needs postgres)', () => {
  const postgres = usePostgres();
  it('refuses a NUL in a client-chosen id with a 400 and answers a lookup of one 404, storing nothing', async () => {
    const { client, stored } = await start(freshDataDir(), { postgres: { url: await postgres.database() } });
    // Postgres takes no NUL in text. Accepted, the id failed its row's insert: a conversation
    // created without it, or a response answered 200 and never stored (with the batch it was in).
    const odd = { type: 'message' as const, id: 'msg_\u0000', role: 'user' as const, content: 'two' };
    await expect(client.conversations.create({ items: [say('one'), odd] })).rejects.toMatchObject({
      status: 400,
    });
    await expect(client.responses.create({ model: 'flash', input: [odd] })).rejects.toMatchObject({
      status: 400,
    });
    expect(await stored()).toEqual([]);
    const created = await client.conversations.create({ items: [say('one')] });
    for (const lookup of [
      () => client.responses.retrieve('resp_\u0000'),
      () => client.conversations.retrieve('conv_\u0000'),
      () => client.conversations.items.retrieve('msg_\u0000', { conversation_id: created.id }),
    ])
      await expect(lookup()).rejects.toMatchObject({ status: 404 });
    await expect(client.conversations.items.list(created.id, { after: 'msg_\u0000' })).rejects.toMatchObject({
      status: 400,
    });
    expect(await stored()).toEqual([{ id: created.id, kind: 'conversation', createdAt: expect.any(Number) }]);
  });
});
