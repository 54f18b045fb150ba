import { type WriterThread, type WriterWorkerData, writerThread } from '../../src/gateway/writer-thread.js';

/** The compiled worker (global setup builds `dist/`): the sources cannot run on a worker thread. */
const workerUrl = new URL('../../dist/gateway/writer-worker.js', import.meta.url);

/** The gateway's writer thread as `keyward start` runs it, from the built worker. */
export const builtWriterThread = (data: WriterWorkerData): WriterThread => writerThread(data, workerUrl);
