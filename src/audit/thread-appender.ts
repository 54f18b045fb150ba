import { Worker } from 'node:worker_threads';
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

type Pending = { resolve(range: AppendedRange | undefined): void; reject(error: Error): void };

/**
 * Appends from a worker thread that keeps its own connection to the SQLite store: sealing,
 * encoding and the write transaction (most of what auditing costs) leave the event loop that
 * serves requests. The thread starts with the first append, is started again after a failure,
 * and keeps the process alive only while an append is in flight.
 */
export class ThreadAppender implements AuditAppender {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(
    private readonly databasePath: string,
    private readonly key: Buffer,
    private readonly options: {
      /** A meta entry the thread sets to the newest record after each append (`expectedHead`). */
      headName?: string;
      /** The compiled worker module; a `.js` file, so only the built gateway has one. */
      workerUrl?: URL;
    } = {},
  ) {}

  append(entries: readonly AuditEntry[]): Promise<AppendedRange | undefined> {
    return this.call({ id: ++this.nextId, type: 'append', entries: JSON.stringify(entries) });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await this.call({ id: ++this.nextId, type: 'close' });
    this.worker = undefined;
    await worker.terminate();
  }

  private call(request: AppendRequest): Promise<AppendedRange | undefined> {
    const worker = this.worker ?? this.spawn();
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(request.id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  private spawn(): Worker {
    const data: AppendWorkerData = {
      databasePath: this.databasePath,
      key: this.key,
      headName: this.options.headName,
    };
    const worker = new Worker(this.options.workerUrl ?? new URL('./append-worker.js', import.meta.url), {
      workerData: data,
    });
    worker.on('message', ({ id, range, error }: AppendResponse) => {
      const pending = this.pending.get(id);
      if (!pending) return;
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      if (error === undefined) pending.resolve(range);
      else pending.reject(new Error(error));
    });
    const failed = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    worker.on('error', failed);
    worker.on('exit', (code) => failed(new Error(`the audit writer thread stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }
}
