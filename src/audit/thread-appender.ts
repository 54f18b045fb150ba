import type { ThreadAnswer, ThreadCaller } from '../store/thread-calls.js';
import type { AuditEntry, Store } from '../store/types.js';
import { type AppendedRange, type AuditAppender, storeAppender } from './appender.js';

/** What the writer thread needs to append: the audit key, and the meta entry that names the head. */
export interface AppendThreadData {
  key: Uint8Array;
  headName: string | undefined;
}

/** Entries travel as one JSON text: structured cloning a batch cost the event loop several times more. */
export type AppendRequest = { id: number; type: 'append'; entries: string };

export type AppendResponse = ThreadAnswer & { range?: AppendedRange };

/**
 * Appends on the gateway's writer thread, which keeps its own connection to the SQLite store:
 * sealing, encoding and the write transaction (most of what auditing costs) leave the event loop
 * that serves requests. The thread is shared with other writers and closed by its owner.
 */
export class ThreadAppender implements AuditAppender {
  constructor(private readonly thread: ThreadCaller<AppendRequest, AppendResponse>) {}

  async append(entries: readonly AuditEntry[]): Promise<AppendedRange | undefined> {
    return (await this.thread.call({ type: 'append', entries: JSON.stringify(entries) })).range;
  }

  /** Nothing of its own to release: the thread outlives it. */
  async close(): Promise<void> {}
}

/**
 * The writer thread's side: each batch sealed and appended on the thread's connection, the newest
 * record then set beside the chain.
 */
export function appendOnThread(
  store: Store,
  { key, headName }: AppendThreadData,
): (request: AppendRequest) => Promise<{ range?: AppendedRange }> {
  const appender = storeAppender(
    store.audit,
    Buffer.from(key),
    headName === undefined ? undefined : { meta: store.meta, name: headName },
  );
  return async (request) => ({ range: await appender.append(JSON.parse(request.entries)) });
}
