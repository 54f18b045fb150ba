import type { AcquireRequest, Acquisition, Lease, Limiter, LimitStatus } from './types.js';

/**
 * Limits kept exact across the worker processes of one `keyward start --workers N`, without
 * Redis: the primary process holds the one memory limiter, and each worker asks it over the
 * cluster's IPC channel. A decision costs a worker one round trip to the primary; leases stay in
 * the primary, the worker holds their ids.
 */

/** One side of the cluster channel: a worker's `process`, or the primary's `Worker`. */
export interface IpcChannel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

type Operation = 'acquire' | 'settle' | 'status';
interface LimiterCall {
  keyward: 'limiter';
  id: number;
  op: Operation;
  args: unknown[];
}
interface LimiterReply {
  keyward: 'limiter-reply';
  id: number;
  result?: unknown;
  error?: string;
}

/**
 * A test for one kind of message on the cluster channel: every Keyward message names its kind in
 * `keyward`, so the several listeners on one channel each take only their own.
 */
export const ipcMessage =
  <T extends { keyward: string }>(kind: T['keyward']) =>
  (message: unknown): message is T =>
    typeof message === 'object' && message !== null && (message as { keyward?: unknown }).keyward === kind;

const isCall = ipcMessage<LimiterCall>('limiter');
const isReply = ipcMessage<LimiterReply>('limiter-reply');

/** The worker's limiter: every call goes to the primary. */
export function createIpcLimiter(channel: IpcChannel): Limiter {
  let next = 0;
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  channel.on('message', (message) => {
    if (!isReply(message)) return;
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error !== undefined)
      waiting.reject(new Error(`rate limiter (primary process): ${message.error}`));
    else waiting.resolve(message.result);
  });
  const call = (op: Operation, args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      channel.send({ keyward: 'limiter', id, op, args } satisfies LimiterCall);
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

/**
 * The primary's side for one worker: answers its calls from `limiter`. The leases the worker
 * holds stay here; a worker that dies leaves them to expire (concurrency) or held (budgets, the
 * safe side: spend is never under-counted).
 */
export function serveLimiter(limiter: Limiter, channel: IpcChannel): void {
  const leases = new Map<string, Lease>();
  channel.on('message', (message) => {
    if (!isCall(message)) return;
    answer(message).then(
      (result) => channel.send({ keyward: 'limiter-reply', id: message.id, result } satisfies LimiterReply),
      (error: unknown) =>
        channel.send({
          keyward: 'limiter-reply',
          id: message.id,
          error: error instanceof Error ? error.message : String(error),
        } satisfies LimiterReply),
    );
  });
  const answer = async ({ op, args }: LimiterCall): Promise<unknown> => {
    switch (op) {
      case 'acquire': {
        const acquisition = await limiter.acquire(args[0] as AcquireRequest);
        if (!acquisition.allowed) return acquisition;
        leases.set(acquisition.lease.id, acquisition.lease);
        return { ...acquisition, lease: { id: acquisition.lease.id } };
      }
      case 'settle': {
        const lease = leases.get(args[0] as string);
        if (!lease) return undefined;
        leases.delete(lease.id);
        return limiter.settle(lease, args[1] as number, args[2] as number);
      }
      case 'status':
        return limiter.status(...(args as Parameters<Limiter['status']>));
    }
  };
}
