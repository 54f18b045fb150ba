import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConversationsConfig } from '../config/conversations-schema.js';
import { within } from '../errors/deadline.js';
import { badRequest, GatewayError } from '../errors/gateway-error.js';
import { type MasterKey, sealedBy } from '../keys/index.js';
import type {
  ChainLink,
  ConversationItemRecord,
  ConversationRecord,
  ConversationStore,
} from '../store/index.js';
import { StoreUnreachableError } from '../store/index.js';
import { idCreatedAt, withFreshId } from './ids.js';
import { type Item, isToolCall, isToolResult, uncalledResults } from './items.js';
import { ResponseBatches } from './response-batches.js';
import {
  type ResponseEntry,
  type ResponseWriter,
  responseEntry,
  type StoredResponse,
  storeWriter,
} from './response-entries.js';
import { itemKey, openJson, reseal, sealItem, sealJson } from './sealing.js';
import { RoomHold, StoredRoom } from './stored-room.js';

export type { StoredResponse } from './response-entries.js';
export type { RoomHold } from './stored-room.js';

export interface ConversationBody {
  id: string;
  object: 'conversation';
  created_at: number;
  metadata: Record<string, string>;
}

/** A conversation held for one turn (`ConversationService.beginTurn`). */
export interface HeldTurn {
  /**
   * Ends the turn, once: appends `items` (its input and answer) and frees the conversation in one
   * transaction, so that the client's next turn, wherever it runs, reads them and finds it free;
   * without items (the turn failed, or its client left) frees it only. Later calls change nothing
   * and answer the first one's promise. With items it rejects (503, `turnNotStored`) when the
   * store fails or takes longer than `TURN_END_MS`; the store's own error is the rejection's
   * `cause`. Freeing only never rejects: a hold not ended lapses on its own.
   */
  end(items?: readonly Item[]): Promise<void>;
}

