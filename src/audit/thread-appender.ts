import { ThreadCalls } from '../store/thread-calls.js';
import type { AuditEntry } from '../store/types.js';
import type { AppendedRange, AuditAppender } from './appender.js';

export interface AppendWorkerData {
  databasePath: string;
  key: Uint8Array;
  headName: string | undefined;
}

/** Entries travel as one JSON text: structured cloning a batch cost the event loop several times more. */
export type AppendRequest = { id: number; type: 'append'; entries: string } | { id: number; type: 'close' };

export type AppendResponse = { id: number; range?: AppendedRange; error?: string };

/**
 * Appends from a worker thread that keeps its own connection to the SQLite store: sealing,
 * encoding and the write transaction (most of what auditing costs) leave the event loop that
 * serves requests. The thread starts with the first append, is started again after a failure,
 * and keeps the process alive only while an append is in flight.
 */
export class ThreadAppender implements AuditAppender {
  private readonly calls: ThreadCalls<AppendRequest, AppendResponse>;

  constructor(
    databasePath: string,
    key: Buffer,
    options: {
      /** A meta entry the thread sets to the newest record after each append (`expectedHead`). */
      headName?: string;
      /** The compiled worker module; a `.js` file, so only the built gateway has one. */
      workerUrl?: URL;
    } = {},
  ) {
    const data: AppendWorkerData = { databasePath, key, headName: options.headName };
    this.calls = new ThreadCalls(
      options.workerUrl ?? new URL('./append-worker.js', import.meta.url),
      data,
      'audit writer',
    );
  }

  async append(entries: readonly AuditEntry[]): Promise<AppendedRange | undefined> {
    return (await this.calls.call({ type: 'append', entries: JSON.stringify(entries) })).range;
  }

  close(): Promise<void> {
    return this.calls.close();
  }
}
