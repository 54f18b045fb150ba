import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteStore } from '../store/index.js';
import { storeAppender } from './appender.js';
import type { AppendRequest, AppendResponse, AppendWorkerData } from './thread-appender.js';

/**
 * The audit writer thread: its own connection to the SQLite store, on which it seals and appends
 * each batch the gateway's main thread sends, one at a time and in order, then records the newest
 * record beside the chain.
 */
const { databasePath, key, headName } = workerData as AppendWorkerData;
const port = parentPort!;
const store = openSqliteStore(databasePath);
const appender = storeAppender(
  store.audit,
  Buffer.from(key),
  headName === undefined ? undefined : { meta: store.meta, name: headName },
);

let queue = Promise.resolve();
port.on('message', (request: AppendRequest) => {
  queue = queue.then(async () => {
    let response: AppendResponse;
    try {
      if (request.type === 'close') {
        await store.close();
        response = { id: request.id };
      } else {
        response = { id: request.id, range: await appender.append(JSON.parse(request.entries)) };
      }
    } catch (error) {
      response = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(response);
  });
});