export interface ItemPage {
  object: 'list';
  data: Item[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export interface PageOptions {
  after?: string;
  limit?: number;
  order?: 'asc' | 'desc';
}

/** Longest `previous_response_id` chain replayed: a loop or an absurd chain cannot pin the gateway. */
const MAX_CHAIN = 10_000;
/** How long a turn holds its conversation unless renewed: what a holder that died leaves locked. */
const TURN_HOLD_MS = 30_000;
const TURN_RENEW_MS = 10_000;
/**
 * How long the end of a turn's answer waits for its items to be stored: a store that stopped
 * answering held the end of every conversation answer until it came back. Well under the hold, so
 * that a client told to read the conversation before retrying finds it free soon after.
 */
const TURN_END_MS = 10_000;
const storeLate = () => new Error(`the store did not answer within ${TURN_END_MS} ms`);
/** Items read at a time from a conversation's newest end while a `HistoryLimit` decides. */
const HISTORY_PAGE = 256;
/** Responses of a chain read at a time, with their items, while a `HistoryLimit` decides. */
const CHAIN_PAGE = 256;

/**
 * Told each part of a history as it loads, newest part first (each part in order); true once the
 * parts so far are more than a request could replay, so that nothing older is read or opened: a
 * long chain or conversation would otherwise cost every turn a store read and a decryption per
 * item, however little of it the context window takes.
 */
export type HistoryLimit = (part: readonly Item[]) => boolean;
const DAY_MS = 86_400_000;
const PURGE_EVERY_MS = 3_600_000;

const ignore = (): void => undefined;
/** `work` waited for no longer than TURN_END_MS, however it ends: what waits on a store that may hang. */
const waitedFor = (work: Promise<unknown>): Promise<void> =>
  within(work, TURN_END_MS, storeLate).then(ignore, ignore);

/**
 * Another process on the same store (a worker of `--workers`, an instance on Postgres) answers a
 * stored response before its batch commits: a client's next call, reaching this process at once,
 * found no such id for some tens of ms and got 404. A miss on an id made within RECENT_ID_MS is
 * read again after each of these waits (630 ms in all); any other miss is answered at once.
 */
const RECENT_ID_MS = 2_000;
const LANDING_WAITS_MS = [10, 20, 40, 80, 160, 320];

/**
 * Server-side conversation state: stored responses and conversations, their items, sealed at rest
 * and visible only to their owner. Every read takes the owner and answers undefined for anyone
 * else's record, exactly as for a record that does not exist, so the routes answer 404 alike.
 */
export class ConversationService {
  /** Writes not yet committed, so that a read right after a response finished sees it. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Stored responses waiting for the next batch. */
  private queued: ResponseEntry[] = [];
  /** The next batch: committed on the next turn of the event loop. */
  private batch: Promise<void> | undefined;
  /** Batches handed to the writer and not yet committed. */
  private readonly writing = new Set<Promise<void>>();
  /** Purges under way: they delete a batch at a time, over many turns of the event loop. */
  private readonly purging = new Set<Promise<number>>();
  /** Stores admitted against owners' limits and not yet landed. */
  private readonly room = new StoredRoom();

  private readonly now: () => number;
  private readonly writer: ResponseWriter;
  /** Batches of stored responses on their way to the store, written again while it refuses them. */
  private readonly batches: ResponseBatches;

  constructor(
    private readonly store: ConversationStore,
    /** The keys in use, the sealing one first; given the key a record names, ones that open it if any can. */
    private readonly masters: (keyId?: string) => readonly MasterKey[],
    private readonly retention: ConversationsConfig,
    /** `writer` takes the batches of stored responses (default: sealed here, on `store`). */
    options: { now?: () => number; writer?: ResponseWriter } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.writer = options.writer ?? storeWriter(store);
    this.batches = new ResponseBatches(
      (entries) => this.writer(this.master(), entries),
      (id) => store.remove(id),
    );
  }

  /** The context window a request with the history it replays must fit (`conversations.contextTokens`). */
  get contextTokens(): number {
    return this.retention.contextTokens;
  }

  /**
   * Stores a finished response with the input items it answered (its output is in `response`);
   * `json` is the response's JSON when the caller has it already.
   */
  saveResponse(
    owner: string,
    response: StoredResponse,
    input: readonly Item[],
    json?: string,
  ): Promise<void> {
    // Serialised now: the objects are the client's answer, and may be reused once it has it.
    this.queued.push(responseEntry(owner, this.now(), response, input, json));
    // Committed with every response finished in the same turn, in one transaction, on the next
    // turn, whether or not an earlier batch is still being written. Holding a batch back until the
    // one before it committed made batches grow, but the waiting entries outlived young-generation
    // collections on both threads, and copying and promoting them cost more than the commits saved.
    // Reads of this id wait for it (`owned`), and reads by owner or of everything wait for every
    // write (`settled`).
    this.batch ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.writeQueued());
    return this.track(response.id, this.batch);
  }

  /**
   * Commits what is queued and lets a purge under way finish: called at shutdown, after the
   * listeners drained and before the store closes under them. Batches the store refused are tried
   * until `deadline` (epoch ms) and then once more; rejects naming the responses it still refused.
   */
  async close(deadline = Date.now()): Promise<void> {
    const stop = setTimeout(() => this.batches.stop(), Math.max(0, deadline - Date.now()));
    try {
      await this.allWritten();
    } finally {
      clearTimeout(stop);
    }
    await Promise.all([...this.purging].map((purge) => purge.catch(ignore)));
    const lost = this.batches.lostAtStop;
    if (lost > 0)
      throw new Error(
        `${lost} stored response${lost === 1 ? ' was' : 's were'} never written: the store still refused ` +
          'them when the shutdown grace period (shutdown.graceMs) ran out; the errors logged before say why',
      );
  }

  private writeQueued(): Promise<void> {
    const entries = this.queued;
    this.queued = [];
    this.batch = undefined;
    // Answered as stored already: a batch the store refuses is written again (see ResponseBatches).
    const write = this.batches.add(entries);
    this.writing.add(write);
    const done = () => {
      this.writing.delete(write);
    };
    write.then(done, done);
    return write;
  }

  /**
   * Waits for every batch being written and the one queued, no longer than TURN_END_MS: a batch the
   * store refused is being written again, for as long as the store refuses it. Their failures are
   * reported to the writers that queued them.
   */
  private settled(): Promise<void> {
    return waitedFor(this.allWritten());
  }

  private async allWritten(): Promise<void> {
    await Promise.all([...this.writing, this.batch].map((write) => write?.catch(ignore)));
  }

  /**
   * A write of `id` under way, waited for no longer than TURN_END_MS (see `settled`). A response
   * of `owner`'s still on its way then is answered as a store that cannot be reached (503, retry),
   * not as one that does not exist: it will be there.
   */
  private async landing(id: string, owner?: string): Promise<void> {
    const write = this.pending.get(id);
    if (!write) return;
    await waitedFor(write);
    if (owner !== undefined && this.batches.holds((entry) => entry.id === id && entry.owner === owner))
      throw new StoreUnreachableError(new Error(`the store has not taken response ${id} yet`));
  }

  /** Whether a batch is queued or being written: `settled` then has something to wait for. */
  private get writingAny(): boolean {
    return this.writing.size > 0 || this.batch !== undefined;
  }

  async getResponse(owner: string, id: string): Promise<StoredResponse | undefined> {
    const record = await this.owned(owner, id, 'response');
    return record && openJson<StoredResponse>(this.opening(record.sealed), record.sealed, owner, id);
  }

  async deleteResponse(owner: string, id: string): Promise<boolean> {
    if (this.batches.forget((entry) => entry.id === id && entry.owner === owner) > 0) return true;
    return (await this.owned(owner, id, 'response')) !== undefined && this.store.remove(id);
  }

  /** The input items of a response, as `GET /v1/responses/{id}/input_items` lists them. */
  async responseInputItems(owner: string, id: string, page: PageOptions): Promise<ItemPage | undefined> {
    if (!(await this.owned(owner, id, 'response'))) return undefined;
    return this.page(id, page, 'input');
  }

  /**
   * Everything said before a response and in it, oldest first: the items of each response of the
   * `previous_response_id` chain, inputs then outputs. Undefined when the response is not the owner's.
   *
   * A chain replays at most what a conversation keeps (`maxItems`, `maxBytes`), its newest whole
   * responses, from the first user message among them: each response may hold many items that
   * send the provider nothing (empty messages, bare reasoning), so the context window alone would
   * let a cheap chain make one request read and open millions. The sizes are kept beside each
   * response, so the bound holds before any item is read.
   */
  async responseHistory(owner: string, id: string, enough?: HistoryLimit): Promise<Item[] | undefined> {
    const turns: Item[][] = [];
    const room = { items: this.retention.maxItems, bytes: this.retention.maxBytes };
    let next: string | null = id;
    while (next !== null && turns.length < MAX_CHAIN) {
      // A response still queued is not in the store yet: the chain would end before it.
      await this.landing(next, owner);
      const from = next;
      const read = () => this.store.chain(from, owner, Math.min(CHAIN_PAGE, MAX_CHAIN - turns.length));
      const chain = turns.length === 0 ? await landed(from, read, (links) => links.length > 0) : await read();
      if (chain.length === 0) break;
      const links = await this.withinRoom(chain, room);
      if (links.length === 0 && turns.length === 0) throw tooLargeToReplay(id);
      if (links.length === 0) return fromTurnStart(turns);
      const items = new Map<string, ConversationItemRecord[]>();
      for (const row of await this.store.itemsOf(links.map((link) => link.id))) {
        if (row.owner !== owner) continue;
        const rows = items.get(row.parentId);
        if (rows) rows.push(row);
        else items.set(row.parentId, [row]);
      }
      for (const link of links) {
        const part = (items.get(link.id) ?? []).map((row) => this.openItem(row));
        turns.push(part);
        if (enough?.(part)) return turns.reverse().flat();
      }
      if (links.length < chain.length) return fromTurnStart(turns);
      const last = links.at(-1)!;
      // A response stored before the link was kept apart names it only in its sealed text.
      next = last.previousId ?? (await this.getResponse(owner, last.id))?.previous_response_id ?? null;
    }
    return turns.length === 0 ? undefined : turns.reverse().flat();
  }

  /**
   * The links of a chain, newest first, whose items fit in `room` (which they use up). A response
   * stored before its sizes were kept has them counted here.
   */
  private async withinRoom(
    links: readonly ChainLink[],
    room: { items: number; bytes: number },
  ): Promise<ChainLink[]> {
    const fitting: ChainLink[] = [];
    for (const link of links) {
      const { count, bytes } =
        link.itemCount !== undefined && link.itemBytes !== undefined
          ? { count: link.itemCount, bytes: link.itemBytes }
          : await this.store.itemTotals(link.id);
      if (count > room.items || bytes > room.bytes) break;
      room.items -= count;
      room.bytes -= bytes;
      fitting.push(link);
    }
    return fitting;
  }

  /** Items this owner stored earlier (`item_reference`s), by id: one query however many. */
  async findItems(owner: string, ids: readonly string[]): Promise<Map<string, Item>> {
    await this.settled();
    const found = new Map<string, Item>();
    for (const record of await this.store.ownerItems(owner, ids)) found.set(record.id, this.openItem(record));
    return found;
  }

  /**
   * Holds room for a new stored response or conversation of an owner held to `limit` records (a
   * guest session: `auth.guest.maxStored`), counting those stored and those admitted and not yet
   * stored (`StoredRoom`); refuses it when they make `limit`. No limit: no read, no hold.
   */
  async holdRoom(owner: string, limit: number | undefined, param?: string): Promise<RoomHold | undefined> {
    if (limit === undefined) return undefined;
    const release = await this.room.take(
      owner,
      async (held) => held < limit && (await this.store.countOwned(owner, limit - held)) < limit - held,
    );
    if (release) return new RoomHold(release);
    throw new GatewayError(
      403,
      'permission_error',
      `This session may keep at most ${limit} stored responses and conversations; delete some (DELETE /v1/responses/{id}, DELETE /v1/conversations/{id}) or send store: false`,
      { code: 'stored_limit_reached', ...(param && { param }) },
    );
  }

  /**
   * Creates a conversation holding `items` (each under an id of its own, see `withDistinctIds`),
   * the record and its items in one transaction: a create whose items fail to be stored leaves no
   * empty conversation behind. The caller refuses what it refuses (`unansweredResult`, unknown
   * references) before calling this.
   */
  async createConversation(
    owner: string,
    metadata: Record<string, string>,
    id: string,
    items: readonly Item[] = [],
  ): Promise<ConversationBody> {
    const createdAt = this.now();
    const body: ConversationBody = {
      id,
      object: 'conversation',
      created_at: Math.floor(createdAt / 1000),
      metadata,
    };
    const { sealed } = sealJson(this.master(), body, owner, id);
    const stored = distinctIds(items, []).map((item) =>
      sealItem(this.master(), owner, id, 'item', { id: item.id, text: JSON.stringify(item) }, createdAt),
    );
    await this.store.putAll([
      { record: { id, kind: 'conversation', owner, createdAt, sealed }, items: stored },
    ]);
    if (stored.length > 0) await this.enforceLimits(id);
    return body;
  }

  async getConversation(owner: string, id: string): Promise<ConversationBody | undefined> {
    const record = await this.owned(owner, id, 'conversation');
    return record && openJson<ConversationBody>(this.opening(record.sealed), record.sealed, owner, id);
  }

  async updateConversation(
    owner: string,
    id: string,
    metadata: Record<string, string>,
  ): Promise<ConversationBody | undefined> {
    const record = await this.owned(owner, id, 'conversation');
    if (!record) return undefined;
    const body = {
      ...openJson<ConversationBody>(this.opening(record.sealed), record.sealed, owner, id),
      metadata,
    };
    // An update, not a put: a delete that lands meanwhile must not be undone by re-creating it.
    const updated = await this.store.update(id, sealJson(this.master(), body, owner, id).sealed);
    return updated ? body : undefined;
  }

  /**
   * Deletes a conversation with its items and the responses made in it (`conversation`), which
   * hold copies of its turns: once it is gone, none of its content can be read or referenced.
   */
  async deleteConversation(owner: string, id: string): Promise<boolean> {
    if (!(await this.owned(owner, id, 'conversation'))) return false;
    this.batches.forget((entry) => entry.conversationId === id && entry.owner === owner);
    // Its responses still queued land first, so that they go with it (one written after it is
    // gone is not stored at all).
    if (this.writingAny) await this.settled();
    return this.store.remove(id);
  }

  /**
   * Appends items to a conversation, then holds it to `maxItems` and `maxBytes` (oldest go first);
   * the items as stored (see `withDistinctIds`), or undefined when it is no conversation of the owner's.
   */
  async appendItems(owner: string, id: string, items: readonly Item[]): Promise<Item[] | undefined> {
    const write = this.append(owner, id, items).then(async (stored) => {
      if (stored) await this.enforceLimits(id);
      return stored;
    });
    await this.track(id, write);
    return write;
  }

  /**
   * Appends items under ids the conversation does not hold yet, decided in the store's transaction
   * that holds the conversation against other appends, in any process sharing the store: two
   * processes adding one client-chosen id at once stored it twice. `endTurn`'s hold ends in the
   * same transaction. Undefined, storing nothing, when it is no conversation of the owner's.
   */
  private async append(
    owner: string,
    id: string,
    items: readonly Item[],
    endTurn?: string,
  ): Promise<Item[] | undefined> {
    // In order within this process: a read waits for the newest write only.
    await this.landing(id);
    const createdAt = this.now();
    let stored: Item[] = [];
    const appended = await this.store.appendItems(
      { parentId: id, owner, ids: [...new Set(items.map((item) => item.id))], endTurn },
      (taken) => {
        stored = distinctIds(items, taken);
        return stored.map((item) =>
          sealItem(this.master(), owner, id, 'item', { id: item.id, text: JSON.stringify(item) }, createdAt),
        );
      },
    );
    return appended ? stored : undefined;
  }

  /**
   * `items` with an id of its own for each whose id the conversation holds already, or an earlier
   * one of `items` has: clients may choose item ids, and two items of one id in a conversation
   * make a page cursor, a read and a delete ambiguous. A Responses turn asks before it stores
   * anything, so that its response's copies of the items carry the ids the conversation does.
   */
  async withDistinctIds(owner: string, id: string, items: readonly Item[]): Promise<Item[]> {
    if (items.length === 0) return [];
    return distinctIds(
      items,
      await this.store.presentIds(id, owner, [...new Set(items.map((item) => item.id))]),
    );
  }

  /**
   * The index of the first of `items` that is a tool result whose call is neither in the
   * conversation nor earlier among `items`, or undefined. Providers refuse such a result, so every
   * later turn of the conversation would fail. The conversation is read newest first, and only
   * until every call asked about is found (its items are sealed: each is opened to learn its kind).
   * The caller has checked that the conversation is its owner's (one being created has no items).
   */
  async unansweredResult(id: string, items: readonly Item[]): Promise<number | undefined> {
    const wanted = new Map<string, number>();
    const calls = new Set<string>();
    items.forEach((item, i) => {
      if (isToolCall(item)) calls.add(item.call_id);
      else if (isToolResult(item) && !calls.has(item.call_id) && !wanted.has(item.call_id))
        wanted.set(item.call_id, i);
    });
    if (wanted.size === 0) return undefined;
    await this.landing(id);
    await this.walkBack(id, undefined, (found) => {
      if (isToolCall(found)) wanted.delete(found.call_id);
      return wanted.size === 0;
    });
    return wanted.size === 0 ? undefined : Math.min(...wanted.values());
  }

  /**
   * Opens the items of `id` older than `beforeSeq` (all when undefined), newest first, a page at a
   * time, until `visit` answers true.
   */
  private async walkBack(
    id: string,
    beforeSeq: number | undefined,
    visit: (item: Item) => boolean,
  ): Promise<void> {
    let afterSeq = beforeSeq;
    for (;;) {
      const rows = await this.store.items(id, { order: 'desc', limit: HISTORY_PAGE, afterSeq });
      for (const row of rows) if (visit(this.openItem(row))) return;
      if (rows.length < HISTORY_PAGE) return;
      afterSeq = rows.at(-1)!.seq;
    }
  }

  /**
   * Takes the owner's conversation for one turn (see `HeldTurn`); `locked` while another turn of it
   * is in flight in any process sharing the store (two turns would both answer the same history,
   * then both append); `missing` when it is no conversation of the owner's, so that naming someone
   * else's conversation holds nothing of theirs. The hold is renewed while the turn runs: one whose
   * process died lapses within TURN_HOLD_MS.
   */
  async beginTurn(owner: string, id: string): Promise<HeldTurn | 'locked' | 'missing'> {
    const holder = randomUUID();
    const hold = () => {
      const now = this.now();
      return this.store.holdTurn({ id, owner, holder, now, until: now + TURN_HOLD_MS });
    };
    if (!(await hold())) return (await this.owned(owner, id, 'conversation')) ? 'locked' : 'missing';
    // A renewal or release that fails leaves the hold to lapse on its own.
    let renewing: Promise<unknown> = Promise.resolve();
    const renewal = setInterval(() => {
      renewing = hold().catch(ignore);
    }, TURN_RENEW_MS).unref();
    let ended: Promise<void> | undefined;
    const release = () => this.store.releaseTurn(id, holder).catch(ignore);
    const end = async (items: readonly Item[] | undefined): Promise<void> => {
      clearInterval(renewal);
      // A renewal still on its way would take the hold back once it has ended.
      // Bounded as the append is: a failed turn's error is not held back either.
      if (!items) return waitedFor(renewing.then(release));
      await within(store(items), TURN_END_MS, storeLate).catch((error: unknown) => {
        throw turnNotStored(id, error);
      });
    };
    const store = async (items: readonly Item[]): Promise<unknown> => {
      await renewing;
      const write = this.append(owner, id, items, holder);
      // Reads here wait for the trim too; the client's answer waits for the append only.
      this.track(
        id,
        write.then((stored) => stored && this.enforceLimits(id)),
      ).catch(ignore);
      // A failed append frees the conversation behind the answer, which does not wait for it.
      write.catch(release);
      return write;
    };
    return { end: (items) => (ended ??= end(items)) };
  }

  async conversationItems(owner: string, id: string, enough?: HistoryLimit): Promise<Item[] | undefined> {
    if (!(await this.owned(owner, id, 'conversation'))) return undefined;
    if (!enough) return this.allItems(owner, id);
    const parts: Item[][] = [];
    let afterSeq: number | undefined;
    for (;;) {
      const rows = await this.store.items(id, { order: 'desc', limit: HISTORY_PAGE, afterSeq });
      const part = rows
        .filter((row) => row.owner === owner)
        .map((row) => this.openItem(row))
        .reverse();
      parts.push(part);
      if (rows.length < HISTORY_PAGE || enough(part)) break;
      afterSeq = rows.at(-1)!.seq;
    }
    return parts.reverse().flat();
  }

  async listItems(owner: string, id: string, page: PageOptions): Promise<ItemPage | undefined> {
    if (!(await this.owned(owner, id, 'conversation'))) return undefined;
    return this.page(id, page, 'item');
  }

  async getItem(owner: string, id: string, itemId: string): Promise<Item | undefined> {
    if (!(await this.owned(owner, id, 'conversation'))) return undefined;
    const record = await this.store.item({ parentId: id, id: itemId });
    return record && this.openItem(record);
  }

  /**
   * Deletes a conversation's item and its copies in the responses made in the conversation (a
   * Responses turn stores its input and output in both): its rows, and its place in the `output`
   * of those responses' records, so that neither `GET /v1/responses/{id}`, `input_items` nor an
   * `item_reference` finds it afterwards.
   */
  async deleteItem(owner: string, id: string, itemId: string): Promise<boolean> {
    if (!(await this.owned(owner, id, 'conversation'))) return false;
    if (!(await this.store.item({ parentId: id, id: itemId }))) return false;
    // The conversation's responses still queued land first, so that their copies are found.
    if (this.writingAny) await this.settled();
    const outputs = new Set<string>();
    for (const copy of await this.store.copiesOf(id, itemId))
      if (copy.part === 'output' && copy.owner === owner) outputs.add(copy.parentId);
    for (const responseId of outputs) {
      const record = await this.store.get(responseId);
      if (record?.owner !== owner) continue;
      const response = openJson<StoredResponse>(
        this.opening(record.sealed),
        record.sealed,
        owner,
        responseId,
      );
      const output = response.output.filter((item) => item.id !== itemId);
      const { sealed } = sealJson(this.master(), { ...response, output }, owner, responseId);
      await this.store.update(responseId, sealed);
    }
    return this.store.removeItem(id, itemId);
  }

  /** Every record of an owner with its items, opened: a user's data export. */
  async exportOwner(
    owner: string,
  ): Promise<Array<{ kind: ConversationRecord['kind']; record: unknown; items: Item[] }>> {
    await this.settled();
    const records = await this.store.list({ owner });
    return Promise.all(
      records.map(async (record) => ({
        kind: record.kind,
        record: openJson<unknown>(this.opening(record.sealed), record.sealed, owner, record.id),
        items: await this.allItems(owner, record.id),
      })),
    );
  }

  /** Records of an owner (ids and times only: no content). */
  async listOwner(
    owner: string,
  ): Promise<Array<{ id: string; kind: ConversationRecord['kind']; createdAt: number }>> {
    await this.settled();
    return (await this.store.list({ owner })).map(({ id, kind, createdAt }) => ({ id, kind, createdAt }));
  }

  /** Deletes a response or conversation whoever owns it (the operator's call). */
  async deleteAny(id: string): Promise<boolean> {
    const forgotten = this.batches.forget((entry) => entry.id === id || entry.conversationId === id);
    await this.settled();
    return (await this.store.remove(id)) || forgotten > 0;
  }

  deleteOwner(owner: string): Promise<number> {
    return this.purge({ owner });
  }

  /** Purges expired records now and every hour after; the timer does not hold the process open. */
  keepPurged(onError: (error: unknown) => void): NodeJS.Timeout {
    const run = () => void this.purgeExpired().catch(onError);
    run();
    return setInterval(run, PURGE_EVERY_MS).unref();
  }

  /** Removes what is older than `ttlDays`; returns how many records went. */
  purgeExpired(): Promise<number> {
    return this.purge({ before: this.now() - this.retention.ttlDays * DAY_MS });
  }

  /** Purges once the batches in flight have landed; `close` waits for it. */
  private purge(filter: Parameters<ConversationStore['purge']>[0]): Promise<number> {
    const forgotten = this.batches.forget((entry) =>
      'owner' in filter ? entry.owner === filter.owner : entry.createdAt < filter.before,
    );
    const purge = this.settled().then(async () => (await this.store.purge(filter)) + forgotten);
    this.purging.add(purge);
    const done = () => {
      this.purging.delete(purge);
    };
    purge.then(done, done);
    return purge;
  }

  /**
   * Re-seals under `next`, in one transaction, every record and item that `next` did not seal
   * (master key rotation); returns how many records had anything re-sealed, so that a caller
   * sweeping again while gateways switch keys knows when nothing is left under the old key.
   */
  async rewrap(next: MasterKey): Promise<number> {
    await this.settled();
    const current = this.masters();
    const records = new Map<string, { from: string; to: string }>();
    const items = new Map<number, string>();
    let touched = 0;
    for (const record of await this.store.list()) {
      const sealed = reseal(current, next, record.sealed, record.owner, record.id);
      if (sealed !== undefined) records.set(record.id, { from: record.sealed, to: sealed });
      const before = items.size;
      for (const item of await this.store.items(record.id)) {
        const text = reseal(current, next, item.sealed, item.owner, itemKey(item.parentId, item.id));
        if (text !== undefined) items.set(item.seq, text);
      }
      if (sealed !== undefined || items.size > before) touched++;
    }
    await this.store.rewrap(records, items);
    return touched;
  }

  /**
   * A conversation over `maxItems` or `maxBytes` is trimmed to nine tenths of each: the trim opens
   * every item it keeps (`replayable`), about 100 ms for 10,000 items, and a conversation held at
   * its limit would otherwise pay that on every turn. Limits under 10 items are kept exactly.
   */
  private async enforceLimits(id: string): Promise<void> {
    const { maxItems, maxBytes } = this.retention;
    const totals = await this.store.itemTotals(id);
    if (totals.count <= maxItems && totals.bytes <= maxBytes) return;
    const items = maxItems - Math.floor(maxItems / 10);
    const room = maxBytes - Math.floor(maxBytes / 10);
    const newest = await this.store.items(id, { order: 'desc', limit: items });
    let bytes = 0;
    let keep = 0;
    for (const item of newest) {
      bytes += item.bytes;
      if (bytes > room) break;
      keep++;
    }
    const kept = await this.replayable(id, newest, keep);
    // The oldest item kept, as read: a turn appended since is newer, and never moves the cut.
    const cut = kept > 0 ? newest[kept - 1]!.seq : newest[0]!.seq + 1;
    await this.store.trimItemsBefore(id, cut);
  }

  /**
   * The most of the `keep` newest items (newest first) that hold no tool result without its call:
   * providers refuse one, and every later turn of the conversation would fail. Parallel calls put
   * their results after all of them, so the cut may fall between a call and another's result.
   *
   * A result whose call the conversation does not hold before it (left after its call was deleted,
   * or stored before such results were refused) is left out: no cut can give it its call, and
   * counting it would cut everything older, and itself and everything newer when it is the newest.
   * Whether a call is held is read from the items older than the `keep` only when a result among
   * them has none among them.
   */
  private async replayable(
    id: string,
    newest: readonly ConversationItemRecord[],
    keep: number,
  ): Promise<number> {
    if (keep === 0) return 0;
    const items = newest.slice(0, keep).map((row) => this.openItem(row));
    // The calls each result may find before it: those of older kept items, then of older items.
    const unmatched = new Set<string>();
    for (const item of items)
      if (isToolResult(item)) unmatched.add(item.call_id);
      else if (isToolCall(item)) unmatched.delete(item.call_id);
    const heldBefore = new Set<string>();
    if (unmatched.size > 0)
      await this.walkBack(id, newest[keep - 1]!.seq, (item) => {
        if (isToolCall(item) && unmatched.delete(item.call_id)) heldBefore.add(item.call_id);
        return unmatched.size === 0;
      });
    const orphans = uncalledResults(items.toReversed(), heldBefore);
    const unanswered = new Set<string>();
    let replayable = 0;
    for (let i = 0; i < keep; i++) {
      const item = items[i]!;
      if (isToolResult(item) && !orphans.has(item)) unanswered.add(item.call_id);
      else if (isToolCall(item)) unanswered.delete(item.call_id);
      if (unanswered.size === 0) replayable = i + 1;
    }
    return replayable;
  }

  private async page(
    id: string,
    options: PageOptions,
    part: ConversationItemRecord['part'],
  ): Promise<ItemPage> {
    const limit = options.limit ?? 20;
    const order = options.order ?? 'desc';
    let afterSeq: number | undefined;
    if (options.after !== undefined) {
      afterSeq = (await this.store.item({ parentId: id, id: options.after }))?.seq;
      // Starting over from the first page would have a client that pages on loop for ever.
      if (afterSeq === undefined)
        throw badRequest(`No item found with id '${options.after}' to list after`, {
          param: 'after',
          code: 'invalid_cursor',
        });
    }
    // Responses keep input and output items together, and only one part is listed; a conversation
    // holds items only, so a page of it reads one row past the page, not the whole conversation.
    const read = part === 'item' ? { afterSeq, order, limit: limit + 1 } : { afterSeq, order };
    const rows = (await this.store.items(id, read)).filter((row) => row.part === part);
    const data = rows.slice(0, limit).map((row) => this.openItem(row));
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: rows.length > limit,
    };
  }

