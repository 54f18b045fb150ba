import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { sealedBy } from '../../src/keys/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir, runCli } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/** Truncation of replayed history, retention and purge, master key rotation, the operator's routes. */
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 10, output: 5 },
});

let fake: FakeProvider | undefined;
const running: TestGateway[] = [];
afterEach(async () => {
  for (const kw of running.splice(0)) await kw.close();
  await fake?.close();
  fake = undefined;
});

async function start(dataDir: string, conversations: Record<string, number> = {}) {
  fake ??= await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'gemini', type: 'gemini', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      models: [{ name: 'flash', provider: 'gemini', model: 'gemini-2.5-flash' }],
      conversations,
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    dataDir,
  );
  running.push(kw);
  const mint = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'ada', userId: 'ada' });
  const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: mint.json.token, maxRetries: 0 });
  return { kw, client, fake };
}

describe('truncation', () => {
  it("refuses history beyond the context window unless truncation is 'auto', which drops the oldest turns", async () => {
    const { client, fake } = await start(freshDataDir(), { contextTokens: 1024 });
    fake.script(say('first answer'), say('second answer'), say('third answer'));
    const first = await client.responses.create({ model: 'flash', input: `OLDEST ${'a'.repeat(2400)}` });
    const second = await client.responses.create({
      model: 'flash',
      previous_response_id: first.id,
      input: `MIDDLE ${'b'.repeat(1200)}`,
    });
    const calls = fake.requests.length;
    // About 600 + 300 tokens of history and 200 of input: over the window of 1024 only with this turn.
    const next = {
      model: 'flash',
      previous_response_id: second.id,
      input: `NEWEST question ${'c'.repeat(800)}`,
    };
    await expect(client.responses.create(next)).rejects.toMatchObject({
      status: 400,
      error: { param: 'input', message: expect.stringContaining("truncation: 'auto'") },
    });
    expect(fake.requests.length).toBe(calls);

    const third = await client.responses.create({ ...next, truncation: 'auto' });
    expect(third.output_text).toBe('third answer');
    const sent = fake.requests.at(-1)!.raw;
    expect(sent).not.toContain('OLDEST');
    expect(sent).toContain('MIDDLE');
    expect(sent).toContain('NEWEST question');
  });
});

describe('retention, purge and rotation', () => {
  it('keeps a conversation to maxItems, newest kept', async () => {
    const { client } = await start(freshDataDir(), { maxItems: 3 });
    const conversation = await client.conversations.create({
      items: ['one', 'two', 'three', 'four', 'five'].map((text) => ({
        role: 'user' as const,
        content: text,
      })),
    });
    const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
    expect(
      items.data.map(
        (item) => item.type === 'message' && item.content[0]?.type === 'input_text' && item.content[0].text,
      ),
    ).toEqual(['three', 'four', 'five']);
  });

  it('never leaves a tool result first when it trims, since its call is gone', async () => {
    const { client } = await start(freshDataDir(), { maxItems: 3 });
    const conversation = await client.conversations.create({
      items: [
        { role: 'user', content: 'one' },
        { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'found' },
        { role: 'assistant', content: 'done' },
        { role: 'user', content: 'two' },
      ],
    });
    const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
    expect(items.data.map((item) => (item.type === 'message' ? item.role : item.type))).toEqual([
      'assistant',
      'user',
    ]);
  });

  it("lists, exports and deletes a user's data for the operator", async () => {
    const { kw, client, fake } = await start(freshDataDir());
    fake.script(say('exported answer'));
    const response = await client.responses.create({ model: 'flash', input: 'exported question' });
    const listed = await adminCall(kw.adminUrl, 'GET', '/admin/conversations?user=ada');
    expect(listed.json.records).toEqual([
      { id: response.id, kind: 'response', createdAt: expect.any(Number) },
    ]);
    expect(listed.text).not.toContain('exported');
    const exported = await adminCall(kw.adminUrl, 'GET', '/admin/conversations/export?user=ada');
    expect(exported.text).toContain('exported question');
    expect(exported.text).toContain('exported answer');
    expect((await adminCall(kw.adminUrl, 'GET', '/admin/conversations')).status).toBe(400);
    const deleted = await adminCall(kw.adminUrl, 'DELETE', '/admin/conversations?user=ada');
    expect(deleted.json).toEqual({ user: 'ada', deleted: 1 });
    await expect(client.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404 });

    const audit = await adminCall(kw.adminUrl, 'GET', '/admin/audit?type=admin.action');
    expect(audit.json.records.map((entry: { data: unknown }) => entry.data)).toEqual([
      { action: 'conversations.exported', target: 'ada', detail: { count: 1 } },
      { action: 'conversations.deleted', target: 'ada', detail: { count: 1 } },
    ]);
    expect(audit.text).not.toContain('exported question');
  });

  it('keyward conversations purge --user deletes, and keyward master rotate re-seals what is stored', async () => {
    const dataDir = freshDataDir();
    let { kw, client, fake } = await start(dataDir);
    fake.script(say('kept through rotation'), say('purged soon'));
    const kept = await client.responses.create({ model: 'flash', input: 'keep me' });
    await kw.close();
    running.splice(0);

    const before = openSqliteStore(`${dataDir}/keyward.db`);
    const oldKey = sealedBy((await before.conversations.get(kept.id))!.sealed);
    await before.close();
    const rotated = await runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ conversations: 1 });
    const after = openSqliteStore(`${dataDir}/keyward.db`);
    const sealed = (await after.conversations.get(kept.id))!.sealed;
    const items = await after.conversations.items(kept.id);
    await after.close();
    expect(sealedBy(sealed)).not.toBe(oldKey);
    expect(items.every((item) => sealedBy(item.sealed) === sealedBy(sealed))).toBe(true);

    ({ kw, client } = await start(dataDir));
    expect((await client.responses.retrieve(kept.id)).output_text).toBe('kept through rotation');
    await kw.close();
    running.splice(0);

    const purged = await runCli(['conversations', 'purge', '--user', 'ada', '--json'], {
      env: { KEYWARD_DATA_DIR: dataDir },
    });
    expect(purged.code).toBe(0);
    expect(JSON.parse(purged.stdout)).toEqual({ purged: 1 });
    ({ client } = await start(dataDir));
    await expect(client.responses.retrieve(kept.id)).rejects.toMatchObject({ status: 404 });
  });
});
