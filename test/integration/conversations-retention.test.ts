import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { ConversationService } from '../../src/conversations/index.js';
import { generateMasterKey, sealedBy } from '../../src/keys/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { whenUnlocked } from '../support/conversation-lock.js';
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

/** Retention for the services the rotation tests drive directly on a store file. */
const RETENTION = { ttlDays: 30, maxItems: 100, maxBytes: 1_000_000, contextTokens: 200_000 };

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
      // Some tests run two instances on one store, each with limits of its own.
      rateLimits: { perInstance: true },
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    dataDir,
  );
  running.push(kw);
  const mint = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'ada', userId: 'ada' });
  const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: mint.json.token, maxRetries: 0 });
  return { kw, client, fake };
}

/** A response stored by a gateway that is then stopped, leaving the data directory to the CLI. */
async function storeOneAndStop(dataDir: string, text: string) {
  const { kw, client, fake } = await start(dataDir);
  fake.script(say(text));
  const response = await client.responses.create({ model: 'flash', input: 'hi' });
  await kw.close();
  running.splice(0);
  return response;
}

/** Makes the `count` oldest items of `parentId` unreadable: a turn that opens one of them fails. */
async function spoil(dataDir: string, parentId: string, count: number) {
  const store = openSqliteStore(`${dataDir}/keyward.db`);
  const rows = (await store.conversations.items(parentId)).slice(0, count);
  await store.conversations.rewrap(new Map(), new Map(rows.map((row) => [row.seq, 'kw1:00000000:AAAA'])));
  await store.close();
}

/**
 * Adds 261 items to a conversation, the newest about 1,200 tokens: the newest page read (256
 * items) alone is past a context window of 1,024, and the items before it are never needed.
 */
async function pastTheWindow(client: OpenAI, conversationId: string) {
  for (let batch = 0; batch < 13; batch++)
    await client.conversations.items.create(conversationId, {
      items: Array.from({ length: 20 }, (_, i) => ({ role: 'user' as const, content: `item ${batch}.${i}` })),
    });
  await client.conversations.items.create(conversationId, {
    items: [{ role: 'user', content: 'd'.repeat(4800) }],
  });
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

  it('never reads history older than the context window could take, in a chain or a conversation', async () => {
    const dataDir = freshDataDir();
    const { client, fake } = await start(dataDir, { contextTokens: 1024 });
    fake.script(say('one'), say('two'), say('three'), say('four'), say('five'));

    const oldest = await client.responses.create({ model: 'flash', input: 'OLDEST' });
    const second = await client.responses.create({
      model: 'flash',
      previous_response_id: oldest.id,
      input: 'b'.repeat(2400),
    });
    const auto = (after: { previous_response_id: string } | { conversation: string }, input: string) =>
      client.responses.create({ model: 'flash', input, truncation: 'auto', ...after });
    const third = await auto({ previous_response_id: second.id }, 'c'.repeat(2400));
    await spoil(dataDir, oldest.id, 2);
    // The two newest turns hold about 1,200 tokens, past the window: the oldest is never needed.
    expect((await auto({ previous_response_id: third.id }, 'next')).output_text).toBe('four');

    const conversation = await client.conversations.create({ items: [{ role: 'user', content: 'OLDEST' }] });
    await pastTheWindow(client, conversation.id);
    // Only the oldest of its 262 items lies beyond the newest page read, which alone is past the window.
    await spoil(dataDir, conversation.id, 1);
    expect((await auto({ conversation: conversation.id }, 'next')).output_text).toBe('five');
  });
  it('refuses a Chat Completions turn whose conversation exceeds the context window, reading no older history', async () => {
    const dataDir = freshDataDir();
    const { kw, client, fake } = await start(dataDir, { contextTokens: 1024 });
    fake.script(say('fits'));
    const conversation = await client.conversations.create({ items: [{ role: 'user', content: 'OLDEST' }] });
    const chat = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: client.apiKey, maxRetries: 0 });
    const turn = () =>
      chat.chat.completions.create(
        { model: 'flash', messages: [{ role: 'user', content: 'next' }] },
        { headers: { 'x-keyward-conversation': conversation.id } },
      );
    expect((await turn()).choices[0]!.message.content).toBe('fits');

    await pastTheWindow(client, conversation.id);
    // The oldest item lies beyond the newest page read, which alone is past the window: opening it
    // would fail the turn with another error.
    await spoil(dataDir, conversation.id, 1);
    const calls = fake.requests.length;
    await expect(turn()).rejects.toMatchObject({
      status: 400,
      error: {
        param: 'x-keyward-conversation',
        message: expect.stringContaining('exceeds the context window'),
      },
    });
    expect(fake.requests.length).toBe(calls);
  });
});

