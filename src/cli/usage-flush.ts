import type { Worker } from 'node:cluster';
import { type IpcChannel, ipcMessage, UsageUnwrittenError } from '../limits/index.js';
import type { Logger } from '../observability/index.js';

/**
 * `keyward start --workers N`: the primary reads a budget's spend from the store when it loads the
 * budget's counter, but each worker writes its usage once a second. Read as it was, the figure
 * missed every worker's last second of spend, at each load. So the primary first asks every worker
 * to write what it holds, and reads only once all have, or refuses the requests waiting on the
 * load (fail closed: a figure it knows to be short would let a client spend past its budget).
 */

/** How long a load waits for the workers: a worker that cannot write holds its budgets' requests. */
const FLUSH_TIMEOUT_MS = 2_000;
/** A store that refuses writes fails every load: said once a second, not once a request. */
const LOG_EVERY_MS = 1_000;

/** primary → worker: write the usage you hold. */
interface FlushAsk {
  keyward: 'usage-flush';
  id: number;
}
/** worker → primary: written, or the store refused it (`ok` false). */
interface FlushAnswer {
  keyward: 'usage-flushed';
  id: number;
  ok: boolean;
}

const isAsk = ipcMessage<FlushAsk>('usage-flush');
const isAnswer = ipcMessage<FlushAnswer>('usage-flushed');

/** A worker's side: writes its usage when the primary asks, then says whether the store took it. */
export function answerUsageFlushes(channel: IpcChannel, usage: { written(): Promise<void> }): void {
  channel.on('message', (message) => {
    if (!isAsk(message)) return;
    // The recorder has logged the store's error in this worker; the primary needs only the outcome.
    usage.written().then(
      () => channel.send({ keyward: 'usage-flushed', id: message.id, ok: true } satisfies FlushAnswer),
      () => channel.send({ keyward: 'usage-flushed', id: message.id, ok: false } satisfies FlushAnswer),
    );
  });
}

interface Round {
  waiting: Set<Worker>;
  done(failure?: string): void;
}

/** The primary's side: has every worker that may hold usage write it, before a budget's spend is read. */
export class WorkerUsage {
  /**
   * Workers that have listened, with their index. One that has not was handed no connection, so it
   * holds no usage, and may not answer yet (it is still starting).
   */
  private readonly serving = new Map<Worker, number>();
  private readonly rounds = new Map<number, Round>();
  private next = 0;
  private loggedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly logger: Logger) {}

  attach(worker: Worker, index: number): void {
    worker.once('listening', () => this.serving.set(worker, index));
    // A worker that is gone wrote its usage as it closed, or lost it by crashing: nothing to wait for.
    const gone = () => {
      this.serving.delete(worker);
      for (const round of this.rounds.values())
        if (round.waiting.delete(worker) && round.waiting.size === 0) round.done();
    };
    worker.once('disconnect', gone);
    worker.once('exit', gone);
    worker.on('message', (message: unknown) => {
      if (!isAnswer(message)) return;
      const round = this.rounds.get(message.id);
      if (!round?.waiting.delete(worker)) return;
      if (!message.ok) round.done(`worker ${index} could not write its usage to the store`);
      else if (round.waiting.size === 0) round.done();
    });
  }

  /**
   * Resolves once every serving worker has written the usage it held when asked; rejects with
   * UsageUnwrittenError when one could not, or did not answer within FLUSH_TIMEOUT_MS.
   */
  flush(): Promise<void> {
    const asked = [...this.serving.keys()].filter((worker) => worker.isConnected());
    if (asked.length === 0) return Promise.resolve();
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      const waiting = new Set(asked);
      const timer = setTimeout(() => {
        const silent = [...waiting].map((worker) => this.serving.get(worker)).join(', ');
        round.done(`worker ${silent} did not write its usage within ${FLUSH_TIMEOUT_MS / 1000} s`);
      }, FLUSH_TIMEOUT_MS);
      const round: Round = {
        waiting,
        done: (failure) => {
          if (!this.rounds.delete(id)) return;
          clearTimeout(timer);
          if (failure === undefined) return resolve();
          const error = new UsageUnwrittenError(failure);
          this.log(error);
          reject(error);
        },
      };
      this.rounds.set(id, round);
      for (const worker of asked) worker.send({ keyward: 'usage-flush', id } satisfies FlushAsk);
    });
  }

  private log(error: UsageUnwrittenError): void {
    const now = Date.now();
    if (now - this.loggedAt < LOG_EVERY_MS) return;
    this.loggedAt = now;
    this.logger.error(error.message);
  }
}
