import { workerData } from 'node:worker_threads';
import { openSqliteStore } from '../store/index.js';
import { serveThreadCalls } from '../store/thread-calls.js';
import { storeAppender } from './appender.js';
import type { AppendRequest, AppendResponse, AppendWorkerData } from './thread-appender.js';

/**
 * The audit writer thread: its own connection to the SQLite store, on which it seals and appends
 * each batch the gateway's main thread sends, one at a time and in order, then records the newest
 * record beside the chain.
 */
const { databasePath, key, headName } = workerData as AppendWorkerData;
const store = openSqliteStore(databasePath);
const appender = storeAppender(
  store.audit,
  Buffer.from(key),
  headName === undefined ? undefined : { meta: store.meta, name: headName },
);

serveThreadCalls<AppendRequest, AppendResponse>(async (request) => {
  if (request.type === 'close') {
    await store.close();
    return {};
  }
  return { range: await appender.append(JSON.parse(request.entries)) };
});
