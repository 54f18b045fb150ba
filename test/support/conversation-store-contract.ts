import { describe, expect, it } from 'vitest';
import type { ConversationItemRecord, ConversationStore } from '../../src/store/index.js';

/**
 * What every ConversationStore must do, whatever its backend: the SQLite store runs it
 * (test/unit/conversation-store.test.ts), and a Postgres store runs the same function.
 */
export function conversationStoreContract(name: string, open: () => Promise<ConversationStore>): void {
  describe(`${name}: ConversationStore contract`, () => {
    const record = (
      id: string,
      owner: string,
      createdAt = 1_000,
      kind: 'response' | 'conversation' = 'conversation',
    ) => ({
      id,
      kind,
      owner,
      createdAt,
      sealed: `sealed-${id}`,
    });
    const item = (
      parentId: string,
      id: string,
      owner = 'user:a',
      bytes = 10,
    ): Omit<ConversationItemRecord, 'seq'> => ({
      parentId,
      id,
      owner,
      part: 'item',
      createdAt: 1_000,
      bytes,
      sealed: `sealed-${id}`,
    });
    /** Appends to a conversation rows made whatever ids it holds. */
    const append = (store: ConversationStore, rows: Array<Omit<ConversationItemRecord, 'seq'>>) =>
      store.appendItems({ parentId: rows[0]!.parentId, owner: rows[0]!.owner, ids: [] }, () => rows);

    it("counts an owner's records, responses and conversations, up to the bound asked", async () => {
      const store = await open();
      await store.put(record('conv_c1', 'session:counted'));
      await store.put(record('resp_c2', 'session:counted', 1_001, 'response'));
      await store.put(record('resp_c3', 'session:counted', 1_002, 'response'));
      await store.put(record('conv_other', 'session:other'));
      expect(await store.countOwned('session:counted', 10)).toBe(3);
      expect(await store.countOwned('session:counted', 2)).toBe(2);
      expect(await store.countOwned('session:nobody', 10)).toBe(0);
      await store.remove('resp_c2');
      expect(await store.countOwned('session:counted', 10)).toBe(2);
    });

    it('puts, gets, replaces and removes records, with their items', async () => {
      const store = await open();
      await store.put(record('conv_1', 'user:a'));
      expect(await store.get('conv_1')).toEqual(record('conv_1', 'user:a'));
      await store.put({ ...record('conv_1', 'user:a'), sealed: 'changed' });
      expect((await store.get('conv_1'))?.sealed).toBe('changed');
      expect(await store.update('conv_1', 'updated')).toBe(true);
      expect(await store.get('conv_1')).toEqual({ ...record('conv_1', 'user:a'), sealed: 'updated' });
      expect(await store.update('conv_gone', 'x')).toBe(false);
      expect(await store.get('conv_gone')).toBeUndefined();
      await append(store, [item('conv_1', 'msg_1'), item('conv_1', 'msg_2')]);
      expect(await store.remove('conv_1')).toBe(true);
      expect(await store.get('conv_1')).toBeUndefined();
      expect(await store.items('conv_1')).toEqual([]);
      expect(await store.remove('conv_1')).toBe(false);
    });

    it('puts records with their items in one call', async () => {
      const store = await open();
      await store.putAll([
        { record: record('resp_p1', 'user:a', 1_000, 'response'), items: [item('resp_p1', 'in_1')] },
        { record: record('resp_p2', 'user:a', 1_000, 'response'), items: [] },
      ]);
      expect(await store.get('resp_p1')).toEqual(record('resp_p1', 'user:a', 1_000, 'response'));
      expect(await store.get('resp_p2')).toEqual(record('resp_p2', 'user:a', 1_000, 'response'));
      expect((await store.items('resp_p1')).map((i) => i.id)).toEqual(['in_1']);
    });

    it('lists items in order, pages them either way, finds and removes one', async () => {
      const store = await open();
      await store.put(record('conv_2', 'user:a'));
      await append(
        store,
        ['a', 'b', 'c', 'd'].map((id) => item('conv_2', id)),
      );
      const all = await store.items('conv_2');
      expect(all.map((i) => i.id)).toEqual(['a', 'b', 'c', 'd']);
      expect(all.map((i) => i.seq)).toEqual([...all.map((i) => i.seq)].sort((x, y) => x - y));
      expect((await store.items('conv_2', { afterSeq: all[1]!.seq, limit: 1 })).map((i) => i.id)).toEqual([
        'c',
      ]);
      expect((await store.items('conv_2', { order: 'desc', limit: 2 })).map((i) => i.id)).toEqual(['d', 'c']);
      expect(
        (await store.items('conv_2', { order: 'desc', afterSeq: all[2]!.seq })).map((i) => i.id),
      ).toEqual(['b', 'a']);
      expect((await store.item({ parentId: 'conv_2', id: 'b' }))?.sealed).toBe('sealed-b');
      expect((await store.ownerItems('user:a', ['c', 'missing'])).map((i) => [i.parentId, i.id])).toEqual([
        ['conv_2', 'c'],
      ]);
      expect(await store.ownerItems('user:other', ['c'])).toEqual([]);
      expect(await store.ownerItems('user:a', [])).toEqual([]);
      // A referenced item is stored again with its id: the newest copy is the one found.
      await store.put(record('conv_copy', 'user:a'));
      await append(store, [{ ...item('conv_copy', 'c'), sealed: 'sealed-c-again' }]);
      expect((await store.ownerItems('user:a', ['c'])).map((i) => i.sealed)).toEqual(['sealed-c-again']);
      expect(await store.removeItem('conv_2', 'b')).toBe(true);
      expect(await store.removeItem('conv_2', 'b')).toBe(false);
      const [, c] = await store.items('conv_2');
      expect(await store.trimItemsBefore('conv_2', c!.seq)).toBe(1);
      expect((await store.items('conv_2')).map((i) => i.id)).toEqual(['c', 'd']);
    });

    it('lists by owner and kind, purges by age and by owner', async () => {
      const store = await open();
      await store.put(record('old_1', 'user:p', 10));
      await store.put(record('new_1', 'user:p', 5_000, 'response'));
      await store.put(record('new_2', 'user:q', 5_000));
      await append(store, [item('old_1', 'x', 'user:p')]);
      expect((await store.list({ owner: 'user:p' })).map((r) => r.id)).toEqual(['old_1', 'new_1']);
      expect((await store.list({ owner: 'user:p', kind: 'response' })).map((r) => r.id)).toEqual(['new_1']);
      expect(await store.purge({ before: 100 })).toBeGreaterThanOrEqual(1);
      expect(await store.get('old_1')).toBeUndefined();
      expect(await store.ownerItems('user:p', ['x'])).toEqual([]);
      expect(await store.purge({ owner: 'user:p' })).toBe(1);
      expect(await store.list({ owner: 'user:p' })).toEqual([]);
      expect(await store.get('new_2')).toBeDefined();
    });

    it('purges by age and by owner a batch at a time, letting the event loop run, and removes what it did in one statement', async () => {
      const store = await open();
      const response = (id: string, createdAt: number, conversationId?: string) => ({
        ...record(id, 'user:a', createdAt, 'response'),
        ...(conversationId !== undefined && { conversationId }),
      });
      const many = <T>(count: number, make: (i: number) => T): T[] =>
        Array.from({ length: count }, (_, i) => make(i));
      const expired = [
        ...many(700, (i) => ({
          record: record(`conv_old_${i}`, 'user:a', 10),
          items: [item(`conv_old_${i}`, 'm')],
        })),
        ...many(300, (i) => ({ record: response(`resp_old_${i}`, 10), items: [item(`resp_old_${i}`, 'm')] })),
        // More items than a batch, and more responses made in it than a batch, younger than it.
        { record: record('conv_busy', 'user:a', 10), items: many(1_200, (i) => item('conv_busy', `m${i}`)) },
        ...many(600, (i) => ({
          record: response(`resp_busy_${i}`, 5_000, 'conv_busy'),
          items: [item(`resp_busy_${i}`, 'm')],
        })),
        // Expired itself, in a conversation that is not.
        { record: response('resp_old_in_new', 10, 'conv_new_0'), items: [item('resp_old_in_new', 'm')] },
      ];
      const kept = [
        ...many(3, (i) => ({
          record: record(`conv_new_${i}`, 'user:a', 5_000),
          items: [item(`conv_new_${i}`, 'm')],
        })),
        ...many(2, (i) => ({
          record: response(`resp_new_${i}`, 5_000, 'conv_new_0'),
          items: [item(`resp_new_${i}`, 'm')],
        })),
      ];
      // The conversation first: a response whose conversation is missing is not stored.
      await store.putAll([...kept.slice(0, 3), ...expired, ...kept.slice(3)]);

      let turns = 0;
      let purging = true;
      const count = () => {
        if (!purging) return;
        turns++;
        setImmediate(count);
      };
      setImmediate(count);
      const purged = await store.purge({ before: 100 });
      purging = false;
      expect(purged).toBe(expired.length);
      // Requests are served between its statements, not after the whole table.
      expect(turns).toBeGreaterThan(2);
      expect((await store.list()).map((r) => r.id).sort()).toEqual(kept.map((k) => k.record.id).sort());
      expect(await store.itemsOf(expired.map((e) => e.record.id))).toEqual([]);
      expect(await store.itemsOf(kept.map((k) => k.record.id))).toHaveLength(kept.length);

      await store.putAll([
        {
          record: record('conv_many', 'user:many', 5_000),
          items: many(600, (i) => item('conv_many', `m${i}`, 'user:many')),
        },
        ...many(550, (i) => ({ record: record(`conv_many_${i}`, 'user:many', 5_000), items: [] })),
      ]);
      expect(await store.purge({ owner: 'user:many' })).toBe(551);
      expect(await store.itemTotals('conv_many')).toEqual({ count: 0, bytes: 0 });
      expect(await store.list()).toHaveLength(kept.length);
    });

    it('rewraps records and items in one go', async () => {
      const store = await open();
      await store.put(record('conv_r', 'user:a'));
      await append(store, [item('conv_r', 'i1')]);
      const [stored] = await store.items('conv_r');
      await store.put(record('conv_changed', 'user:a'));
      await store.update('conv_changed', 'changed meanwhile');
      await store.rewrap(
        new Map([
          ['conv_r', { from: 'sealed-conv_r', to: 'resealed' }],
          ['conv_changed', { from: 'sealed-conv_changed', to: 'resealed' }],
        ]),
        new Map([[stored!.seq, 'resealed-item']]),
      );
      expect((await store.get('conv_r'))?.sealed).toBe('resealed');
      expect((await store.items('conv_r'))[0]?.sealed).toBe('resealed-item');
      // A record changed since it was read keeps its change: a later sweep re-seals it.
      expect((await store.get('conv_changed'))?.sealed).toBe('changed meanwhile');
    });

    it("reads an owner's response chain newest first, a page at a time, and the items of several records", async () => {
      const store = await open();
      const response = (id: string, previousId?: string, owner = 'user:a') => ({
        ...record(id, owner, 1_000, 'response'),
        ...(previousId !== undefined && { previousId }),
      });
      await store.putAll([
        { record: response('resp_c1'), items: [item('resp_c1', 'in_1'), item('resp_c1', 'out_1')] },
        { record: response('resp_c2', 'resp_c1'), items: [item('resp_c2', 'in_2')] },
        { record: response('resp_c3', 'resp_c2'), items: [item('resp_c3', 'in_3')] },
        // Another owner's response continuing this owner's: its chain stops at its own.
        { record: response('resp_x', 'resp_c3', 'user:b'), items: [] },
        // Continues a response that is gone.
        { record: response('resp_orphan', 'resp_deleted'), items: [] },
      ]);
      await store.put(record('conv_c', 'user:a'));
      expect(await store.get('resp_c2')).toEqual(response('resp_c2', 'resp_c1'));
      expect(await store.chain('resp_c3', 'user:a', 10)).toEqual([
        { id: 'resp_c3', previousId: 'resp_c2' },
        { id: 'resp_c2', previousId: 'resp_c1' },
        { id: 'resp_c1' },
      ]);
      expect(await store.chain('resp_c3', 'user:a', 2)).toEqual([
        { id: 'resp_c3', previousId: 'resp_c2' },
        { id: 'resp_c2', previousId: 'resp_c1' },
      ]);
      expect(await store.chain('resp_x', 'user:b', 10)).toEqual([{ id: 'resp_x', previousId: 'resp_c3' }]);
      expect(await store.chain('resp_c3', 'user:b', 10)).toEqual([]);
      expect(await store.chain('conv_c', 'user:a', 10)).toEqual([]);
      expect(await store.chain('resp_orphan', 'user:a', 10)).toEqual([
        { id: 'resp_orphan', previousId: 'resp_deleted' },
      ]);
      const items = await store.itemsOf(['resp_c3', 'resp_c1', 'resp_missing']);
      expect(items.map((row) => [row.parentId, row.id])).toEqual([
        ['resp_c1', 'in_1'],
        ['resp_c1', 'out_1'],
        ['resp_c3', 'in_3'],
      ]);
      expect(await store.itemsOf([])).toEqual([]);
      expect(await store.itemTotals('resp_c1')).toEqual({ count: 2, bytes: 20 });
      expect(await store.itemTotals('resp_orphan')).toEqual({ count: 0, bytes: 0 });
    });

    it("keeps a response's item count and bytes beside it, for a chain to read before its items", async () => {
      const store = await open();
      await store.putAll([
        {
          record: { ...record('resp_s1', 'user:a', 1_000, 'response'), itemCount: 2, itemBytes: 30 },
          items: [item('resp_s1', 'in_1', 'user:a', 10), item('resp_s1', 'out_1', 'user:a', 20)],
        },
        {
          record: {
            ...record('resp_s2', 'user:a', 1_000, 'response'),
            previousId: 'resp_s1',
            itemCount: 0,
            itemBytes: 0,
          },
          items: [],
        },
      ]);
      // A record stored before the sizes were kept has none.
      await store.put({ ...record('resp_s0', 'user:a', 1_000, 'response') });
      expect(await store.chain('resp_s2', 'user:a', 10)).toEqual([
        { id: 'resp_s2', previousId: 'resp_s1', itemCount: 0, itemBytes: 0 },
        { id: 'resp_s1', itemCount: 2, itemBytes: 30 },
      ]);
      expect(await store.get('resp_s1')).toMatchObject({ itemCount: 2, itemBytes: 30 });
      expect(await store.chain('resp_s0', 'user:a', 10)).toEqual([{ id: 'resp_s0' }]);
    });

    it('deletes a conversation with the responses made in it, and an item with its copies in them', async () => {
      const store = await open();
      const made = (id: string, conversationId?: string, createdAt = 1_000) => ({
        ...record(id, 'user:a', createdAt, 'response'),
        ...(conversationId !== undefined && { conversationId }),
      });
      await store.put(record('conv_d', 'user:a'));
      await store.put(record('conv_kept', 'user:a'));
      await append(store, [item('conv_d', 'msg_in'), item('conv_d', 'msg_out')]);
      await store.putAll([
        {
          record: made('resp_in', 'conv_d'),
          items: [
            { ...item('resp_in', 'msg_in'), part: 'input' },
            { ...item('resp_in', 'msg_out'), part: 'output' },
          ],
        },
        { record: made('resp_elsewhere', 'conv_kept'), items: [item('resp_elsewhere', 'msg_in')] },
        { record: made('resp_alone'), items: [item('resp_alone', 'msg_in')] },
        // Its conversation is gone by the time it is written: neither it nor its items are stored.
        { record: made('resp_late', 'conv_never'), items: [item('resp_late', 'msg_late')] },
      ]);
      expect(await store.get('resp_late')).toBeUndefined();
      expect(await store.items('resp_late')).toEqual([]);
      expect((await store.presentIds('conv_d', 'user:a', ['msg_in', 'msg_new'])).sort()).toEqual(['msg_in']);
      expect(await store.presentIds('conv_d', 'user:b', ['msg_in'])).toEqual([]);
      expect(await store.presentIds('conv_d', 'user:a', [])).toEqual([]);
      expect((await store.copiesOf('conv_d', 'msg_out')).map((i) => [i.parentId, i.part])).toEqual([
        ['resp_in', 'output'],
      ]);

      // An item goes with its copies in the conversation's responses, and nowhere else.
      expect(await store.removeItem('conv_d', 'msg_in')).toBe(true);
      expect((await store.items('conv_d')).map((i) => i.id)).toEqual(['msg_out']);
      expect((await store.items('resp_in')).map((i) => i.id)).toEqual(['msg_out']);
      expect((await store.items('resp_elsewhere')).map((i) => i.id)).toEqual(['msg_in']);
      expect((await store.items('resp_alone')).map((i) => i.id)).toEqual(['msg_in']);
      expect(await store.removeItem('conv_d', 'msg_in')).toBe(false);

      // The conversation goes with its responses; a response's own removal touches nothing else.
      expect(await store.remove('conv_d')).toBe(true);
      expect(await store.get('resp_in')).toBeUndefined();
      expect(await store.items('resp_in')).toEqual([]);
      expect(await store.get('resp_elsewhere')).toBeDefined();
      expect(await store.get('resp_alone')).toBeDefined();
      expect(await store.remove('conv_d')).toBe(false);

      // A conversation purged for its age takes its younger responses along.
      await store.put(record('conv_old', 'user:a', 10));
      await store.putAll([{ record: made('resp_young', 'conv_old', 5_000), items: [] }]);
      expect(await store.purge({ before: 100 })).toBe(2);
      expect(await store.get('resp_young')).toBeUndefined();
      expect(await store.get('conv_kept')).toBeDefined();
    });

    it("holds a conversation for one holder's turn until released or lapsed, and only its owner's", async () => {
      const store = await open();
      await store.put(record('conv_h', 'user:a'));
      await store.put(record('resp_h', 'user:a', 1_000, 'response'));
      const hold = (holder: string, now: number, owner = 'user:a', id = 'conv_h') =>
        store.holdTurn({ id, owner, holder, now, until: now + 30_000 });
      expect(await hold('first', 1_000)).toBe(true);
      expect(await hold('second', 2_000)).toBe(false);
      // The holder renews its own hold; someone else's owner or a response is never held.
      expect(await hold('first', 20_000)).toBe(true);
      expect(await hold('second', 40_000)).toBe(false);
      expect(await hold('other', 1_000, 'user:b')).toBe(false);
      expect(await hold('first', 1_000, 'user:a', 'resp_h')).toBe(false);
      // A release by anyone but the holder changes nothing.
      await store.releaseTurn('conv_h', 'second');
      expect(await hold('second', 41_000)).toBe(false);
      await store.releaseTurn('conv_h', 'first');
      // Another owner naming the free conversation takes nothing: its owner's next turn goes ahead.
      expect(await hold('other', 41_000, 'user:b')).toBe(false);
      expect(await hold('second', 41_000)).toBe(true);
      // A holder that died leaves a hold that lapses at its end.
      expect(await hold('third', 71_000)).toBe(true);
      expect((await store.get('conv_h'))?.sealed).toBe('sealed-conv_h');
    });

    it("appends told the ids a conversation holds, only to its owner's conversation, and can end a turn with it", async () => {
      const store = await open();
      await store.put(record('conv_a', 'user:a'));
      await store.put(record('resp_a', 'user:a', 1_000, 'response'));
      const told: string[][] = [];
      const appendAs = (ids: string[], owner = 'user:a', parentId = 'conv_a', endTurn?: string) =>
        store.appendItems({ parentId, owner, ids, ...(endTurn && { endTurn }) }, (taken) => {
          told.push([...taken].sort());
          return ids.map((id) => item(parentId, taken.has(id) ? `${id}_renamed` : id, owner));
        });
      expect(await appendAs(['msg_1', 'msg_2'])).toBe(true);
      expect(await appendAs(['msg_2', 'msg_3'])).toBe(true);
      expect(told).toEqual([[], ['msg_2']]);
      expect((await store.items('conv_a')).map((i) => i.id)).toEqual([
        'msg_1',
        'msg_2',
        'msg_2_renamed',
        'msg_3',
      ]);
      // Another owner's conversation, a response, one that is gone: nothing is made or stored.
      expect(await appendAs(['msg_4'], 'user:b')).toBe(false);
      expect(await appendAs(['msg_4'], 'user:a', 'resp_a')).toBe(false);
      expect(await appendAs(['msg_4'], 'user:a', 'conv_gone')).toBe(false);
      expect(told).toHaveLength(2);
      expect(await store.items('conv_a')).toHaveLength(4);
      // A turn's items end its hold in the same transaction; another holder's hold stays.
      const hold = (holder: string) =>
        store.holdTurn({ id: 'conv_a', owner: 'user:a', holder, now: 1_000, until: 31_000 });
      expect(await hold('turn')).toBe(true);
      expect(await appendAs(['msg_5'], 'user:a', 'conv_a', 'someone else')).toBe(true);
      expect(await hold('next')).toBe(false);
      expect(await appendAs(['msg_6'], 'user:a', 'conv_a', 'turn')).toBe(true);
      expect(await hold('next')).toBe(true);
      expect((await store.items('conv_a')).map((i) => i.id).slice(4)).toEqual(['msg_5', 'msg_6']);
    });
  });
}
