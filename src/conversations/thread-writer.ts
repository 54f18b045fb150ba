import { Worker } from 'node:worker_threads';
import type { ConversationStore } from '../store/types.js';

type Entries = Parameters<ConversationStore['putAll']>[0];

export interface WriteWorkerData {
  databasePath: string;
}

/** Entries travel as one JSON text: structured cloning a batch costs the event loop more. */
export type WriteRequest = { id: number; type: 'put'; entries: string } | { id: number; type: 'close' };

export type WriteResponse = { id: number; error?: string };

type Pending = { resolve(): void; reject(error: Error): void };

/**
 * Commits stored responses from a worker thread that keeps its own connection to the SQLite
 * store: the write transaction (a third of what a stored response costs the event loop) leaves
 * the thread that serves requests. Reads stay on the main connection; the service keeps a write
 * pending until the thread has committed it, so a read right after still sees it. The thread
 * starts with the first write, again after a failure, and keeps the process alive only while a
 * write is in flight.
 */
export class ThreadConversationWriter {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(
    private readonly databasePath: string,
    /** The compiled worker module; a `.js` file, so only the built gateway has one. */
    private readonly workerUrl = new URL('./write-worker.js', import.meta.url),
  ) {}

  putAll(entries: Entries): Promise<void> {
    return this.call({ id: ++this.nextId, type: 'put', entries: JSON.stringify(entries) });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await this.call({ id: ++this.nextId, type: 'close' });
    this.worker = undefined;
    await worker.terminate();
  }

  private call(request: WriteRequest): Promise<void> {
    const worker = this.worker ?? this.spawn();
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(request.id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  private spawn(): Worker {
    const data: WriteWorkerData = { databasePath: this.databasePath };
    const worker = new Worker(this.workerUrl, { workerData: data });
    worker.on('message', ({ id, error }: WriteResponse) => {
      const pending = this.pending.get(id);
      if (!pending) return;
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      if (error === undefined) pending.resolve();
      else pending.reject(new Error(error));
    });
    const failed = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    worker.on('error', failed);
    worker.on('exit', (code) =>
      failed(new Error(`the conversation writer thread stopped (exit code ${code})`)),
    );
    this.worker = worker;
    return worker;
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
