import type Database from 'better-sqlite3';
import { PURGE_BATCH, type PurgedRecord, purgeInBatches } from './purge-batches.js';
import {
  type ChainRow,
  type ConversationRow,
  chainLinkFromRow,
  conversationFromRow,
  type ItemRow,
  itemFromRow,
} from './rows.js';
import type { ConversationItemRecord, ConversationRecord, ConversationStore } from './types.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Responses and conversations in SQLite; deleting a record deletes its items (ON DELETE CASCADE),
 * and deleting a conversation the responses made in it. `deleted` is told once a deletion has
 * committed (the WAL still holds the content as it was written: `walWipe`).
 */
export function sqliteConversations(db: Database.Database, deleted: () => void): ConversationStore {
  // A response made in a conversation that is gone by now is not stored: deleting the conversation
  // must not leave behind a turn that was still being answered.
  const put = db.prepare(
    `INSERT INTO conversations (id, kind, owner, created_at, sealed, previous_id, item_count, item_bytes, conversation_id)
     SELECT @id, @kind, @owner, @createdAt, @sealed, @previousId, @itemCount, @itemBytes, @conversationId
     WHERE @conversationId IS NULL OR EXISTS (SELECT 1 FROM conversations WHERE id = @conversationId)
     ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed`,
  );
  /** False when the record was not stored, its conversation being gone. */
  const putRecord = (record: ConversationRecord) =>
    put.run({
      ...record,
      previousId: record.previousId ?? null,
      itemCount: record.itemCount ?? null,
      itemBytes: record.itemBytes ?? null,
      conversationId: record.conversationId ?? null,
    }).changes === 1;
  const chain = db.prepare<{ id: string; owner: string; limit: number }, ChainRow>(
    `WITH RECURSIVE chain (id, previous_id, item_count, item_bytes, depth) AS (
       SELECT id, previous_id, item_count, item_bytes, 1 FROM conversations
       WHERE id = @id AND owner = @owner AND kind = 'response'
       UNION ALL
       SELECT c.id, c.previous_id, c.item_count, c.item_bytes, chain.depth + 1
       FROM chain JOIN conversations c ON c.id = chain.previous_id
       WHERE chain.depth < @limit AND c.owner = @owner AND c.kind = 'response'
     )
     SELECT id, previous_id, item_count, item_bytes FROM chain ORDER BY depth`,
  );
  const itemTotals = db.prepare<[string], { count: number; bytes: number }>(
    'SELECT COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes FROM conversation_items WHERE parent_id = ?',
  );
  const itemsOf = db.prepare<[string], ItemRow>(
    'SELECT * FROM conversation_items WHERE parent_id IN (SELECT value FROM json_each(?)) ORDER BY seq',
  );
  const get = db.prepare<[string], ConversationRow>('SELECT * FROM conversations WHERE id = ?');
  const remove = db.prepare('DELETE FROM conversations WHERE id = ?');
  const removeResponsesOf = db.prepare('DELETE FROM conversations WHERE conversation_id = ?');
  const listAll = db.prepare<[], ConversationRow>('SELECT * FROM conversations ORDER BY created_at, id');
  const listOwner = db.prepare<[string], ConversationRow>(
    'SELECT * FROM conversations WHERE owner = ? ORDER BY created_at, id',
  );
  const insertItem = db.prepare(
    `INSERT INTO conversation_items (parent_id, id, owner, part, created_at, bytes, sealed)
     VALUES (@parentId, @id, @owner, @part, @createdAt, @bytes, @sealed)`,
  );
  const itemsAsc = db.prepare<[string, number, number], ItemRow>(
    'SELECT * FROM conversation_items WHERE parent_id = ? AND seq > ? ORDER BY seq LIMIT ?',
  );
  const itemsDesc = db.prepare<[string, number, number], ItemRow>(
    'SELECT * FROM conversation_items WHERE parent_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
  );
  const itemInParent = db.prepare<[string, string], ItemRow>(
    'SELECT * FROM conversation_items WHERE parent_id = ? AND id = ? ORDER BY seq LIMIT 1',
  );
  const ownerItems = db.prepare<[string, string], ItemRow>(
    `SELECT * FROM (
       SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY seq DESC) AS newest FROM conversation_items
       WHERE owner = ? AND id IN (SELECT value FROM json_each(?))
     ) WHERE newest = 1`,
  );
  const presentIds = db.prepare<[string, string, string], { id: string }>(
    `SELECT DISTINCT id FROM conversation_items
     WHERE owner = ? AND id IN (SELECT value FROM json_each(?)) AND parent_id = ?`,
  );
  const copiesOf = db.prepare<[string, string], ItemRow>(
    `SELECT * FROM conversation_items
     WHERE parent_id IN (SELECT id FROM conversations WHERE conversation_id = ?) AND id = ? ORDER BY seq`,
  );
  const removeItem = db.prepare('DELETE FROM conversation_items WHERE parent_id = ? AND id = ?');
  const removeCopies = db.prepare(
    `DELETE FROM conversation_items
     WHERE parent_id IN (SELECT id FROM conversations WHERE conversation_id = ?) AND id = ?`,
  );
  const trim = db.prepare('DELETE FROM conversation_items WHERE parent_id = @parentId AND seq < @seq');
  const expired = db.prepare<[number, number], PurgedRecord>(
    'SELECT id, kind FROM conversations WHERE created_at < ? ORDER BY created_at LIMIT ?',
  );
  const ownedBy = db.prepare<[string, number], PurgedRecord>(
    'SELECT id, kind FROM conversations WHERE owner = ? LIMIT ?',
  );
  const responsesIn = db.prepare<[string, number], { id: string }>(
    'SELECT id FROM conversations WHERE conversation_id IN (SELECT value FROM json_each(?)) LIMIT ?',
  );
  const removeItemsOf = db.prepare(
    `DELETE FROM conversation_items WHERE seq IN
       (SELECT seq FROM conversation_items WHERE parent_id IN (SELECT value FROM json_each(?)) LIMIT ?)`,
  );
  // With the responses made in the conversations among them since those were listed.
  const removeRecords = db.prepare(
    `DELETE FROM conversations WHERE id IN (SELECT value FROM json_each(@ids))
       OR conversation_id IN (SELECT value FROM json_each(@conversations))`,
  );
  // Bounded: an owner with many records costs no more than the count asked for (index by owner).
  const countOwned = db.prepare<[string, number], { n: number }>(
    'SELECT count(*) AS n FROM (SELECT 1 FROM conversations WHERE owner = ? LIMIT ?)',
  );
  const setRecord = db.prepare('UPDATE conversations SET sealed = ? WHERE id = ?');
  const swapRecord = db.prepare('UPDATE conversations SET sealed = ? WHERE id = ? AND sealed = ?');
  const setItem = db.prepare('UPDATE conversation_items SET sealed = ? WHERE seq = ?');
  const holdTurn = db.prepare(
    `UPDATE conversations SET turn_holder = @holder, turn_until = @until
     WHERE id = @id AND owner = @owner AND kind = 'conversation'
       AND (turn_holder IS NULL OR turn_holder = @holder OR turn_until <= @now)`,
  );
  const releaseTurn = db.prepare(
    'UPDATE conversations SET turn_holder = NULL, turn_until = 0 WHERE id = ? AND turn_holder = ?',
  );

  const conversationOf = db.prepare<[string, string], { id: string }>(
    "SELECT id FROM conversations WHERE id = ? AND owner = ? AND kind = 'conversation'",
  );
  // Run IMMEDIATE: the write lock is taken before the ids are read, so that another process's
  // append of the same ids waits for this one's commit and then finds them.
  const append = db.transaction(
    (
      { parentId, owner, ids, endTurn }: Parameters<ConversationStore['appendItems']>[0],
      rows: Parameters<ConversationStore['appendItems']>[1],
    ) => {
      if (!conversationOf.get(parentId, owner)) return false;
      const taken = ids.length === 0 ? [] : presentIds.all(owner, JSON.stringify(ids), parentId);
      for (const item of rows(new Set(taken.map((row) => row.id)))) insertItem.run(item);
      if (endTurn !== undefined) releaseTurn.run(parentId, endTurn);
      return true;
    },
  );
  const putAll = db.transaction(
    (
      entries: ReadonlyArray<{
        record: ConversationRecord;
        items: ReadonlyArray<Omit<ConversationItemRecord, 'seq'>>;
      }>,
    ) => {
      for (const { record, items } of entries) {
        if (!putRecord(record)) continue;
        for (const item of items) insertItem.run(item);
      }
    },
  );
  const removeWhole = db.transaction((id: string) => {
    removeResponsesOf.run(id);
    return remove.run(id).changes === 1;
  });
  const removeItemAndCopies = db.transaction((parentId: string, id: string) => {
    removeCopies.run(parentId, id);
    return removeItem.run(parentId, id).changes > 0;
  });
  /** `removed`, once `deleted` has been told when anything went. */
  const told = <T extends boolean | number>(removed: T): T => {
    if (removed) deleted();
    return removed;
  };
  const rewrap = db.transaction(
    (records: ReadonlyMap<string, { from: string; to: string }>, items: ReadonlyMap<number, string>) => {
      for (const [id, { from, to }] of records) swapRecord.run(to, id, from);
      for (const [seq, sealed] of items) setItem.run(sealed, seq);
    },
  );

  /**
   * Removes records `ids` and the responses made in `conversations`, their items first a batch per
   * statement (the cascade would take all of a record's items in one), the event loop running
   * between statements; how many records went.
   */
  const removeBatch = async (ids: readonly string[], conversations: readonly string[]): Promise<number> => {
    const parents = JSON.stringify(ids);
    while (told(removeItemsOf.run(parents, PURGE_BATCH).changes) === PURGE_BATCH) await nextTurn();
    const removed = told(
      removeRecords.run({ ids: parents, conversations: JSON.stringify(conversations) }).changes,
    );
    await nextTurn();
    return removed;
  };

  return {
    async put(record) {
      putRecord(record);
    },
    async update(id, sealed) {
      return setRecord.run(sealed, id).changes === 1;
    },
    async get(id) {
      const row = get.get(id);
      return row && conversationFromRow(row);
    },
    async remove(id) {
      return told(removeWhole(id));
    },
    async countOwned(owner, upTo) {
      return countOwned.get(owner, upTo)?.n ?? 0;
    },
    async list(filter = {}) {
      const rows = filter.owner === undefined ? listAll.all() : listOwner.all(filter.owner);
      return rows
        .filter((row) => filter.kind === undefined || row.kind === filter.kind)
        .map(conversationFromRow);
    },
    async putAll(entries) {
      putAll(entries);
    },
    async holdTurn(hold) {
      return holdTurn.run(hold).changes === 1;
    },
    async releaseTurn(id, holder) {
      releaseTurn.run(id, holder);
    },
    async appendItems(what, rows) {
      return append.immediate(what, rows);
    },
    async chain(id, owner, limit) {
      return chain.all({ id, owner, limit }).map(chainLinkFromRow);
    },
    async itemTotals(parentId) {
      return itemTotals.get(parentId)!;
    },
    async itemsOf(parentIds) {
      return itemsOf.all(JSON.stringify(parentIds)).map(itemFromRow);
    },
    async items(parentId, { afterSeq, limit = -1, order = 'asc' } = {}) {
      const rows =
        order === 'asc'
          ? itemsAsc.all(parentId, afterSeq ?? 0, limit)
          : itemsDesc.all(parentId, afterSeq ?? Number.MAX_SAFE_INTEGER, limit);
      return rows.map(itemFromRow);
    },
    async item({ parentId, id }) {
      const row = itemInParent.get(parentId, id);
      return row && itemFromRow(row);
    },
    async ownerItems(owner, ids) {
      return ids.length === 0 ? [] : ownerItems.all(owner, JSON.stringify(ids)).map(itemFromRow);
    },
    async presentIds(parentId, owner, ids) {
      if (ids.length === 0) return [];
      return presentIds.all(owner, JSON.stringify(ids), parentId).map((row) => row.id);
    },
    async copiesOf(conversationId, id) {
      return copiesOf.all(conversationId, id).map(itemFromRow);
    },
    async removeItem(parentId, id) {
      return told(removeItemAndCopies(parentId, id));
    },
    async trimItemsBefore(parentId, seq) {
      return told(trim.run({ parentId, seq }).changes);
    },
    async purge(filter) {
      return purgeInBatches({
        next:
          'before' in filter
            ? () => expired.all(filter.before, PURGE_BATCH)
            : () => ownedBy.all(filter.owner, PURGE_BATCH),
        responsesIn: (conversations) =>
          responsesIn.all(JSON.stringify(conversations), PURGE_BATCH).map((row) => row.id),
        remove: removeBatch,
      });
    },
    async rewrap(records, items) {
      rewrap(records, items);
    },
  };
}
