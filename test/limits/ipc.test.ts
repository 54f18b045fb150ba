import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createIpcLimiter,
  createMemoryLimiter,
  type IpcChannel,
  serveLimiter,
} from '../../src/limits/index.js';
import { leaseOf, MINUTE, request } from '../support/limit-requests.js';

/** One end of a real message channel, counting what it sends. */
function end(port: MessagePort): IpcChannel & { sent: unknown[] } {
  const sent: unknown[] = [];
  return {
    sent,
    send(message) {
      sent.push(message);
      port.postMessage(message);
    },
    on(event, listener) {
      port.on(event, listener);
    },
  };
}

const ports: MessagePort[] = [];
afterEach(() => {
  for (const port of ports.splice(0)) port.close();
});

/** A worker's limiter asking a primary's memory limiter over a real channel. */
function setup() {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  const worker = end(port1);
  const primary = end(port2);
  serveLimiter(createMemoryLimiter({ spentBefore: async () => 0 }), primary);
  return { limiter: createIpcLimiter(worker), worker, primary };
}

describe('limits across worker processes (IPC)', () => {
  it('sends the decisions of one turn as one message each way, each caller getting its own answer', async () => {
    const { limiter, worker, primary } = setup();
    const rates = [{ key: 'rpm:a', kind: 'requests', limit: 10, windowMs: MINUTE }] as const;
    const results = await Promise.all(Array.from({ length: 25 }, () => limiter.acquire(request({ rates }))));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results.slice(10).every((r) => !r.allowed && r.denial.kind === 'requests')).toBe(true);
    expect(worker.sent).toHaveLength(1);
    expect(primary.sent).toHaveLength(1);

    const concurrency = [{ key: 'conc:a', limit: 2 }];
    const [first, second] = await Promise.all([
      limiter.acquire(request({ concurrency })),
      limiter.acquire(request({ concurrency })),
    ]);
    expect((await limiter.acquire(request({ concurrency }))).allowed).toBe(false);
    await Promise.all([limiter.settle(leaseOf(first!), 0, 0), limiter.settle(leaseOf(second!), 0, 0)]);
    expect(worker.sent).toHaveLength(4);
    const again = await Promise.all([
      limiter.acquire(request({ concurrency })),
      limiter.acquire(request({ concurrency })),
      limiter.acquire(request({ concurrency })),
    ]);
    expect(again.map((r) => r.allowed)).toEqual([true, true, false]);
  });

  it('holds a budget exactly when the reservations of many requests arrive together', async () => {
    const { limiter, primary } = setup();
    const budgets = [{ key: 'budget:a', limitMicros: 1_000, ttlMs: MINUTE }];
    const results = await Promise.all(
      Array.from({ length: 50 }, () => limiter.acquire(request({ budgets, costEstimateMicros: 100 }))),
    );
    const allowed = results.filter((r) => r.allowed);
    expect(allowed).toHaveLength(10);
    await Promise.all(allowed.map((r) => limiter.settle(leaseOf(r), 10, 100)));
    const status = await limiter.status([], [], budgets);
    expect(status.budgets[0]).toMatchObject({ spentMicros: 1_000, reservedMicros: 0 });
    expect((await limiter.acquire(request({ budgets, costEstimateMicros: 1 }))).allowed).toBe(false);
    expect(primary.sent.length).toBeLessThanOrEqual(5);
  });

  it('fails the calls of a turn the channel cannot send, instead of leaving them waiting', async () => {
    const limiter = createIpcLimiter({
      send() {
        throw new Error('channel closed');
      },
      on() {},
    });
    const calls = [limiter.acquire(request()), limiter.acquire(request())];
    for (const call of calls) await expect(call).rejects.toThrow('channel closed');
  });
});
