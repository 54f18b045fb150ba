import type { Pool, PoolClient } from 'pg';
import { inTransaction } from './pg-transaction.js';
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

type NewItem = Omit<ConversationItemRecord, 'seq'>;

// A response made in a conversation that is gone by now is not stored: deleting the conversation
// must not leave behind a turn that was still being answered. The conversation's row is locked
// (KEY SHARE) until the write commits: a deletion that comes meanwhile waits for it and then finds
// the response (see `remove`); one that came first makes this find no conversation.
const PUT = `INSERT INTO conversations
    (id, kind, owner, created_at, sealed, previous_id, item_count, item_bytes, conversation_id)
  SELECT $1::text, $2::text, $3::text, $4::bigint, $5::text, $6::text, $7::bigint, $8::bigint, $9::text
  WHERE $9::text IS NULL OR EXISTS (SELECT 1 FROM conversations WHERE id = $9::text FOR KEY SHARE)
  ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed`;

/** False when the record was not stored, its conversation being gone. */
const putRecord = async (client: Pool | PoolClient, r: ConversationRecord): Promise<boolean> =>
  (
    await client.query(PUT, [
      r.id,
      r.kind,
      r.owner,
      r.createdAt,
      r.sealed,
      r.previousId ?? null,
      r.itemCount ?? null,
      r.itemBytes ?? null,
      r.conversationId ?? null,
    ])
  ).rowCount === 1;

const CHAIN = `WITH RECURSIVE chain (id, previous_id, item_count, item_bytes, depth) AS (
    SELECT id, previous_id, item_count, item_bytes, 1 FROM conversations
    WHERE id = $1 AND owner = $2 AND kind = 'response'
    UNION ALL
    SELECT c.id, c.previous_id, c.item_count, c.item_bytes, chain.depth + 1
    FROM chain JOIN conversations c ON c.id = chain.previous_id
    WHERE chain.depth < $3 AND c.owner = $2 AND c.kind = 'response'
  )
  SELECT id, previous_id, item_count, item_bytes FROM chain ORDER BY depth`;

/** Items in one statement, in order: seq follows the order of the rows. */
async function insertItems(client: PoolClient, items: readonly NewItem[]): Promise<void> {
  if (items.length === 0) return;
  await client.query(
    `INSERT INTO conversation_items (parent_id, id, owner, part, created_at, bytes, sealed)
     SELECT parent_id, id, owner, part, created_at, bytes, sealed
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[])
       WITH ORDINALITY AS i(parent_id, id, owner, part, created_at, bytes, sealed, n)
     ORDER BY n`,
    [
      items.map((i) => i.parentId),
      items.map((i) => i.id),
      items.map((i) => i.owner),
      items.map((i) => i.part),
      items.map((i) => i.createdAt),
      items.map((i) => i.bytes),
      items.map((i) => i.sealed),
    ],
  );
}

/**
 * Removes records `ids` and the responses made in `conversations`, their items first a batch per
 * statement (the cascade would take all of a record's items in one); how many records went.
 */
async function removeBatch(
  pool: Pool,
  ids: readonly string[],
  conversations: readonly string[],
): Promise<number> {
  const removeItems = `DELETE FROM conversation_items WHERE seq IN
    (SELECT seq FROM conversation_items WHERE parent_id = ANY($1::text[]) LIMIT $2)`;
  for (;;) {
    const { rowCount } = await pool.query(removeItems, [ids, PURGE_BATCH]);
    if (rowCount !== PURGE_BATCH) break;
  }
  return inTransaction(pool, async (client) => {
    // The records first, as in `remove`: a conversation's row lock waits for a response being
    // written in it, and the next statement, which reads anew, then finds that response too.
    const removed = await client.query('DELETE FROM conversations WHERE id = ANY($1::text[])', [ids]);
    if (conversations.length === 0) return removed.rowCount ?? 0;
    const late = await client.query('DELETE FROM conversations WHERE conversation_id = ANY($1::text[])', [
      conversations,
    ]);
    return (removed.rowCount ?? 0) + (late.rowCount ?? 0);
  });
}

/**
 * Responses and conversations in Postgres; deleting a record deletes its items (ON DELETE CASCADE),
 * and deleting a conversation the responses made in it.
 */