  private async allItems(owner: string, id: string): Promise<Item[]> {
    const rows = await this.store.items(id);
    return rows.filter((row) => row.owner === owner).map((row) => this.openItem(row));
  }

  private openItem(record: ConversationItemRecord): Item {
    return openJson<Item>(
      this.opening(record.sealed),
      record.sealed,
      record.owner,
      itemKey(record.parentId, record.id),
    );
  }

  private async owned(
    owner: string,
    id: string,
    kind: ConversationRecord['kind'],
  ): Promise<ConversationRecord | undefined> {
    await this.landing(id, owner);
    const read = () => this.store.get(id);
    const record =
      kind === 'response' ? await landed(id, read, (found) => found !== undefined) : await read();
    return record?.owner === owner && record.kind === kind ? record : undefined;
  }

  private master(): MasterKey {
    return this.masters()[0]!;
  }

  /** The keys to open `sealed` with, asked for by the key that sealed it. */
  private opening(sealed: string): readonly MasterKey[] {
    return this.masters(sealedBy(sealed));
  }

  private track<T>(id: string, write: Promise<T>): Promise<T> {
    const guard: Promise<void> = write
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        if (this.pending.get(id) === guard) this.pending.delete(id);
      });
    this.pending.set(id, guard);
    return write;
  }
}

