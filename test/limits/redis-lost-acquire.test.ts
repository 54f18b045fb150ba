import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Limiter } from '../../src/limits/index.js';
import { createRedisLimiter, type FailMode } from '../../src/limits/redis-limiter.js';
import { leaseOf, MINUTE, request } from '../support/limit-requests.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';

/**
 * An acquire whose answer the limiter stopped waiting for (its 500 ms command timeout), which Redis
 * runs anyway: the request was refused (or let through unlimited by `failMode: 'open'`), so nothing
 * would settle the lease Redis made for it, and its slot would stay taken until the lease lapsed.
 */

const RPM = 10;
const rates = [{ key: 'rpm:lost', kind: 'requests', limit: RPM, windowMs: MINUTE }] as const;
const concurrency = [{ key: 'conc:lost', limit: 1 }];

let server: RedisServer | undefined;
let control: Redis | undefined;
let limiter: Limiter | undefined;
afterEach(async () => {
  control?.disconnect();
  await limiter?.close();
  await server?.stop();
  control = undefined;
  limiter = undefined;
  server = undefined;
});

async function start(failMode: FailMode) {
  server = await startRedis();
  // The test's own connection, which pauses Redis and cuts the limiter's.
  control = new Redis(server.url);
  await control.ping();
  limiter = createRedisLimiter({
    url: server.url,
    prefix: `test:${randomUUID()}:`,
    failMode,
    spentBefore: async () => 0,
    onBackendError: () => {},
  });
  // Connected, and one request taken and settled.
  await limiter.settle(leaseOf(await limiter.acquire(request({ rates, concurrency }))), 0, 0);
  return { server, control, limiter };
}

/** Requests left and slots in use, once Redis answers again. */
async function heldAfter(limiter: Limiter) {
  let status: Awaited<ReturnType<Limiter['status']>> | undefined;
  for (let i = 0; i < 100 && !status; i++) {
    status = await limiter.status(rates, concurrency, []).catch(() => undefined);
    if (!status) await sleep(100);
  }
  return { requestsLeft: Math.round(status!.rates[0]!.remaining), inUse: status!.concurrency[0]!.inUse };
}

describe.skipIf(!hasRedis())('an acquire whose answer was lost (needs redis-server)', () => {
  it("releases the lease Redis made for a request failMode 'open' let through", async () => {
    const { server, limiter } = await start('open');
    await server.pause(1_500);
    const unlimited = await limiter.acquire(request({ rates, concurrency }));
    expect(unlimited.allowed).toBe(true);
    await sleep(1_500);
    // The acquire ran once Redis resumed (it took a request), and its slot was given back.
    expect(await heldAfter(limiter)).toEqual({ requestsLeft: RPM - 2, inUse: 0 });
    await limiter.settle(leaseOf(unlimited), 0, 0);
    expect(leaseOf(await limiter.acquire(request({ rates, concurrency })))).toBeDefined();
  });

  it('sends the release once a connection is ready when it could not be sent, after the acquire ioredis writes again', async () => {
    const { control, limiter } = await start('closed');
    await control.client('PAUSE', '3000', 'WRITE');
    const refused = limiter.acquire(request({ rates, concurrency }));
    await sleep(100);
    // The acquire is written and unanswered when its connection is cut; ioredis reconnects, but the
    // connection cannot be ready (every command waits) before the acquire times out, so its release
    // cannot be written then.
    await control.client('KILL', 'TYPE', 'normal');
    await control.client('PAUSE', '3000', 'ALL');
    expect(await refused).toMatchObject({ allowed: false, denial: { kind: 'unavailable' } });

    // Once Redis resumes, the ready connection writes the acquire again (it takes a request and the
    // slot), then the release kept meanwhile.
    expect(await heldAfter(limiter)).toEqual({ requestsLeft: RPM - 2, inUse: 0 });
    expect(leaseOf(await limiter.acquire(request({ rates, concurrency })))).toBeDefined();
  });
});
