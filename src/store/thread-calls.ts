import { parentPort, Worker } from 'node:worker_threads';

/** What a writer thread answers: the request's id, and an error's message (and code) when it failed. */
export interface ThreadAnswer {
  id: number;
  error?: string;
  /** The driver's code (`SQLITE_BUSY`, …): whether the store or the operation failed (`store/faults.ts`). */
  code?: string;
}

const YOUNG_GENERATION_MB = 4;

type Pending<A> = { resolve(answer: A): void; reject(error: Error): void };

/** A request as the caller writes it: the id is added here. */
type Unnumbered<R> = R extends unknown ? Omit<R, 'id'> : never;

/** What one writer sees of a thread it shares with others: its own kind of request, answered. */
export interface ThreadCaller<R extends { id: number; type: string }, A extends ThreadAnswer> {
  call(request: Unnumbered<R>): Promise<A>;
}

/**
 * Requests to a writer thread (one that keeps its own connection to the store) and their answers,
 * matched by id. The thread starts with the first request and again after a failure, and keeps
 * the process alive only while a request is in flight. `close` sends `{ type: 'close' }` (every
 * request type `R` has it), waits for its answer, then ends the thread.
 */
export class ThreadCalls<R extends { id: number; type: string }, A extends ThreadAnswer>
  implements ThreadCaller<R, A>
{
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending<A>>();
  private nextId = 0;

  constructor(
    private readonly url: URL,
    private readonly workerData: unknown,
    /** Names the thread in the error its requests fail with when it stops. */
    private readonly name: string,
  ) {}

  call(request: Unnumbered<R>): Promise<A> {
    const worker = this.worker ?? this.spawn();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await this.call({ type: 'close' } as Unnumbered<R>);
    this.worker = undefined;
    await worker.terminate();
  }

  private spawn(): Worker {
    // A writer thread keeps little between batches: a young generation of 4 MB instead of V8's
    // 32 MB kept the gateway's RSS under load 5–10 MB lower with the thread busy.
    const worker = new Worker(this.url, {
      workerData: this.workerData,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    worker.on('message', (answer: A) => {
      const pending = this.pending.get(answer.id);
      if (!pending) return;
      this.pending.delete(answer.id);
      if (this.pending.size === 0) worker.unref();
      if (answer.error === undefined) pending.resolve(answer);
      else
        pending.reject(
          Object.assign(new Error(answer.error), answer.code === undefined ? {} : { code: answer.code }),
        );
    });
    const failed = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    worker.on('error', failed);
    worker.on('exit', (code) => failed(new Error(`the ${this.name} thread stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

/**
 * The writer thread's side of `ThreadCalls`: each request is handled after the one before it has
 * been, in order, and answered with its id and what `handle` returned, or the message of what it
 * threw.
 */
export function serveThreadCalls<R extends { id: number; type: string }, A extends ThreadAnswer>(
  handle: (request: R) => Promise<Omit<A, 'id' | 'error'>>,
): void {
  const port = parentPort;
  if (!port) throw new Error('serveThreadCalls runs on a worker thread');
  let queue = Promise.resolve();
  port.on('message', (request: R) => {
    queue = queue.then(async () => {
      let answer: ThreadAnswer;
      try {
        answer = { ...(await handle(request)), id: request.id };
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        answer = {
          id: request.id,
          error: error instanceof Error ? error.message : String(error),
          ...(typeof code === 'string' && { code }),
        };
      }
      port.postMessage(answer);
    });
  });
}
