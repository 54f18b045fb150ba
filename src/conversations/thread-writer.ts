import type { SealingKey } from '../keys/index.js';
import type { ThreadAnswer, ThreadCaller } from '../store/thread-calls.js';
import type { Store } from '../store/types.js';
import { type ResponseEntry, sealResponses } from './response-entries.js';

const ignore = (): void => undefined;

/**
 * Entries travel as one JSON text (structured cloning a batch costs the event loop more), in the
 * clear with the master key that seals them: the thread is in this process, and the key is sent
 * with each batch so that a rotated key takes effect with the next one. The key's bytes travel as
 * numbers: a typed array beside a batch's text cost `postMessage` 30–80 µs more (see
 * docs/decisions.md, "Hot path"). The thread wipes its copy once the batch is sealed.
 */
export type WriteRequest = {
  id: number;
  type: 'put';
  master: { id: string; key: number[] };
  entries: string;
};

/**
 * Seals and commits stored responses on the gateway's writer thread, which keeps its own
 * connection to the SQLite store: the ciphers and the write transaction (about 100 µs of the
 * 500–700 a stored response cost in the benchmark) leave the thread that serves requests. Reads
 * stay on the main connection; the service keeps a write pending until the thread has committed
 * it, so a read right after still sees it. The thread is shared with other writers and closed by
 * its owner.
 */
export class ThreadConversationWriter {
  constructor(private readonly thread: ThreadCaller<WriteRequest, ThreadAnswer>) {}

  /** A `ResponseWriter`. */
  readonly write = (master: SealingKey, entries: readonly ResponseEntry[]): Promise<void> =>
    // Not an async function: its suspended frame would hold the batch until the thread answers.
    this.thread
      .call({
        type: 'put',
        master: { id: master.id, key: Array.from(master.key) },
        entries: JSON.stringify(entries),
      })
      .then(ignore);
}

/** The writer thread's side: each batch sealed under the key it came with, committed in one transaction. */
export function writeOnThread(store: Store): (request: WriteRequest) => Promise<object> {
  return async (request) => {
    const key = Buffer.from(request.master.key);
    try {
      await store.conversations.putAll(
        sealResponses({ id: request.master.id, key }, JSON.parse(request.entries)),
      );
    } finally {
      key.fill(0);
    }
    return {};
  };
}
