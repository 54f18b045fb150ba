import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createIpcLimiter,
  createMemoryLimiter,
  type IpcChannel,
  type SpentBefore,
  serveLimiter,
} from '../../src/limits/index.js';
import { leaseOf, MINUTE, request } from '../support/limit-requests.js';

const end = (port: MessagePort): IpcChannel => ({
  send: (message) => port.postMessage(message),
  on: (event, listener) => port.on(event, listener),
});

const ports: MessagePort[] = [];
afterEach(() => {
  for (const port of ports.splice(0)) port.close();
});

/** A worker's limiter asking a primary's memory limiter over a real channel, and the primary's side. */
function setup(spentBefore: SpentBefore = async () => 0) {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  // A stopped clock: a token bucket's level is then exactly what was taken from it.
  const primary = createMemoryLimiter({ spentBefore, now: () => 1_000_000 });
  return { worker: createIpcLimiter(end(port1)), primary, served: serveLimiter(primary, end(port2)) };
}

const concurrency = [{ key: 'conc:a', limit: 1 }];
const budgets = [{ key: 'budget:a', limitMicros: 10_000, ttlMs: MINUTE }];
const rates = [{ key: 'tpm:a', kind: 'tokens', limit: 1_000, windowMs: MINUTE }] as const;
const reserving = request({ concurrency, budgets, costEstimateMicros: 700, rates, tokenEstimate: 300 });

describe('the primary once a worker has ended', () => {
  it('settles what the worker held at its reservation, once, whatever arrives late', async () => {
    const { worker, primary, served } = setup();
    const lease = leaseOf(await worker.acquire(reserving));
    expect(await served.ended()).toBe(1);
    const after = await primary.status(rates, concurrency, budgets);
    expect(after.concurrency[0]).toMatchObject({ inUse: 0 });
    expect(after.budgets[0]).toMatchObject({ spentMicros: 700, reservedMicros: 0 });
    // Charged at the estimate: nothing refunded to the token bucket.
    expect(after.rates[0]!.remaining).toBe(700);
    // A settle that still came through is not a second charge, nor is a second end.
    await worker.settle(lease, 0, 0);
    expect(await served.ended()).toBe(0);
    expect(await primary.status(rates, concurrency, budgets)).toEqual(after);
  });

  it('settles at its reservation a lease granted only after the worker ended', async () => {
    let load!: (spent: number) => void;
    const { worker, primary, served } = setup(() => new Promise((resolve) => (load = resolve)));
    const acquired = worker.acquire(reserving);
    // The acquire waits on the budget's first load while the worker ends.
    await expect.poll(() => load).toBeDefined();
    expect(await served.ended()).toBe(0);
    load(0);
    expect((await acquired).allowed).toBe(true);
    const after = await primary.status(rates, concurrency, budgets);
    expect(after.concurrency[0]).toMatchObject({ inUse: 0 });
    expect(after.budgets[0]).toMatchObject({ spentMicros: 700, reservedMicros: 0 });
  });
});
