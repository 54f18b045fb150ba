import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/** The official SDK's `conversations.*`, and Responses continuing a conversation, on every provider format. */
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 10, output: 5 },
});

describe('openai SDK Conversations API through Keyward', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let client: OpenAI;
  let stranger: OpenAI;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway({ KEYWARD_ADMIN_KEY: ADMIN_KEY }));
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'stranger',
      userId: 'mallory',
    });
    stranger = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: minted.json.token, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  it('creates, retrieves, updates, lists, adds, gets and deletes items, and deletes', async () => {
    const conversation = await client.conversations.create({
      metadata: { topic: 'demo' },
      items: [{ type: 'message', role: 'user', content: 'First note' }],
    });
    expect(conversation).toMatchObject({ object: 'conversation', metadata: { topic: 'demo' } });
    expect(conversation.id).toMatch(/^conv_/);
    expect(await client.conversations.retrieve(conversation.id)).toEqual(conversation);
    const updated = await client.conversations.update(conversation.id, { metadata: { topic: 'changed' } });
    expect(updated.metadata).toEqual({ topic: 'changed' });

    const added = await client.conversations.items.create(conversation.id, {
      items: [
        { type: 'message', role: 'user', content: 'Second note' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Third note' }] },
      ],
    });
    expect(added.data).toHaveLength(2);
    const listed = [];
    for await (const item of client.conversations.items.list(conversation.id, { order: 'asc', limit: 2 }))
      listed.push(item);
    expect(
      listed.map(
        (item) => item.type === 'message' && item.content[0]?.type === 'input_text' && item.content[0].text,
      ),
    ).toEqual(['First note', 'Second note', 'Third note']);
    const second = added.data[0]!;
    const got = await client.conversations.items.retrieve(second.id!, { conversation_id: conversation.id });
    expect(got).toEqual(second);
    await client.conversations.items.delete(second.id!, { conversation_id: conversation.id });
    await expect(
      client.conversations.items.retrieve(second.id!, { conversation_id: conversation.id }),
    ).rejects.toMatchObject({ status: 404 });

    await client.conversations.delete(conversation.id);
    await expect(client.conversations.retrieve(conversation.id)).rejects.toMatchObject({ status: 404 });
  });

  it('stores an item whose id the conversation holds already, or a referenced one, under an id of its own', async () => {
    const conversation = await client.conversations.create({});
    const note = (id: string, text: string) => ({ type: 'message', role: 'user', id, content: text });
    const added = await client.conversations.items.create(conversation.id, {
      items: [
        note('msg_100', 'a'),
        note('msg_101', 'b'),
        note('msg_100', 'c'),
        note('msg_102', 'd'),
      ] as never,
    });
    const ids = added.data.map((item) => item.id!);
    expect([ids[0], ids[1], ids[3]]).toEqual(['msg_100', 'msg_101', 'msg_102']);
    expect(ids[2]).toMatch(/^msg_[0-9a-f]{36}$/);
    const text = (item: { type: string; content?: unknown }) =>
      item.type === 'message' ? (item.content as Array<{ text: string }>)[0]!.text : item.type;

    // Pages follow one another: the second starts after the first's last item, not at an older copy.
    const first = await client.conversations.items.list(conversation.id, { order: 'asc', limit: 3 });
    expect(first.data.map((item) => item.id)).toEqual(ids.slice(0, 3));
    expect(first.has_more).toBe(true);
    const next = await client.conversations.items.list(conversation.id, {
      order: 'asc',
      limit: 3,
      after: first.last_id!,
    });
    expect(next.data.map((item) => item.id)).toEqual(['msg_102']);
    const walked: string[] = [];
    for await (const item of client.conversations.items.list(conversation.id, { order: 'asc', limit: 3 })) {
      walked.push(item.id!);
      if (walked.length > 10) break;
    }
    expect(walked).toEqual(ids);
    // A cursor naming no item of the conversation is refused rather than read as the first page.
    await expect(
      client.conversations.items.list(conversation.id, { after: 'msg_not_here' }),
    ).rejects.toMatchObject({ status: 400, error: { param: 'after' } });

    // A reference is a copy with an id of its own; the original keeps its id and its content.
    const copied = await client.conversations.items.create(conversation.id, {
      items: [{ type: 'item_reference', id: 'msg_101' }],
    });
    expect(copied.data[0]!.id).not.toBe('msg_101');
    expect(text(copied.data[0]!)).toBe('b');
    const inConversation = { conversation_id: conversation.id };
    expect(text(await client.conversations.items.retrieve('msg_100', inConversation))).toBe('a');
    await client.conversations.items.delete('msg_100', inConversation);
    const left = await client.conversations.items.list(conversation.id, { order: 'asc' });
    expect(left.data.map(text)).toEqual(['b', 'c', 'd', 'b']);
  });

  it('is 404 to another user: retrieve, list items, add, continue, delete', async () => {
    const conversation = await client.conversations.create({ items: [{ role: 'user', content: 'mine' }] });
    await expect(stranger.conversations.retrieve(conversation.id)).rejects.toMatchObject({ status: 404 });
    await expect(stranger.conversations.items.list(conversation.id)).rejects.toMatchObject({ status: 404 });
    await expect(
      stranger.conversations.items.create(conversation.id, { items: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      stranger.responses.create({ model: 'openai/m', conversation: conversation.id, input: 'x' }),
    ).rejects.toMatchObject({ status: 404, error: { param: 'conversation' } });
    await expect(stranger.conversations.update(conversation.id, { metadata: {} })).rejects.toMatchObject({
      status: 404,
    });
    await expect(stranger.conversations.delete(conversation.id)).rejects.toMatchObject({ status: 404 });
    expect((await client.conversations.items.list(conversation.id)).data).toHaveLength(1);
  });

  for (const format of FORMATS) {
    it(`continues a conversation with responses.create to ${format}, streamed and not`, async () => {
      const conversation = await client.conversations.create({});
      fakes[format].script(say('Noted: your name is Ada.'), say('You are Ada.'));
      const first = await client.responses.create({
        model: `${format}/m`,
        conversation: conversation.id,
        input: 'My name is Ada.',
      });
      expect(first.output_text).toBe('Noted: your name is Ada.');
      const second = await client.responses
        .stream({ model: `${format}/m`, conversation: conversation.id, input: 'Who am I?' })
        .finalResponse();
      expect(second.output_text).toBe('You are Ada.');
      const sent = fakes[format].requests.at(-1)!.raw;
      expect(sent).toContain('My name is Ada.');
      expect(sent).toContain('Noted: your name is Ada.');
      expect(sent).not.toContain(conversation.id);
      const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
      expect(items.data.map((item) => item.type === 'message' && item.role)).toEqual([
        'user',
        'assistant',
        'user',
        'assistant',
      ]);
    });
  }

  it('lets Chat Completions and Anthropic Messages clients keep history in a conversation (x-keyward-conversation)', async () => {
    const conversation = await client.conversations.create({
      items: [{ role: 'user', content: 'My name is Ada.' }],
    });
    const headers = { 'x-keyward-conversation': conversation.id };
    fakes.openai.script(say('Hello Ada.'));
    const chat = await client.chat.completions.create(
      { model: 'openai/m', messages: [{ role: 'user', content: 'Greet me.' }] },
      { headers },
    );
    expect(chat.choices[0]!.message.content).toBe('Hello Ada.');
    const toOpenAI = fakes.openai.requests.at(-1)!.body as {
      messages: Array<{ role: string; content: unknown }>;
    };
    expect(JSON.stringify(toOpenAI.messages)).toContain('My name is Ada.');
    expect(JSON.stringify(toOpenAI.messages)).toContain('Greet me.');

    const anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    fakes.anthropic.script(say('You are Ada, and I said hello.'));
    const message = await anthropic.messages
      .stream(
        {
          model: 'anthropic/m',
          max_tokens: 100,
          messages: [{ role: 'user', content: 'Who am I, what did you say?' }],
        },
        { headers },
      )
      .finalMessage();
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'You are Ada, and I said hello.' });
    const toAnthropic = fakes.anthropic.requests.at(-1)!.raw;
    for (const said of ['My name is Ada.', 'Greet me.', 'Hello Ada.', 'Who am I'])
      expect(toAnthropic).toContain(said);

    const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
    expect(items.data.map((item) => item.type === 'message' && item.role)).toEqual([
      'user',
      'user',
      'assistant',
      'user',
      'assistant',
    ]);
    await expect(
      stranger.chat.completions.create(
        { model: 'openai/m', messages: [{ role: 'user', content: 'x' }] },
        { headers },
      ),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      client.chat.completions.create(
        { model: 'openai/m', messages: [{ role: 'user', content: 'x' }] },
        { headers: { 'x-keyward-conversation': '../etc/passwd' } },
      ),
    ).rejects.toMatchObject({ status: 400, error: { param: 'x-keyward-conversation' } });
  });
});
