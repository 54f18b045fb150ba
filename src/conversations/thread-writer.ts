import type { SealingKey } from '../keys/index.js';
import { ThreadCalls } from '../store/thread-calls.js';
import type { ResponseEntry } from './response-entries.js';

const ignore = (): void => undefined;

export interface WriteWorkerData {
  databasePath: string;
}

/**
 * Entries travel as one JSON text (structured cloning a batch costs the event loop more), in the
 * clear with the master key that seals them: the thread is in this process, and the key is sent
 * with each batch so that a rotated key takes effect with the next one.
 */
export type WriteRequest =
  | { id: number; type: 'put'; master: SealingKey; entries: string }
  | { id: number; type: 'close' };

export type WriteResponse = { id: number; error?: string };

/**
 * Seals and commits stored responses from a worker thread that keeps its own connection to the
 * SQLite store: the ciphers and the write transaction (about 100 µs of the 500–700 a stored
 * response cost in the benchmark) leave the thread that serves requests. Reads stay on the main connection; the
 * service keeps a write pending until the thread has committed it, so a read right after still
 * sees it. The thread starts with the first write, again after a failure, and keeps the process
 * alive only while a write is in flight.
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

  /** A `ResponseWriter`. */
  readonly write = (master: SealingKey, entries: readonly ResponseEntry[]): Promise<void> =>
    // Not an async function: its suspended frame would hold the batch until the thread answers.
    // The key is a copy of its 32 bytes: cloning a Buffer copies the whole pool slab it may be a view of.
    this.calls
      .call({
        type: 'put',
        master: { id: master.id, key: new Uint8Array(master.key) },
        entries: JSON.stringify(entries),
      })
      .then(ignore);

  close(): Promise<void> {
    return this.calls.close();
  }
}
