import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { whenUnlocked } from '../support/conversation-lock.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Responses state kept by Keyward: sealed at rest, visible to its owner only, and accounted like
 * every other request.
 */
const SECRET_PROMPT = 'zebra-violet-4242 is my locker code';
const SECRET_ANSWER = 'quasar-lantern-7777 noted';
const answer = (text: string, input = 40): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input, output: 8 },
});

describe('Responses state in Keyward', () => {
  let fake: FakeProvider;
  let kw: TestGateway;
  let dataDir: string;
  const clients = {} as Record<'alice' | 'aliceAgain' | 'bob' | 'loner' | 'operator', OpenAI>;
  const tokenIds = {} as Record<string, string>;

  beforeAll(async () => {
    fake = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    dataDir = freshDataDir();
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } },
        ],
        models: [{ name: 'smart', provider: 'claude', model: 'claude-sonnet-4-5' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
      dataDir,
    );
    const mint = async (name: string, userId?: string) => {
      const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name, ...(userId && { userId }) });
      expect(res.status).toBe(201);
      tokenIds[name] = res.json.id;
      return new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: res.json.token, maxRetries: 0 });
    };
    clients.alice = await mint('alice-laptop', 'alice');
    clients.aliceAgain = await mint('alice-phone', 'alice');
    clients.bob = await mint('bob', 'bob');
    clients.loner = await mint('no-user');
    clients.operator = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  it('replays history to a non-OpenAI provider by previous_response_id, which never goes upstream', async () => {
    fake.script(answer('Nice to meet you, Ada.'), answer('Your name is Ada.', 95));
    const first = await clients.alice.responses.create({ model: 'smart', input: 'My name is Ada.' });
    const second = await clients.alice.responses.create({
      model: 'smart',
      previous_response_id: first.id,
      input: 'What is my name?',
    });
    expect(second.output_text).toBe('Your name is Ada.');
    const sent = fake.requests.at(-1)!.body as { messages: Array<{ role: string; content: unknown }> };
    expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(JSON.stringify(sent)).toContain('Nice to meet you, Ada.');
    expect(fake.requests.at(-1)!.raw).not.toContain(first.id);
    // The replayed history is input the provider counted: usage says so, and the store records it.
    expect(second.usage?.input_tokens).toBe(95);
    const usage = await adminCall(kw.adminUrl, 'GET', '/admin/usage?by=user');
    const row = usage.json.rows.find((r: { group: string }) => r.group === 'alice');
    expect(row).toMatchObject({ requests: 2, inputTokens: 40 + 95 });
    const audit = await adminCall(kw.adminUrl, 'GET', '/admin/audit?limit=1000&type=request');
    const records = audit.json.records.map((r: { data: Record<string, unknown> }) => r.data);
    expect(records).toContainEqual(
      expect.objectContaining({
        userId: 'alice',
        model: 'smart',
        provider: 'claude',
        status: 200,
        inputTokens: 95,
      }),
    );
  });

  it('keeps content sealed: the database files hold neither the prompt nor the answer', async () => {
    fake.script(answer(SECRET_ANSWER));
    const response = await clients.alice.responses.create({ model: 'smart', input: SECRET_PROMPT });
    expect((await clients.alice.responses.retrieve(response.id)).output_text).toBe(SECRET_ANSWER);
    const files = readdirSync(dataDir).filter((name) => name.includes('.db'));
    expect(files.length).toBeGreaterThan(0);
    const bytes = Buffer.concat(files.map((name) => readFileSync(join(dataDir, name))));
    // The id is stored in the clear: finding it shows the search reads where the record went.
    expect(bytes.includes(Buffer.from(response.id))).toBe(true);
    for (const needle of ['zebra-violet-4242', 'quasar-lantern-7777', 'locker code']) {
      expect(bytes.includes(Buffer.from(needle))).toBe(false);
    }
  });

  it('answers 404 to anyone but the owner: read, list items, continue, delete', async () => {
    fake.script(answer('Private answer.'));
    const mine = await clients.alice.responses.create({ model: 'smart', input: 'A private question' });
    // Another token of the same user owns it too.
    expect((await clients.aliceAgain.responses.retrieve(mine.id)).id).toBe(mine.id);
    for (const other of [clients.bob, clients.loner, clients.operator]) {
      await expect(other.responses.retrieve(mine.id)).rejects.toMatchObject({ status: 404 });
      await expect(other.responses.inputItems.list(mine.id)).rejects.toMatchObject({ status: 404 });
      await expect(
        other.responses.create({ model: 'smart', previous_response_id: mine.id, input: 'continue' }),
      ).rejects.toMatchObject({ status: 404, error: { param: 'previous_response_id' } });
      await expect(other.responses.delete(mine.id)).rejects.toMatchObject({ status: 404 });
    }
    // Its items are the owner's to reference, and another's reference is answered as a missing one.
    const { data } = await clients.alice.responses.inputItems.list(mine.id);
    const itemId = data[0]!.id!;
    const reference = [
      { type: 'item_reference' as const, id: itemId },
      { role: 'user' as const, content: 'and again' },
    ];
    for (const other of [clients.bob, clients.loner, clients.operator]) {
      await expect(other.responses.create({ model: 'smart', input: reference })).rejects.toMatchObject({
        status: 404,
        error: { param: 'input[0]', message: `No item found with id '${itemId}'` },
      });
    }
    fake.script(answer('Referenced.'));
    const calls = fake.requests.length;
    await clients.aliceAgain.responses.create({ model: 'smart', input: reference });
    expect(fake.requests.length).toBe(calls + 1);
    expect(fake.requests.at(-1)!.raw).toContain('A private question');
    // A missing id is answered the same way.
    await expect(clients.bob.responses.retrieve('resp_000000000000000000000000')).rejects.toMatchObject({
      status: 404,
      error: { message: "No response found with id 'resp_000000000000000000000000'" },
    });
    expect((await clients.alice.responses.retrieve(mine.id)).output_text).toBe('Private answer.');
    await clients.alice.responses.delete(mine.id);
    await expect(clients.aliceAgain.responses.retrieve(mine.id)).rejects.toMatchObject({ status: 404 });
  });

  it('takes one turn of a conversation at a time, as OpenAI does, and locks nothing of anyone else', async () => {
    const conversation = await clients.alice.conversations.create({});
    const turn = { model: 'smart', conversation: conversation.id };
    fake.script({ ...answer('Held open'), fault: { kind: 'stall', afterEvents: 2 } }, answer('Next turn.'));
    const controller = new AbortController();
    const held = await clients.alice.responses.create(
      { ...turn, input: 'first', stream: true },
      { signal: controller.signal },
    );
    const events = held[Symbol.asyncIterator]();
    await events.next();

    const locked = { status: 400, error: { code: 'conversation_locked', param: 'conversation' } };
    await expect(clients.aliceAgain.responses.create({ ...turn, input: 'second' })).rejects.toMatchObject(
      locked,
    );
    await expect(
      clients.alice.chat.completions.create(
        { model: 'smart', messages: [{ role: 'user', content: 'third' }] },
        { headers: { 'x-keyward-conversation': conversation.id } },
      ),
    ).rejects.toMatchObject({ status: 400, error: { code: 'conversation_locked' } });
    // Someone else naming the conversation is told it does not exist, and holds nothing of it.
    await expect(clients.bob.responses.create({ ...turn, input: 'mine?' })).rejects.toMatchObject({
      status: 404,
    });

    controller.abort();
    const next = await whenUnlocked(() => clients.alice.responses.create({ ...turn, input: 'again' }));
    expect(next?.output_text).toBe('Next turn.');
  });

  it('deletes with a conversation the responses made in it, and with an item its copies in them', async () => {
    const alice = clients.alice;
    const conversation = await alice.conversations.create({});
    const inConversation = { conversation_id: conversation.id };
    const turn = { model: 'smart', conversation: conversation.id };
    fake.script(answer('First answer.'), answer('Second answer.'));
    const first = await alice.responses.create({ ...turn, input: 'first question' });
    const second = (await whenUnlocked(() => alice.responses.create({ ...turn, input: 'second question' })))!;
    const [asked] = (await alice.responses.inputItems.list(first.id)).data;
    const said = first.output[0]!;
    // The response's copies carry the ids the conversation gave the items.
    expect(await alice.conversations.items.retrieve(asked!.id!, inConversation)).toEqual(asked);
    expect(await alice.conversations.items.retrieve(said.id!, inConversation)).toEqual(said);

    await alice.conversations.items.delete(asked!.id!, inConversation);
    expect((await alice.responses.inputItems.list(first.id)).data).toEqual([]);
    const reference = (id: string) =>
      alice.responses.create({ model: 'smart', input: [{ type: 'item_reference', id }] });
    await expect(reference(asked!.id!)).rejects.toMatchObject({ status: 404, error: { param: 'input[0]' } });
    await alice.conversations.items.delete(said.id!, inConversation);
    const kept = await alice.responses.retrieve(first.id);
    expect(kept.output).toEqual([]);
    expect(JSON.stringify(kept)).not.toContain('First answer.');
    await expect(reference(said.id!)).rejects.toMatchObject({ status: 404 });

    // The conversation takes the rest of its content along: its responses, their items and outputs.
    const secondAsked = (await alice.responses.inputItems.list(second.id)).data[0]!;
    await alice.conversations.delete(conversation.id);
    for (const id of [first.id, second.id]) {
      await expect(alice.responses.retrieve(id)).rejects.toMatchObject({ status: 404 });
      await expect(alice.responses.inputItems.list(id)).rejects.toMatchObject({ status: 404 });
    }
    await expect(reference(secondAsked.id!)).rejects.toMatchObject({ status: 404 });
    await expect(reference(second.output[0]!.id!)).rejects.toMatchObject({ status: 404 });
  });

  it('a token without a user owns only what it made, and store: false keeps nothing', async () => {
    fake.script(answer('Kept.'), answer('Not kept.'));
    const kept = await clients.loner.responses.create({ model: 'smart', input: 'keep this' });
    expect((await clients.loner.responses.retrieve(kept.id)).output_text).toBe('Kept.');
    const unkept = await clients.loner.responses.create({
      model: 'smart',
      input: 'forget this',
      store: false,
    });
    await expect(clients.loner.responses.retrieve(unkept.id)).rejects.toMatchObject({ status: 404 });
  });

  it('refuses hosted tools by name, and bad input with a 400 naming the field', async () => {
    const before = fake.requests.length;
    await expect(
      clients.alice.responses.create({ model: 'smart', input: 'news?', tools: [{ type: 'web_search' }] }),
    ).rejects.toMatchObject({
      status: 400,
      error: { param: 'tools[0]', message: expect.stringContaining("'web_search'") },
    });
    await expect(
      clients.alice.responses.create({
        model: 'smart',
        input: [{ role: 'user', content: 'x', bogus: 1 } as never],
      }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      clients.alice.responses.create({
        model: 'smart',
        input: 'x',
        previous_response_id: 'resp_1',
        conversation: 'conv_1',
      }),
    ).rejects.toMatchObject({ status: 400, error: { param: 'previous_response_id' } });
    expect(fake.requests.length).toBe(before);
  });
});
