import type { AcquireRequest, Acquisition, Lease, Limiter, LimitStatus } from './types.js';
import { StatusUnavailableError } from './unwritten-usage.js';

/**
 * Limits kept exact across the worker processes of one `keyward start --workers N`, without
 * Redis: the primary process holds the one memory limiter, and each worker asks it over the
 * cluster's IPC channel. A decision costs a worker one round trip to the primary, shared with the
 * other decisions of the same turn; leases stay in the primary, the worker holds their ids.
 */

/** One side of the cluster channel: a worker's `process`, or the primary's `Worker`. */
export interface IpcChannel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  /** False once the channel has closed (a worker's `process.connected`). */
  readonly connected?: boolean;
}

type Operation = 'acquire' | 'settle' | 'status';
interface Call {
  id: number;
  op: Operation;
  args: unknown[];
}
interface Reply {
  id: number;
  result?: unknown;
  error?: string;
  /** The primary's StatusUnavailableError: its retry hint, rebuilt as one in the worker. */
  unavailableMs?: number;
}
/** The calls a worker made in one turn of its event loop. */
interface LimiterCalls {
  keyward: 'limiter';
  calls: Call[];
}
/** The answers the primary had ready in one turn of its event loop. */
interface LimiterReplies {
  keyward: 'limiter-reply';
  replies: Reply[];
}

/**
 * A test for one kind of message on the cluster channel: every Keyward message names its kind in
 * `keyward`, so the several listeners on one channel each take only their own.
 */
export const ipcMessage =
  <T extends { keyward: string }>(kind: T['keyward']) =>
  (message: unknown): message is T =>
    typeof message === 'object' && message !== null && (message as { keyward?: unknown }).keyward === kind;

const isCalls = ipcMessage<LimiterCalls>('limiter');
const isReplies = ipcMessage<LimiterReplies>('limiter-reply');

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Messages for the other side, sent together once per turn of the event loop. Each message on the
 * cluster channel costs both processes a system call to write and one to read (tens of µs on a
 * small VM), and every request makes two decisions: batched, the requests that arrive together
 * share them.
 */
function batcher<T>(flush: (batch: T[]) => void): (item: T) => void {
  let batch: T[] = [];
  const send = () => {
    const ready = batch;
    batch = [];
    flush(ready);
  };
  return (item) => {
    if (batch.push(item) === 1) setImmediate(send);
  };
}

/** The worker's limiter: every call goes to the primary. */
export function createIpcLimiter(channel: IpcChannel): Limiter {
  let next = 0;
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const gone = () => new Error('rate limiter (primary process): the primary process is gone');
  const send = batcher<Call>((calls) => {
    try {
      if (channel.connected === false) throw gone();
      channel.send({ keyward: 'limiter', calls } satisfies LimiterCalls);
    } catch (error) {
      // Sent a turn after the calls were made: their callers hear of a failure here, not as a throw.
      for (const { id } of calls) {
        pending.get(id)?.reject(error instanceof Error ? error : new Error(String(error)));
        pending.delete(id);
      }
    }
  });
  channel.on('message', (message) => {
    if (!isReplies(message)) return;
    for (const reply of message.replies) {
      const waiting = pending.get(reply.id);
      if (!waiting) continue;
      pending.delete(reply.id);
      if (reply.unavailableMs !== undefined) waiting.reject(new StatusUnavailableError(reply.unavailableMs));
      else if (reply.error !== undefined)
        waiting.reject(new Error(`rate limiter (primary process): ${reply.error}`));
      else waiting.resolve(reply.result);
    }
  });
  // The primary gone, no answer can come: what waits fails, and so does every later call (the
  // worker drains what it was serving, and a request it would admit now is refused, fail closed).
  channel.on('disconnect', () => {
    for (const waiting of pending.values()) waiting.reject(gone());
    pending.clear();
  });
  const call = (op: Operation, args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (channel.connected === false) return reject(gone());
      const id = ++next;
      pending.set(id, { resolve, reject });
      send({ id, op, args });
    });
  return {
    acquire: (request) => call('acquire', [request]) as Promise<Acquisition>,
    settle: async (lease, tokens, cost) => {
      await call('settle', [lease.id, tokens, cost]);
    },
    status: (rates, concurrency, budgets) =>
      call('status', [rates, concurrency, budgets]) as Promise<LimitStatus>,
    close: async () => {
      for (const waiting of pending.values()) waiting.reject(new Error('the worker is closing'));
      pending.clear();
    },
  };
}

/** A lease the primary holds for a worker, with what it reserved: the charge if the worker dies. */
interface HeldLease {
  lease: Lease;
  tokens: number;
  costMicros: number;
}

/**
 * The primary's side for one worker: answers its calls from `limiter`. The leases the worker holds
 * stay here. Call the returned `ended` once the worker's channel has closed (it exited or
 * disconnected): no settle can come from it any more, so each lease it still holds is settled at
 * its reservation, as a request sent upstream and never answered is charged. Its concurrency slots
 * are free at once rather than after the lease time (the request's whole timeout plus a minute).
 * Resolves with how many there were.
 */
export function serveLimiter(limiter: Limiter, channel: IpcChannel): { ended(): Promise<number> } {
  const leases = new Map<string, HeldLease>();
  let gone = false;
  const atReservation = ({ lease, tokens, costMicros }: HeldLease) =>
    limiter.settle(lease, tokens, costMicros);
  const reply = batcher<Reply>((replies) => {
    try {
      channel.send({ keyward: 'limiter-reply', replies } satisfies LimiterReplies);
    } catch (error) {
      // An answer the channel cannot carry still ends each call, as an error.
      const message = messageOf(error);
      channel.send({
        keyward: 'limiter-reply',
        replies: replies.map(({ id }) => ({ id, error: message })),
      } satisfies LimiterReplies);
    }
  });
  channel.on('message', (message) => {
    if (!isCalls(message)) return;
    for (const call of message.calls) {
      answer(call).then(
        (result) => reply({ id: call.id, result }),
        (error: unknown) =>
          reply(
            error instanceof StatusUnavailableError
              ? { id: call.id, unavailableMs: error.retryAfterMs }
              : { id: call.id, error: messageOf(error) },
          ),
      );
    }
  });
  const answer = async ({ op, args }: Call): Promise<unknown> => {
    switch (op) {
      case 'acquire': {
        const request = args[0] as AcquireRequest;
        const acquisition = await limiter.acquire(request);
        if (!acquisition.allowed) return acquisition;
        const held = {
          lease: acquisition.lease,
          tokens: request.tokenEstimate,
          costMicros: request.costEstimateMicros,
        };
        // Granted after the worker was gone (a budget load took a while): nobody will settle it.
        if (gone) await atReservation(held);
        else leases.set(acquisition.lease.id, held);
        return { ...acquisition, lease: { id: acquisition.lease.id } };
      }
      case 'settle': {
        const held = leases.get(args[0] as string);
        if (!held) return undefined;
        leases.delete(held.lease.id);
        return limiter.settle(held.lease, args[1] as number, args[2] as number);
      }
      case 'status':
        return limiter.status(...(args as Parameters<Limiter['status']>));
    }
  };
  return {
    async ended() {
      if (gone) return 0;
      gone = true;
      const left = [...leases.values()];
      // Out of the map first: whatever arrives late finds nothing to settle a second time.
      leases.clear();
      await Promise.all(left.map(atReservation));
      return left.length;
    },
  };
}
