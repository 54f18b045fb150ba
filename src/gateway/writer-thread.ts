import type { AppendRequest, AppendResponse, AppendThreadData } from '../audit/index.js';
import type { WriteRequest } from '../conversations/index.js';
import { ThreadCalls } from '../store/thread-calls.js';

export interface WriterWorkerData {
  databasePath: string;
  /** Without it, the thread refuses audit appends. */
  audit?: AppendThreadData;
}

export type WriterRequest = AppendRequest | WriteRequest | { id: number; type: 'close' };

/** The widest of the writers' answers: an append's carries the range it wrote, a put's nothing more. */
export type WriterAnswer = AppendResponse;

export type WriterThread = ThreadCalls<WriterRequest, WriterAnswer>;

/**
 * The gateway's one writer thread on SQLite: its own connection to the store, on which it appends
 * the audit log (`ThreadAppender`) and commits stored responses (`ThreadConversationWriter`).
 * One thread rather than one per writer: two connections writing the same file only took turns
 * at its write lock, and the second isolate cost 7–10 MB of RSS under load.
 */
export function writerThread(
  data: WriterWorkerData,
  /** The compiled worker module; a `.js` file, so only the built gateway has one. */
  workerUrl = new URL('./writer-worker.js', import.meta.url),
): WriterThread {
  return new ThreadCalls(workerUrl, data, 'writer');
}