export function pgConversations(pool: Pool): ConversationStore {
  return {
    async put(record) {
      await putRecord(pool, record);
    },
    async update(id, sealed) {
      const { rowCount } = await pool.query('UPDATE conversations SET sealed = $1 WHERE id = $2', [
        sealed,
        id,
      ]);
      return rowCount === 1;
    },
    async get(id) {
      const row = (await pool.query<ConversationRow>('SELECT * FROM conversations WHERE id = $1', [id]))
        .rows[0];
      return row && conversationFromRow(row);
    },
    async remove(id) {
      // The conversation first: its row lock waits for a response being written in it (see PUT),
      // and the second statement, which reads anew, then finds that response too.
      return inTransaction(pool, async (client) => {
        const { rowCount } = await client.query('DELETE FROM conversations WHERE id = $1', [id]);
        await client.query('DELETE FROM conversations WHERE conversation_id = $1', [id]);
        return rowCount === 1;
      });
    },
    async countOwned(owner, upTo) {
      // Bounded: an owner with many records costs no more than the count asked for (index by owner).
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM (SELECT 1 FROM conversations WHERE owner = $1 LIMIT $2) owned',
        [owner, upTo],
      );
      return rows[0]?.n ?? 0;
    },
    async list(filter = {}) {
      const { rows } = await pool.query<ConversationRow>(
        `SELECT * FROM conversations WHERE ($1::text IS NULL OR owner = $1) AND ($2::text IS NULL OR kind = $2)
         ORDER BY created_at, id`,
        [filter.owner ?? null, filter.kind ?? null],
      );
      return rows.map(conversationFromRow);
    },
    async putAll(entries) {
      await inTransaction(pool, async (client) => {
        for (const { record, items } of entries)
          if (await putRecord(client, record)) await insertItems(client, items);
      });
    },
    async holdTurn({ id, owner, holder, now, until }) {
      const { rowCount } = await pool.query(
        `UPDATE conversations SET turn_holder = $3, turn_until = $5
         WHERE id = $1 AND owner = $2 AND kind = 'conversation'
           AND (turn_holder IS NULL OR turn_holder = $3 OR turn_until <= $4)`,
        [id, owner, holder, now, until],
      );
      return rowCount === 1;
    },
    async releaseTurn(id, holder) {
      await pool.query(
        'UPDATE conversations SET turn_holder = NULL, turn_until = 0 WHERE id = $1 AND turn_holder = $2',
        [id, holder],
      );
    },
    async appendItems({ parentId, owner, ids, endTurn }, rows) {
      return inTransaction(pool, async (client) => {
        // The conversation's row is locked until the commit, and the ids are read after the lock
        // was granted (a statement of its own, so a snapshot of its own): another instance's append
        // of the same ids waits, then finds them. The turn's hold ends in the same statement.
        const { rowCount } = await client.query(
          endTurn === undefined
            ? `SELECT 1 FROM conversations WHERE id = $1 AND owner = $2 AND kind = 'conversation'
               FOR NO KEY UPDATE`
            : `UPDATE conversations SET
                 turn_holder = CASE WHEN turn_holder = $3 THEN NULL ELSE turn_holder END,
                 turn_until = CASE WHEN turn_holder = $3 THEN 0 ELSE turn_until END
               WHERE id = $1 AND owner = $2 AND kind = 'conversation'`,
          endTurn === undefined ? [parentId, owner] : [parentId, owner, endTurn],
        );
        if (rowCount !== 1) return false;
        const taken =
          ids.length === 0
            ? []
            : (
                await client.query<{ id: string }>(
                  'SELECT DISTINCT id FROM conversation_items WHERE parent_id = $1 AND id = ANY($2::text[])',
                  [parentId, ids],
                )
              ).rows;
        await insertItems(client, rows(new Set(taken.map((row) => row.id))));
        return true;
      });
    },
    async chain(id, owner, limit) {
      return (await pool.query<ChainRow>(CHAIN, [id, owner, limit])).rows.map(chainLinkFromRow);
    },
    async itemTotals(parentId) {
      const { rows } = await pool.query<{ count: string; bytes: string }>(
        'SELECT COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes FROM conversation_items WHERE parent_id = $1',
        [parentId],
      );
      return { count: Number(rows[0]!.count), bytes: Number(rows[0]!.bytes) };
    },
    async itemsOf(parentIds) {
      const { rows } = await pool.query<ItemRow>(
        'SELECT * FROM conversation_items WHERE parent_id = ANY($1::text[]) ORDER BY seq',
        [parentIds],
      );
      return rows.map(itemFromRow);
    },
    async items(parentId, { afterSeq, limit, order = 'asc' } = {}) {
      const { rows } =
        order === 'asc'
          ? await pool.query<ItemRow>(
              'SELECT * FROM conversation_items WHERE parent_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
              [parentId, afterSeq ?? 0, limit ?? null],
            )
          : await pool.query<ItemRow>(
              'SELECT * FROM conversation_items WHERE parent_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3',
              [parentId, afterSeq ?? Number.MAX_SAFE_INTEGER, limit ?? null],
            );
      return rows.map(itemFromRow);
    },
    async item({ parentId, id }) {
      const { rows } = await pool.query<ItemRow>(
        'SELECT * FROM conversation_items WHERE parent_id = $1 AND id = $2 ORDER BY seq LIMIT 1',
        [parentId, id],
      );
      return rows[0] && itemFromRow(rows[0]);
    },
    async ownerItems(owner, ids) {
      if (ids.length === 0) return [];
      const { rows } = await pool.query<ItemRow>(
        `SELECT DISTINCT ON (id) * FROM conversation_items WHERE owner = $1 AND id = ANY($2::text[])
         ORDER BY id, seq DESC`,
        [owner, ids],
      );
      return rows.map(itemFromRow);
    },
    async presentIds(parentId, owner, ids) {
      if (ids.length === 0) return [];
      const { rows } = await pool.query<{ id: string }>(
        `SELECT DISTINCT id FROM conversation_items
         WHERE owner = $1 AND id = ANY($2::text[]) AND parent_id = $3`,
        [owner, ids, parentId],
      );
      return rows.map((row) => row.id);
    },
    async copiesOf(conversationId, id) {
      const { rows } = await pool.query<ItemRow>(
        `SELECT * FROM conversation_items
         WHERE parent_id IN (SELECT id FROM conversations WHERE conversation_id = $1) AND id = $2
         ORDER BY seq`,
        [conversationId, id],
      );
      return rows.map(itemFromRow);
    },
    async removeItem(parentId, id) {
      // One statement: the copies in the conversation's responses go with the item, or neither does.
      const result = await pool.query(
        `WITH copies AS (
           DELETE FROM conversation_items
           WHERE parent_id IN (SELECT id FROM conversations WHERE conversation_id = $1) AND id = $2
         )
         DELETE FROM conversation_items WHERE parent_id = $1 AND id = $2`,
        [parentId, id],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async trimItemsBefore(parentId, seq) {
      const result = await pool.query('DELETE FROM conversation_items WHERE parent_id = $1 AND seq < $2', [
        parentId,
        seq,
      ]);
      return result.rowCount ?? 0;
    },
    async purge(filter) {
      const [where, value] =
        'before' in filter ? ['created_at < $1', filter.before] : ['owner = $1', filter.owner];
      const listed = `SELECT id, kind FROM conversations WHERE ${where} ORDER BY created_at LIMIT $2`;
      return purgeInBatches({
        next: async () => (await pool.query<PurgedRecord>(listed, [value, PURGE_BATCH])).rows,
        responsesIn: async (conversations) =>
          (
            await pool.query<{ id: string }>(
              'SELECT id FROM conversations WHERE conversation_id = ANY($1::text[]) LIMIT $2',
              [conversations, PURGE_BATCH],
            )
          ).rows.map((row) => row.id),
        remove: (ids, conversations) => removeBatch(pool, ids, conversations),
      });
    },
    async rewrap(records, items) {
      await inTransaction(pool, async (client) => {
        for (const [id, { from, to }] of records)
          await client.query('UPDATE conversations SET sealed = $1 WHERE id = $2 AND sealed = $3', [
            to,
            id,
            from,
          ]);
        for (const [seq, sealed] of items)
          await client.query('UPDATE conversation_items SET sealed = $1 WHERE seq = $2', [sealed, seq]);
      });
    },
  };
}
