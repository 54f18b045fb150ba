import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteStore } from '../store/index.js';
import type { WriteRequest, WriteResponse, WriteWorkerData } from './thread-writer.js';

/**
 * The conversation writer thread: its own connection to the SQLite store, on which it commits
 * each batch of stored responses the main thread sends, one at a time and in order.
 */
const { databasePath } = workerData as WriteWorkerData;
const port = parentPort!;
const store = openSqliteStore(databasePath);

let queue = Promise.resolve();
port.on('message', (request: WriteRequest) => {
  queue = queue.then(async () => {
    let response: WriteResponse;
    try {
      if (request.type === 'close') await store.close();
      else await store.conversations.putAll(JSON.parse(request.entries));
      response = { id: request.id };
    } catch (error) {
      response = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(response);
  });
});
