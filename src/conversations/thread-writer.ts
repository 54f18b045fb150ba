import { ThreadCalls } from '../store/thread-calls.js';
import type { ConversationStore } from '../store/types.js';

type Entries = Parameters<ConversationStore['putAll']>[0];

export interface WriteWorkerData {
  databasePath: string;
}

/** Entries travel as one JSON text: structured cloning a batch costs the event loop more. */
export type WriteRequest = { id: number; type: 'put'; entries: string } | { id: number; type: 'close' };

export type WriteResponse = { id: number; error?: string };

/**
 * Commits stored responses from a worker thread that keeps its own connection to the SQLite
 * store: the write transaction (a third of what a stored response costs the event loop) leaves
 * the thread that serves requests. Reads stay on the main connection; the service keeps a write
 * pending until the thread has committed it, so a read right after still sees it. The thread
 * starts with the first write, again after a failure, and keeps the process alive only while a
 * write is in flight.
 */
export class ThreadConversationWriter {
  private readonly calls: ThreadCalls<WriteRequest, WriteResponse>;

  constructor(
    databasePath: string,
    /** The compiled worker module; a `.js` file, so only the built gateway has one. */
    workerUrl = new URL('./write-worker.js', import.meta.url),
  ) {
    const data: WriteWorkerData = { databasePath };
    this.calls = new ThreadCalls(workerUrl, data, 'conversation writer');
  }

  async putAll(entries: Entries): Promise<void> {
    await this.calls.call({ type: 'put', entries: JSON.stringify(entries) });
  }

  close(): Promise<void> {
    return this.calls.close();
  }
}

/** The store with its batched writes (`putAll`) taken by `writer`; everything else unchanged. */
export function withThreadedWrites(
  store: ConversationStore,
  writer: ThreadConversationWriter,
): ConversationStore {
  return {
    put: (record) => store.put(record),
    get: (id) => store.get(id),
    remove: (id) => store.remove(id),
    list: (filter) => store.list(filter),
    putAll: (entries) => writer.putAll(entries),
    appendItems: (items) => store.appendItems(items),
    items: (parentId, options) => store.items(parentId, options),
    item: (where) => store.item(where),
    removeItem: (parentId, id) => store.removeItem(parentId, id),
    trimItems: (parentId, keep) => store.trimItems(parentId, keep),
    purge: (filter) => store.purge(filter),
    rewrap: (records, items) => store.rewrap(records, items),
  };
}