describe('replayed chains', () => {
  it('replays a previous_response_id chain no further than a conversation keeps, reading none of the rest, from a user message', async () => {
    const dataDir = freshDataDir();
    const { client, fake } = await start(dataDir, { maxItems: 4 });
    fake.script(
      {
        blocks: [{ type: 'tool_call', id: 'call_1', name: 'lookup', arguments: {} }],
        stop: 'tool_use',
        usage: { input: 10, output: 5 },
      },
      say('looked up'),
      say('third'),
      say('fourth'),
    );
    const tools = [{ type: 'function' as const, name: 'lookup', parameters: {}, strict: false }];
    const calling = await client.responses.create({ model: 'flash', input: 'OLDEST', tools });
    const call = calling.output.find((item) => item.type === 'function_call');
    const answered = await client.responses.create({
      model: 'flash',
      previous_response_id: calling.id,
      input: [{ type: 'function_call_output', call_id: call!.call_id, output: 'FOUND' }],
      tools,
    });
    const third = await client.responses.create({
      model: 'flash',
      previous_response_id: answered.id,
      input: 'THIRD question',
    });
    // Two items a response: the two newest fill maxItems, and the oldest is never read (opening it
    // would fail the turn). The tool result that opens what is left goes too: its call is gone.
    await spoil(dataDir, calling.id, 2);
    const calls = fake.requests.length;
    const fourth = await client.responses.create({
      model: 'flash',
      previous_response_id: third.id,
      input: 'FOURTH question',
    });
    expect(fourth.output_text).toBe('fourth');
    const sent = fake.requests[calls]!.raw;
    expect(sent).not.toContain('OLDEST');
    expect(sent).not.toContain('FOUND');
    expect(sent).toContain('THIRD question');
    expect(sent).toContain('FOURTH question');
  });

  it('refuses an unknown model before it reads any history, by previous_response_id or conversation header', async () => {
    const dataDir = freshDataDir();
    const { kw, client, fake } = await start(dataDir);
    fake.script(say('stored'));
    const stored = await client.responses.create({ model: 'flash', input: 'remember' });
    const conversation = await client.conversations.create({ items: [{ role: 'user', content: 'hi' }] });
    // Opening any of these would fail the request with another error.
    await spoil(dataDir, stored.id, 2);
    await spoil(dataDir, conversation.id, 1);
    await expect(
      client.responses.create({ model: 'no-such-model', previous_response_id: stored.id, input: 'next' }),
    ).rejects.toMatchObject({ status: 404, error: { code: 'model_not_found' } });
    const chat = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: client.apiKey, maxRetries: 0 });
    await expect(
      chat.chat.completions.create(
        { model: 'no-such-model', messages: [{ role: 'user', content: 'next' }] },
        { headers: { 'x-keyward-conversation': conversation.id } },
      ),
    ).rejects.toMatchObject({ status: 404, error: { code: 'model_not_found' } });
  });

  it('refuses to continue a response that alone holds more than a conversation keeps', async () => {
    const { client, fake } = await start(freshDataDir(), { maxItems: 4 });
    fake.script(say('five items in, one out'));
    const large = await client.responses.create({
      model: 'flash',
      input: ['one', 'two', 'three', 'four', 'five'].map((text) => ({
        role: 'user' as const,
        content: text,
      })),
    });
    const calls = fake.requests.length;
    await expect(
      client.responses.create({ model: 'flash', previous_response_id: large.id, input: 'next' }),
    ).rejects.toMatchObject({
      status: 400,
      error: { param: 'previous_response_id', code: 'history_too_large' },
    });
    expect(fake.requests.length).toBe(calls);
  });
});

