import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConversationService,
  type Item,
  type StoredResponse,
  ThreadConversationWriter,
} from '../../src/conversations/index.js';
import { sealItem } from '../../src/conversations/sealing.js';
import { generateMasterKey } from '../../src/keys/index.js';
import { openSqliteStore, type Store } from '../../src/store/index.js';
import { conversationStoreContract } from '../support/conversation-store-contract.js';
import { storedAnswer } from '../support/records.js';
import { builtWriterThread } from '../support/writer-thread.js';

const opened: Store[] = [];
const fresh = (): Store => {
  const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-conv-')), 'keyward.db'));
  opened.push(store);
  return store;
};
afterAll(async () => {
  for (const store of opened) await store.close();
});

conversationStoreContract('sqlite', async () => fresh().conversations);

describe('ConversationService sealing', () => {
  const retention = { ttlDays: 30, maxItems: 3, maxBytes: 1_000_000, contextTokens: 200_000 };
  const message = (id: string, text: string) => ({
    type: 'message' as const,
    id,
    role: 'user' as const,
    status: 'completed' as const,
    content: [{ type: 'input_text' as const, text }],
  });

  it('binds content to its owner and id: a sealed text moved to another owner does not open', async () => {
    const store = fresh();
    const master = generateMasterKey();
    const service = new ConversationService(store.conversations, () => [master], retention);
    await service.createConversation('user:a', { topic: 'secret' }, 'conv_a');
    await service.createConversation('user:b', {}, 'conv_b');
    const a = (await store.conversations.get('conv_a'))!;
    expect(a.sealed).toMatch(/^kw1:/);
    expect(a.sealed).not.toContain('secret');
    // Someone with write access to the database swaps the sealed texts.
    await store.conversations.put({ ...(await store.conversations.get('conv_b'))!, sealed: a.sealed });
    await expect(service.getConversation('user:b', 'conv_b')).rejects.toThrow(/failed authentication/);
    expect(await service.getConversation('user:b', 'conv_a')).toBeUndefined();
  });

  it('does not bring back a conversation deleted while its metadata was being updated', async () => {
    const store = fresh();
    const master = generateMasterKey();
    const service = new ConversationService(store.conversations, () => [master], retention);
    await service.createConversation('user:a', {}, 'conv_race');
    // Both look the conversation up before either writes: the delete removes it, then the update lands.
    const [deleted, updated] = await Promise.all([
      service.deleteConversation('user:a', 'conv_race'),
      service.updateConversation('user:a', 'conv_race', { topic: 'late' }),
    ]);
    expect(deleted).toBe(true);
    expect(updated).toBeUndefined();
    expect(await store.conversations.get('conv_race')).toBeUndefined();
  });

  it('holds a conversation to maxItems, oldest first, and re-seals under a new master key', async () => {
    const store = fresh();
    let masters = [generateMasterKey()];
    const service = new ConversationService(store.conversations, () => masters, retention);
    await service.createConversation('user:a', {}, 'conv_x');
    await service.appendItems(
      'user:a',
      'conv_x',
      ['1', '2', '3', '4', '5'].map((n) => message(`msg_${n}`, `turn ${n}`)),
    );
    expect((await service.conversationItems('user:a', 'conv_x'))!.map((i) => i.id)).toEqual([
      'msg_3',
      'msg_4',
      'msg_5',
    ]);

    const next = generateMasterKey();
    expect(await service.rewrap(next)).toBe(1);
    masters = [next];
    expect((await service.conversationItems('user:a', 'conv_x'))!.map((i) => i.id)).toEqual([
      'msg_3',
      'msg_4',
      'msg_5',
    ]);
    expect(await service.getConversation('user:a', 'conv_x')).toMatchObject({ id: 'conv_x' });
  });

  it('trims by position: items another request appends while it trims are kept, and so is what it chose to keep', async () => {
    const store = fresh();
    const master = generateMasterKey();
    let racing = true;
    // Another instance appends two items between the trim's read and its delete.
    const conversations = new Proxy(store.conversations, {
      get(target, name, receiver) {
        if (name !== 'items') return Reflect.get(target, name, receiver);
        return async (...args: Parameters<typeof target.items>) => {
          const rows = await target.items(...args);
          if (racing && args[1]?.order === 'desc') {
            racing = false;
            const late = [message('msg_6', 'late'), message('msg_7', 'later')].map((item) =>
              sealItem(
                master,
                'user:a',
                'conv_t',
                'item',
                { id: item.id, text: JSON.stringify(item) },
                2_000,
              ),
            );
            await target.appendItems({ parentId: 'conv_t', owner: 'user:a', ids: [] }, () => late);
          }
          return rows;
        };
      },
    });
    const service = new ConversationService(conversations, () => [master], retention);
    await service.createConversation('user:a', {}, 'conv_t');
    racing = false;
    await service.appendItems('user:a', 'conv_t', [message('msg_1', 'one'), message('msg_2', 'two')]);
    racing = true;
    await service.appendItems(
      'user:a',
      'conv_t',
      ['3', '4', '5'].map((n) => message(`msg_${n}`, `turn ${n}`)),
    );
    const ids = (await service.conversationItems('user:a', 'conv_t'))!.map((i) => i.id);
    expect(ids.slice(0, 3)).toEqual(['msg_3', 'msg_4', 'msg_5']);
    expect(ids).toContain('msg_6');
    expect(ids).toContain('msg_7');
  });

  it.each([
    ['maxItems', { maxItems: 20 }],
    ['maxBytes', { maxBytes: 20 * 150 }],
  ])(
    'trims a conversation over %s to nine tenths of it, newest kept, so that one held at its limit is not trimmed every turn',
    async (_, limit) => {
      const store = fresh();
      const master = generateMasterKey();
      const service = new ConversationService(store.conversations, () => [master], {
        ...retention,
        maxItems: 1_000,
        ...limit,
      });
      await service.createConversation('user:a', {}, 'conv_t');
      // Each item is 150 bytes of JSON: 20 of them fill either limit.
      const id = (n: number) => `msg_${String(n).padStart(3, '0')}`;
      const append = (from: number, count: number) =>
        service.appendItems(
          'user:a',
          'conv_t',
          Array.from({ length: count }, (_, i) => message(id(from + i), 'x'.repeat(38))),
        );
      const ids = async () => (await service.conversationItems('user:a', 'conv_t'))!.map((item) => item.id);
      await append(0, 20);
      expect(await ids()).toHaveLength(20);
      await append(20, 1);
      expect(await ids()).toEqual(Array.from({ length: 18 }, (_, i) => id(i + 3)));
      await append(21, 2);
      expect(await ids()).toHaveLength(20);
    },
  );

  it('keeps what a tool result with no call before it would have cut: the trim leaves it out of its check', async () => {
    const store = fresh();
    const master = generateMasterKey();
    const service = new ConversationService(store.conversations, () => [master], {
      ...retention,
      maxItems: 10,
    });
    await service.createConversation('user:a', {}, 'conv_orphan');
    const messages = Array.from({ length: 10 }, (_, i) => message(`msg_${i}`, `m${i}`));
    await service.appendItems('user:a', 'conv_orphan', messages);
    const orphan = {
      type: 'function_call_output' as const,
      id: 'fco_nope',
      call_id: 'nope',
      output: 'late',
      status: 'completed' as const,
    };
    await service.appendItems('user:a', 'conv_orphan', [orphan]);
    // Eleven items are over ten: trimmed to nine, the newest ones, the result among them.
    const ids = (await service.conversationItems('user:a', 'conv_orphan'))!.map((item) => item.id);
    expect(ids).toEqual([...messages.slice(2).map((item) => item.id), 'fco_nope']);

    // A result whose call is still held but falls outside what is kept goes, as before.
    await service.createConversation('user:a', {}, 'conv_called');
    const call = {
      type: 'function_call' as const,
      id: 'fc_1',
      call_id: 'c1',
      name: 'f',
      arguments: '{}',
      status: 'completed' as const,
    };
    await service.appendItems('user:a', 'conv_called', [call, ...messages.slice(0, 8)]);
    await service.appendItems('user:a', 'conv_called', [
      { ...orphan, id: 'fco_1', call_id: 'c1' },
      message('msg_last', 'last'),
    ]);
    expect((await service.conversationItems('user:a', 'conv_called'))!.map((item) => item.id)).toEqual([
      'msg_last',
    ]);
  });

  it('gives an appended item an id of its own where the conversation holds its id already', async () => {
    const store = fresh();
    const master = generateMasterKey();
    const service = new ConversationService(store.conversations, () => [master], {
      ...retention,
      maxItems: 100,
    });
    await service.createConversation('user:a', {}, 'conv_ids');
    await service.appendItems('user:a', 'conv_ids', [message('msg_100', 'a'), message('msg_101', 'b')]);
    const stored = await service.appendItems('user:a', 'conv_ids', [
      message('msg_100', 'c'),
      message('msg_102', 'd'),
      message('msg_102', 'e'),
    ]);
    const ids = (await service.conversationItems('user:a', 'conv_ids'))!.map((item) => item.id);
    expect(new Set(ids).size).toBe(5);
    expect(ids.slice(0, 2)).toEqual(['msg_100', 'msg_101']);
    expect(ids[2]).toMatch(/^msg_[0-9a-f]{36}$/);
    expect(ids.slice(3, 4)).toEqual(['msg_102']);
    expect(stored!.map((item) => item.id)).toEqual(ids.slice(2));
    // A cursor that names no item is refused, not read as the first page.
    await expect(service.listItems('user:a', 'conv_ids', { after: 'msg_gone' })).rejects.toMatchObject({
      status: 400,
      param: 'after',
    });
  });

  it('creates a conversation with its items in one transaction: an item the store refuses leaves nothing', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keyward-conv-')), 'keyward.db');
    const store = openSqliteStore(file);
    opened.push(store);
    const db = new Database(file);
    db.exec(`CREATE TRIGGER refuse_item BEFORE INSERT ON conversation_items WHEN NEW.id = 'msg_refused'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
    db.close();
    const master = generateMasterKey();
    const service = new ConversationService(store.conversations, () => [master], retention);
    await expect(
      service.createConversation('user:a', {}, 'conv_refused', [
        message('msg_1', 'one'),
        message('msg_refused', 'two'),
      ]),
    ).rejects.toThrow(/refused by the test/);
    expect(await store.conversations.list({ owner: 'user:a' })).toEqual([]);
    expect(await store.conversations.items('conv_refused')).toEqual([]);

    // Held to maxItems (3) as an append is, an id repeated among the items stored under one of its own.
    await service.createConversation('user:a', {}, 'conv_made', [
      message('msg_0', 'zero'),
      message('msg_1', 'one'),
      message('msg_1', 'again'),
      message('msg_2', 'two'),
    ]);
    const ids = (await service.conversationItems('user:a', 'conv_made'))!.map((item) => item.id);
    expect(ids).toEqual(['msg_1', expect.stringMatching(/^msg_[0-9a-f]{36}$/), 'msg_2']);
  });

  it('lets a purge that deletes in batches finish before close() returns and the store closes', async () => {
    const store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-conv-')), 'keyward.db'));
    const record = (i: number) => ({
      id: `conv_${i}`,
      kind: 'conversation' as const,
      owner: 'user:a',
      createdAt: 10,
      sealed: 'sealed',
    });
    await store.conversations.putAll(
      Array.from({ length: 1_200 }, (_, i) => ({ record: record(i), items: [] })),
    );
    const service = new ConversationService(store.conversations, () => [generateMasterKey()], retention);
    const purged = service.purgeExpired();
    await service.close();
    await store.close();
    expect(await purged).toBe(1_200);
  });

  it('purges what is older than ttlDays, and only that', async () => {
    const store = fresh();
    const master = generateMasterKey();
    let now = Date.UTC(2026, 0, 1);
    const service = new ConversationService(
      store.conversations,
      () => [master],
      { ...retention, ttlDays: 7 },
      { now: () => now },
    );
    await service.createConversation('user:a', {}, 'conv_old');
    now += 6 * 86_400_000;
    await service.createConversation('user:a', {}, 'conv_new');
    now += 2 * 86_400_000;
    expect(await service.purgeExpired()).toBe(1);
    expect(await service.getConversation('user:a', 'conv_old')).toBeUndefined();
    expect(await service.getConversation('user:a', 'conv_new')).toMatchObject({ id: 'conv_new' });
  });
});

describe('ConversationService write-behind of stored responses', () => {
  const retention = { ttlDays: 30, maxItems: 100, maxBytes: 1_000_000, contextTokens: 200_000 };

  it('writes each turn as one batch without waiting for a batch still being written, and reads by owner wait for every batch', async () => {
    const store = fresh();
    const batches: number[] = [];
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The real store, with its first commit held back as a slow disk or a busy writer thread would.
    const target = {
      ...store.conversations,
      putAll: async (entries: Parameters<typeof store.conversations.putAll>[0]) => {
        batches.push(entries.length);
        if (batches.length === 1) await held;
        return store.conversations.putAll(entries);
      },
    };
    const service = new ConversationService(target, () => [generateMasterKey()], retention);
    const saves = [service.saveResponse('user:a', storedAnswer('resp_0', 'first'), [])];
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([1]);
    // Two finish on each of five turns while the first batch is still being written.
    for (let turn = 1; turn <= 5; turn++) {
      saves.push(service.saveResponse('user:a', storedAnswer(`resp_${turn}a`, 'a'), []));
      saves.push(service.saveResponse('user:a', storedAnswer(`resp_${turn}b`, 'b'), []));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(batches).toEqual([1, 2, 2, 2, 2, 2]);
    await Promise.all(saves.slice(1));
    expect(await store.conversations.list()).toHaveLength(10);
    // The held batch lands after the later ones: a listing waits for it too.
    let listedCount: number | undefined;
    const listed = service.listOwner('user:a').then((rows) => {
      listedCount = rows.length;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(listedCount).toBeUndefined();
    release();
    await listed;
    expect(listedCount).toBe(11);
  });

  it('seals in the writer thread under the master key that is newest when the batch is written', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'keyward-conv-')), 'keyward.db');
    const store = openSqliteStore(path);
    opened.push(store);
    const first = generateMasterKey();
    const second = generateMasterKey();
    let masters = [first];
    const thread = builtWriterThread({ databasePath: path });
    const service = new ConversationService(store.conversations, () => masters, retention, {
      writer: new ThreadConversationWriter(thread).write,
    });
    await service.saveResponse('user:a', storedAnswer('resp_1', 'secret one'), []);
    masters = [second, first];
    await service.saveResponse('user:a', storedAnswer('resp_2', 'secret two'), []);
    await thread.close();

    const sealedBy = async (id: string) => (await store.conversations.get(id))!.sealed.split(':')[1];
    expect(await sealedBy('resp_1')).toBe(first.id);
    expect(await sealedBy('resp_2')).toBe(second.id);
    const items = await store.conversations.items('resp_2');
    expect(items.map((item) => item.sealed.split(':')[1])).toEqual([second.id]);
    expect(JSON.stringify(await store.conversations.list())).not.toContain('secret');
    expect(await service.responseHistory('user:a', 'resp_2')).toEqual(
      storedAnswer('resp_2', 'secret two').output,
    );
  });

  it.each([
    ['on the store connection', false],
    ['from the writer thread', true],
  ])(
    'reads a response chain by the links kept beside the sealed texts, and by the sealed texts where none was kept (%s)',
    async (_, threaded) => {
      const path = join(mkdtempSync(join(tmpdir(), 'keyward-conv-')), 'keyward.db');
      const store = openSqliteStore(path);
      opened.push(store);
      const master = generateMasterKey();
      const thread = threaded ? builtWriterThread({ databasePath: path }) : undefined;
      const service = new ConversationService(store.conversations, () => [master], retention, {
        writer: thread && new ThreadConversationWriter(thread).write,
      });
      const expected: Item[] = [];
      let previous: string | null = null;
      for (const n of [1, 2, 3]) {
        const answer: StoredResponse = {
          ...storedAnswer(`resp_${n}`, `answer ${n}`),
          previous_response_id: previous,
        };
        const asked: Item = {
          type: 'message',
          id: `msg_in${n}`,
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: `question ${n}` }],
        };
        await service.saveResponse('user:a', answer, [asked]);
        expected.push(asked, ...answer.output);
        previous = answer.id;
      }
      await thread?.close();
      expect((await store.conversations.get('resp_3'))?.previousId).toBe('resp_2');
      expect((await store.conversations.get('resp_1'))?.previousId).toBeUndefined();
      expect(await service.responseHistory('user:a', 'resp_3')).toEqual(expected);
      expect(await service.responseHistory('user:b', 'resp_3')).toBeUndefined();

      // As stored before the links were kept apart: only the sealed texts name the previous response.
      const raw = new Database(path);
      raw.prepare('UPDATE conversations SET previous_id = NULL').run();
      raw.close();
      expect((await store.conversations.get('resp_3'))?.previousId).toBeUndefined();
      expect(await service.responseHistory('user:a', 'resp_3')).toEqual(expected);
    },
  );

  it.each([
    ['on the store connection', false],
    ['from the writer thread', true],
  ])(
    'reads a queued response, deletes a queued one for good, and commits the rest by close() (%s)',
    async (_, threaded) => {
      const path = join(mkdtempSync(join(tmpdir(), 'keyward-conv-')), 'keyward.db');
      const store = openSqliteStore(path);
      const master = generateMasterKey();
      const thread = threaded ? builtWriterThread({ databasePath: path }) : undefined;
      const service = new ConversationService(store.conversations, () => [master], retention, {
        writer: thread && new ThreadConversationWriter(thread).write,
      });
      // Not awaited: the client has its answer while the write is still queued.
      const kept = service.saveResponse('user:a', storedAnswer('resp_kept', 'kept'), []);
      const gone = service.saveResponse('user:a', storedAnswer('resp_gone', 'gone'), []);
      expect(await service.getResponse('user:a', 'resp_kept')).toMatchObject({ id: 'resp_kept' });
      expect(await service.getResponse('user:b', 'resp_kept')).toBeUndefined();
      expect(await service.deleteResponse('user:a', 'resp_gone')).toBe(true);
      expect(await service.getResponse('user:a', 'resp_gone')).toBeUndefined();
      // The batch landed on the turn after the answers: another connection to the file sees it now.
      await kept;
      const peer = openSqliteStore(path);
      opened.push(peer);
      expect((await peer.conversations.get('resp_kept'))?.owner).toBe('user:a');
      const later = service.saveResponse('user:a', storedAnswer('resp_later', 'later'), []);
      // A graceful shutdown closes the service, the thread, then the store, with no turn of the loop between.
      await service.close();
      await thread?.close();
      await store.close();
      await Promise.all([kept, gone, later]);

      // Another process opening the same file finds what was committed, and not what was deleted.
      const other = openSqliteStore(path);
      opened.push(other);
      expect((await other.conversations.list()).map((r) => r.id).sort()).toEqual(['resp_kept', 'resp_later']);
      expect(await other.conversations.items('resp_gone')).toEqual([]);
      const reader = new ConversationService(other.conversations, () => [master], retention);
      expect(await reader.responseHistory('user:a', 'resp_later')).toEqual(
        storedAnswer('resp_later', 'later').output,
      );
    },
  );
});
