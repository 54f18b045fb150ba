import { type IpcChannel, ipcMessage } from '../limits/index.js';

/**
 * What each worker of `keyward start --workers N` keeps in its own memory, and an admin answer
 * needs from all of them: the Prometheus metrics, the dashboard's live last hour, the alerts, the
 * requests each provider key was handed, and the writing of pending usage and audit records before
 * a read of the store. The
 * cluster hands each connection to one worker, so that worker asks the primary, which asks every
 * worker (the asker included) and hands their answers back.
 */
export type GatherTopic = 'metrics' | 'live' | 'alerts' | 'keys' | 'flush';

/** How long the primary waits for the workers: one being replaced must not hold a scrape. */
const GATHER_TIMEOUT_MS = 2_000;

/** worker → primary: gather `topic` from every worker. */
interface GatherCall {
  keyward: 'gather';
  id: number;
  topic: GatherTopic;
}
/** primary → each worker: your part of `topic`. */
interface GatherAsk {
  keyward: 'gather-ask';
  id: number;
  topic: GatherTopic;
}
/** each worker → primary. */
interface GatherAnswer {
  keyward: 'gather-answer';
  id: number;
  value?: unknown;
}
/** primary → the worker that asked: the parts that came. */
interface GatherReply {
  keyward: 'gather-reply';
  id: number;
  values: unknown[];
}

const isCall = ipcMessage<GatherCall>('gather');
const isAsk = ipcMessage<GatherAsk>('gather-ask');
const isAnswer = ipcMessage<GatherAnswer>('gather-answer');
const isReply = ipcMessage<GatherReply>('gather-reply');

export type Gather = (topic: GatherTopic) => Promise<unknown[]>;

/**
 * A worker's side: answers the primary from `sources` (a source that fails answers nothing), and
 * gathers every worker's part of a topic.
 */
export function workerGather(
  channel: IpcChannel,
  sources: Record<GatherTopic, () => unknown | Promise<unknown>>,
): Gather {
  let next = 0;
  const pending = new Map<number, (values: unknown[]) => void>();
  channel.on('message', (message) => {
    if (isAsk(message)) {
      Promise.resolve()
        .then(() => sources[message.topic]())
        .then(
          (value) => channel.send({ keyward: 'gather-answer', id: message.id, value } satisfies GatherAnswer),
          () => channel.send({ keyward: 'gather-answer', id: message.id } satisfies GatherAnswer),
        );
    } else if (isReply(message)) {
      pending.get(message.id)?.(message.values);
      pending.delete(message.id);
    }
  });
  return (topic) =>
    new Promise((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      channel.send({ keyward: 'gather', id, topic } satisfies GatherCall);
    });
}

/** A worker as the primary sees it: a channel that may have closed (sending then would be an error). */
export interface WorkerChannel extends IpcChannel {
  isConnected(): boolean;
}

/** The primary's side: relays each worker's gathers to every live worker and answers with what came. */
export class GatherRelay {
  private next = 0;
  private readonly pending = new Map<
    number,
    { asker: WorkerChannel; id: number; values: unknown[]; waiting: number; timer: NodeJS.Timeout }
  >();

  constructor(private readonly workers: () => Iterable<WorkerChannel>) {}

  /** Relays the gathers `worker` asks for, and takes its answers to the others'. */
  attach(worker: WorkerChannel): void {
    worker.on('message', (message) => {
      if (isCall(message)) this.start(worker, message);
      else if (isAnswer(message)) this.answered(message);
    });
  }

  private start(asker: WorkerChannel, call: GatherCall): void {
    const id = ++this.next;
    const timer = setTimeout(() => this.finish(id), GATHER_TIMEOUT_MS);
    const gathering = { asker, id: call.id, values: [], waiting: 0, timer };
    this.pending.set(id, gathering);
    for (const worker of this.workers()) {
      if (!worker.isConnected()) continue;
      worker.send({ keyward: 'gather-ask', id, topic: call.topic } satisfies GatherAsk);
      gathering.waiting++;
    }
    if (gathering.waiting === 0) this.finish(id);
  }

  private answered(answer: GatherAnswer): void {
    const gathering = this.pending.get(answer.id);
    if (!gathering) return;
    if (answer.value !== undefined) gathering.values.push(answer.value);
    if (--gathering.waiting === 0) this.finish(answer.id);
  }

  private finish(id: number): void {
    const gathering = this.pending.get(id);
    if (!gathering) return;
    this.pending.delete(id);
    clearTimeout(gathering.timer);
    if (!gathering.asker.isConnected()) return;
    gathering.asker.send({
      keyward: 'gather-reply',
      id: gathering.id,
      values: gathering.values,
    } satisfies GatherReply);
  }
}
