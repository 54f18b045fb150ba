import { workerData } from 'node:worker_threads';
import { openSqliteStore } from '../store/index.js';
import { serveThreadCalls } from '../store/thread-calls.js';
import { sealResponses } from './response-entries.js';
import type { WriteRequest, WriteResponse, WriteWorkerData } from './thread-writer.js';

/**
 * The conversation writer thread: its own connection to the SQLite store, on which it seals and
 * commits each batch of stored responses the main thread sends, one at a time and in order.
 */
const { databasePath } = workerData as WriteWorkerData;
const store = openSqliteStore(databasePath);

serveThreadCalls<WriteRequest, WriteResponse>(async (request) => {
  if (request.type === 'close') await store.close();
  else await store.conversations.putAll(sealResponses(request.master, JSON.parse(request.entries)));
  return {};
});
