import { workerData } from 'node:worker_threads';
import { appendOnThread } from '../audit/index.js';
import { writeOnThread } from '../conversations/thread-writer.js';
import { openSqliteStore } from '../store/index.js';
import { serveThreadCalls } from '../store/thread-calls.js';
import type { WriterAnswer, WriterRequest, WriterWorkerData } from './writer-thread.js';

/**
 * The writer thread (`writerThread`): its own connection to the SQLite store, on which it serves
 * each request the main thread sends, one at a time and in order.
 */
const { databasePath, audit } = workerData as WriterWorkerData;
const store = openSqliteStore(databasePath);
const append = audit && appendOnThread(store, audit);
const put = writeOnThread(store);

serveThreadCalls<WriterRequest, WriterAnswer>(async (request) => {
  switch (request.type) {
    case 'append':
      if (!append) throw new Error('this writer thread was started without the audit key');
      return append(request);
    case 'put':
      return put(request);
    case 'close':
      await store.close();
      return {};
  }
});