describe('turns across gateways', () => {
  it('takes one turn of a conversation at a time across gateways sharing a store', async () => {
    const dataDir = freshDataDir();
    const one = await start(dataDir);
    const other = await start(dataDir);
    const conversation = await one.client.conversations.create({});
    const turn = { model: 'flash', conversation: conversation.id };
    one.fake.script({ ...say('held open'), fault: { kind: 'stall', afterEvents: 1 } }, say('next turn'));
    const controller = new AbortController();
    const held = await one.client.responses.create(
      { ...turn, input: 'first', stream: true },
      { signal: controller.signal },
    );
    await held[Symbol.asyncIterator]().next();

    const locked = { status: 400, error: { code: 'conversation_locked', param: 'conversation' } };
    await expect(other.client.responses.create({ ...turn, input: 'second' })).rejects.toMatchObject(locked);
    controller.abort();
    const next = await whenUnlocked(() => other.client.responses.create({ ...turn, input: 'again' }));
    expect(next?.output_text).toBe('next turn');
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

  it('keeps no result of parallel tool calls whose call it trims away', async () => {
    const { client } = await start(freshDataDir(), { maxItems: 4 });
    const conversation = await client.conversations.create({
      items: [
        { role: 'user', content: 'one' },
        { type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{"q":1}' },
        { type: 'function_call', call_id: 'call_2', name: 'lookup', arguments: '{"q":2}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'first' },
        { type: 'function_call_output', call_id: 'call_2', output: 'second' },
        { role: 'assistant', content: 'done' },
      ],
    });
    const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
    // The four newest would start at call_2 and keep call_1's result without its call.
    expect(items.data.map((item) => (item.type === 'message' ? item.role : item.type))).toEqual([
      'assistant',
    ]);
  });

  it('refuses a tool result without its call, and a result whose call was deleted does not make the trim cut what is older', async () => {
    const { client } = await start(freshDataDir(), { maxItems: 10 });
    const conversation = await client.conversations.create({});
    const say = (text: string) => ({ role: 'user' as const, content: text });
    const texts = async () =>
      (await client.conversations.items.list(conversation.id, { order: 'asc', limit: 100 })).data.map(
        (item) =>
          item.type === 'message' && item.content[0]?.type === 'input_text'
            ? item.content[0].text
            : item.type,
      );
    await client.conversations.items.create(conversation.id, {
      items: Array.from({ length: 10 }, (_, i) => say(`m${i}`)),
    });
    // Every provider refuses a result without its call: kept, it would fail each later turn.
    await expect(
      client.conversations.items.create(conversation.id, {
        items: [{ type: 'function_call_output', call_id: 'nope', output: 'lost' }],
      }),
    ).rejects.toMatchObject({
      status: 400,
      error: { param: 'items[0]', code: 'function_call_not_found' },
    });
    expect(await texts()).toHaveLength(10);

    // A call added with its result, or earlier, is found; then the call is deleted.
    const [call] = (
      await client.conversations.items.create(conversation.id, {
        items: [{ type: 'function_call', call_id: 'call_1', name: 'lookup', arguments: '{}' }],
      })
    ).data;
    await client.conversations.items.create(conversation.id, {
      items: [{ type: 'function_call_output', call_id: 'call_1', output: 'found' }],
    });
    await client.conversations.items.delete(call!.id!, { conversation_id: conversation.id });
    // Twelve items, over ten: trimmed to the nine newest, the result whose call is gone among them.
    await client.conversations.items.create(conversation.id, { items: [say('m10'), say('m11')] });
    expect(await texts()).toEqual(['m4', 'm5', 'm6', 'm7', 'm8', 'm9', 'function_call_output', 'm10', 'm11']);
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

  it('deletes one response by id for the operator, refusing what no record can be named', async () => {
    const { kw, client, fake } = await start(freshDataDir());
    fake.script(say('deleted answer'));
    const response = await client.responses.create({ model: 'flash', input: 'deleted question' });
    const deleted = await adminCall(kw.adminUrl, 'DELETE', `/admin/conversations/${response.id}`);
    expect(deleted.json).toEqual({ id: response.id, deleted: true });
    await expect(client.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404 });
    const again = await adminCall(kw.adminUrl, 'DELETE', `/admin/conversations/${response.id}`);
    expect(again.status).toBe(404);
    // What is sent is never written back: a value can be anything pasted into the wrong place.
    const odd = await adminCall(kw.adminUrl, 'DELETE', '/admin/conversations/%3Cscript%3E%0d%0ax');
    expect(odd.status).toBe(400);
    expect(odd.json.error.message).toContain('resp_… or conv_…');
    expect(odd.text).not.toContain('<script>');
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

  it('keyward master rotate run while a gateway stores responses loses none of them', async () => {
    const dataDir = freshDataDir();
    let { kw, client, fake } = await start(dataDir);
    fake.script(say('stored during rotation'));
    const stored: string[] = [];
    let storing = true;
    // Four clients keep storing responses throughout, so some are sealed while the gateway changes keys.
    const load = Promise.all(
      [1, 2, 3, 4].map(async () => {
        while (storing) stored.push((await client.responses.create({ model: 'flash', input: 'hi' })).id);
      }),
    );
    await expect.poll(() => stored.length).toBeGreaterThan(20);
    const rotated = await runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    const during = stored.length;
    await expect.poll(() => stored.length, { timeout: 5000 }).toBeGreaterThan(during + 20);
    storing = false;
    await load;
    await kw.close();
    running.splice(0);

    expect(rotated.code, rotated.stderr).toBe(0);
    const { keyId } = JSON.parse(rotated.stdout) as { keyId: string };
    // Only the new key is left, as once the operator deleted the old one.
    rmSync(`${dataDir}/master.key.previous`);
    const store = openSqliteStore(`${dataDir}/keyward.db`);
    const records = await store.conversations.list();
    const sealed = [...records.map((record) => record.sealed)];
    for (const record of records)
      for (const item of await store.conversations.items(record.id)) sealed.push(item.sealed);
    await store.close();
    expect(records).toHaveLength(stored.length);
    expect(sealed.filter((text) => sealedBy(text) !== keyId)).toHaveLength(0);
    ({ client } = await start(dataDir));
    for (const id of stored)
      expect((await client.responses.retrieve(id)).output_text).toBe('stored during rotation');
  });

  it('re-seals what the old key sealed and leaves what a gateway already sealed with the new one', async () => {
    const store = openSqliteStore(`${freshDataDir()}/keyward.db`);
    const current = generateMasterKey();
    const next = generateMasterKey();
    await new ConversationService(store.conversations, () => [current], RETENTION).createConversation(
      'user:ada',
      { when: 'before' },
      'conv_old',
    );
    // A gateway that re-read the key file seals with the new key while the rotation runs.
    await new ConversationService(store.conversations, () => [next, current], RETENTION).createConversation(
      'user:ada',
      { when: 'during' },
      'conv_new',
    );
    expect(await new ConversationService(store.conversations, () => [current], RETENTION).rewrap(next)).toBe(
      1,
    );
    const reader = new ConversationService(store.conversations, () => [next], RETENTION);
    expect((await reader.getConversation('user:ada', 'conv_old'))?.metadata).toEqual({ when: 'before' });
    expect((await reader.getConversation('user:ada', 'conv_new'))?.metadata).toEqual({ when: 'during' });
    await store.close();
  });

  it('a gateway opens what the key in master.key.previous sealed, as a rotation stopped half-way leaves it', async () => {
    const dataDir = freshDataDir();
    const old = await storeOneAndStop(dataDir, 'sealed by the old key');
    // The state a rotation killed right after it replaced the key file leaves: nothing re-sealed yet.
    renameSync(`${dataDir}/master.key`, `${dataDir}/master.key.previous`);
    writeFileSync(`${dataDir}/master.key`, `${generateMasterKey().key.toString('base64')}\n`, {
      mode: 0o600,
    });

    let { kw, client } = await start(dataDir);
    expect((await client.responses.retrieve(old.id)).output_text).toBe('sealed by the old key');
    await kw.close();
    running.splice(0);

    // The CLI opens it too, so that rotating again finishes the job.
    const rotated = await runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    expect(rotated.code, rotated.stderr).toBe(0);
    rmSync(`${dataDir}/master.key.previous`);
    ({ client } = await start(dataDir));
    expect((await client.responses.retrieve(old.id)).output_text).toBe('sealed by the old key');
  });

  it('a rotation that fails keeps both keys, a gateway reads everything, and the next rotation finishes it', async () => {
    const dataDir = freshDataDir();
    const before = await storeOneAndStop(dataDir, 'stored');
    // A record no key opens stops the rotation after the key file was replaced.
    let store = openSqliteStore(`${dataDir}/keyward.db`);
    const alien = generateMasterKey();
    await new ConversationService(store.conversations, () => [alien], RETENTION).createConversation(
      'user:bob',
      {},
      'conv_alien',
    );
    await store.close();
    const oldKey = readFileSync(`${dataDir}/master.key`, 'utf8');

    const failed = await runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    expect(failed.code).toBe(1);
    expect(failed.stderr + failed.stdout).toContain('rotation incomplete');
    expect(readFileSync(`${dataDir}/master.key.previous`, 'utf8')).toBe(oldKey);
    expect(readFileSync(`${dataDir}/master.key`, 'utf8')).not.toBe(oldKey);
    let { kw, client } = await start(dataDir);
    const during = await client.responses.create({ model: 'flash', input: 'during' });
    expect((await client.responses.retrieve(before.id)).output_text).toBe('stored');
    await kw.close();
    running.splice(0);

    store = openSqliteStore(`${dataDir}/keyward.db`);
    await store.conversations.remove('conv_alien');
    await store.close();
    const rotated = await runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    expect(rotated.code, rotated.stderr).toBe(0);
    rmSync(`${dataDir}/master.key.previous`);
    ({ client } = await start(dataDir));
    for (const id of [before.id, during.id])
      expect((await client.responses.retrieve(id)).output_text).toBe('stored');
  });

  it('runs one rotation at a time: a second one at once refuses, and every record opens with the key left', async () => {
    const dataDir = freshDataDir();
    const stored = await storeOneAndStop(dataDir, 'rotated once');
    const rotate = () => runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    const runs = await Promise.all([rotate(), rotate()]);
    expect(runs.map((run) => run.code).sort()).toEqual([0, 1]);
    const refused = runs.find((run) => run.code === 1)!;
    expect(refused.stderr + refused.stdout).toContain('another keyward master rotate is running');
    const done = runs.find((run) => run.code === 0)!;
    rmSync(`${dataDir}/master.key.previous`);
    const store = openSqliteStore(`${dataDir}/keyward.db`);
    expect(sealedBy((await store.conversations.get(stored.id))!.sealed)).toBe(JSON.parse(done.stdout).keyId);
    expect(await store.meta.get('master_rotation')).toBeUndefined();
    await store.close();
    const { client } = await start(dataDir);
    expect((await client.responses.retrieve(stored.id)).output_text).toBe('rotated once');
  });

  it('names the running rotation to a second run, whichever key that run read before the store moved on', async () => {
    const dataDir = freshDataDir();
    await storeOneAndStop(dataDir, 'stored');
    const key = readFileSync(`${dataDir}/master.key`, 'utf8');
    const store = openSqliteStore(`${dataDir}/keyward.db`);
    await store.meta.setIfAbsent(
      'master_rotation',
      JSON.stringify({ host: hostname(), pid: process.pid, since: new Date().toISOString() }),
    );
    await store.close();
    // What a second run sees when the first re-seals between its reading the key file and its
    // asking for the lock: a key the store is no longer sealed with.
    writeFileSync(`${dataDir}/master.key`, `${generateMasterKey().key.toString('base64')}\n`, {
      mode: 0o600,
    });
    const refused = await runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    writeFileSync(`${dataDir}/master.key`, key, { mode: 0o600 });
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).toContain('another keyward master rotate is running');
  });

  it('takes over the lock of a rotation killed on this machine, and leaves a live one alone', async () => {
    const dataDir = freshDataDir();
    await storeOneAndStop(dataDir, 'stored');
    const holder = (pid: number) =>
      JSON.stringify({ host: hostname(), pid, since: new Date().toISOString() });
    const rotate = () => runCli(['master', 'rotate', '--json'], { env: { KEYWARD_DATA_DIR: dataDir } });
    const key = readFileSync(`${dataDir}/master.key`, 'utf8');

    let store = openSqliteStore(`${dataDir}/keyward.db`);
    await store.meta.setIfAbsent('master_rotation', holder(process.pid));
    await store.close();
    const refused = await rotate();
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(readFileSync(`${dataDir}/master.key`, 'utf8')).toBe(key);

    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    store = openSqliteStore(`${dataDir}/keyward.db`);
    await store.meta.deleteIf('master_rotation', (await store.meta.get('master_rotation'))!);
    await store.meta.setIfAbsent('master_rotation', holder(gone));
    await store.close();
    const rotated = await rotate();
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(readFileSync(`${dataDir}/master.key`, 'utf8')).not.toBe(key);
  });
});