/** `items`, each whose id is `taken` or an earlier one's under an id of its own. */
function distinctIds(items: readonly Item[], taken: Iterable<string>): Item[] {
  const ids = new Set(taken);
  return items.map((item) => {
    const stored = ids.has(item.id) ? withFreshId(item) : item;
    ids.add(stored.id);
    return stored;
  });
}

/**
 * The turns read of a chain cut short, oldest first, from the first user message among them: the
 * responses before the cut may hold the calls whose results open what was read.
 */
function fromTurnStart(newestFirst: Item[][]): Item[] {
  if (newestFirst.length === 0) return [];
  const items = newestFirst.reverse().flat();
  const start = items.findIndex((item) => item.type === 'message' && item.role === 'user');
  return start === -1 ? [] : items.slice(start);
}

/** The response a request continues holds more than any conversation may: nothing of it would be replayed. */
function tooLargeToReplay(id: string): GatewayError {
  return badRequest(
    `The response '${id}' holds more items or bytes than the gateway replays (conversations.maxItems, conversations.maxBytes); start a new conversation`,
    { param: 'previous_response_id', code: 'history_too_large' },
  );
}

/**
 * A turn whose items the store failed to take, or did not take in time: the client was answered
 * by the provider, but a retry could store the turn twice if the first write lands after all.
 * `cause` is the store's own error, for the log.
 */
function turnNotStored(id: string, cause: unknown): GatewayError {
  const error = new GatewayError(
    503,
    'service_unavailable',
    `The store did not take this turn of the conversation '${id}': the turn may not have been stored; read the conversation's items before retrying`,
    { code: 'turn_not_stored' },
  );
  error.cause = cause;
  return error;
}

/** What `read` answers, read again while it finds nothing and `id` was made moments ago (see RECENT_ID_MS). */
async function landed<T>(id: string, read: () => Promise<T>, found: (value: T) => boolean): Promise<T> {
  let value = await read();
  const made = idCreatedAt(id);
  if (found(value) || made === undefined || Math.abs(Date.now() - made) > RECENT_ID_MS) return value;
  for (const wait of LANDING_WAITS_MS) {
    await sleep(wait);
    value = await read();
    if (found(value)) break;
  }
  return value;
}
