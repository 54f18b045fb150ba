import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLogger, isoTimestamp, Redactor } from '../../src/observability/index.js';

describe('isoTimestamp', () => {
  it('writes what toISOString writes, across milliseconds, seconds and days', () => {
    const base = Date.UTC(2026, 10, 27, 23, 59, 58);
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1999, 2000, 2005, 2050, 86_400_000 + 7, -1_500];
    let current = 0;
    const stamp = isoTimestamp(() => current);
    for (const offset of times) {
      current = base + offset;
      expect(stamp()).toBe(`,"time":"${new Date(current).toISOString()}"`);
    }
  });

  it('is the time of every log line', () => {
    const lines: string[] = [];
    const { logger } = createLogger({
      level: 'info',
      redactor: new Redactor(),
      destination: { write: (line: string) => void lines.push(line) },
    });
    const before = Date.now();
    logger.info('hello');
    const time = Date.parse(JSON.parse(lines[0]!).time);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
  });
});

describe('errors in log lines', () => {
  it("keep an error's kind, words, code and causes, never the command a Redis client hangs on it", async () => {
    // A server that refuses every login, as Redis does with a wrong password.
    const server = createServer((socket) => {
      socket.on('data', () =>
        socket.write('-WRONGPASS invalid username-password pair or user is disabled.\r\n'),
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const client = new Redis(`redis://keyward:pw-7x@127.0.0.1:${port}`, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    // What the gateway's listeners receive: the error event's error, with the failed command on it.
    const [refused] = (await once(client, 'error')) as [Error & { command?: { args: unknown[] } }];
    client.on('error', () => {});
    client.disconnect();
    server.close();
    expect(refused.command?.args).toContain('pw-7x');

    const lines: string[] = [];
    const { logger } = createLogger({
      level: 'info',
      redactor: new Redactor(),
      destination: { write: (line: string) => void lines.push(line) },
    });
    logger.warn({ err: new Error('outer', { cause: refused }) }, 'cannot share key states');
    expect(lines[0]).not.toContain('pw-7x');
    const { err } = JSON.parse(lines[0]!);
    expect(err).toMatchObject({
      type: 'Error',
      message: 'outer',
      cause: { message: expect.stringContaining('WRONGPASS') },
    });
    expect(err.stack).toContain('outer');
  });
});
