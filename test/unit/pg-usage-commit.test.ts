import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageRecorder } from '../../src/accounting/usage-recorder.js';
import { openPostgresStore, type Store } from '../../src/store/index.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * A loopback relay to Postgres that, once armed, hangs up at the next COMMIT: `after` lets it
 * through and hangs up before its answer comes back (committed, and the gateway told that the
 * connection ended), `before` hangs up instead of sending it (Postgres rolls the transaction back).
 * `silence()` makes it take new connections and answer none (a server gone from the network).
 */
async function startCommitCutter(port: number) {
  let armed: 'before' | 'after' | undefined;
  let silent = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (silent) return;
    const backend = net.connect(port, '127.0.0.1');
    let cutting = false;
    client.on('data', (chunk: Buffer) => {
      // A simple-protocol query: 'Q', its length, the statement and a NUL.
      if (armed && chunk[0] === 0x51 && chunk.includes('COMMIT\0')) {
        const where = armed;
        armed = undefined;
        if (where === 'before') {
          client.destroy();
          backend.destroy();
          return;
        }
        cutting = true;
      }
      backend.write(chunk);
    });
    backend.on('data', (chunk: Buffer) => {
      if (!cutting) return client.write(chunk);
      client.destroy();
      backend.destroy();
    });
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
    client.on('close', () => backend.destroy());
    backend.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: (where: 'before' | 'after') => {
      armed = where;
    },
    silence: (on: boolean) => {
      silent = on;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Usage is written as increments. When the connection went away after Postgres committed a batch
 * but before its answer arrived, the batch was counted as failed and written again with the next
 * one: its requests and spend were counted twice, budgets included.
 */
describe.skipIf(!hasPostgres())('a usage batch whose commit answer is lost', () => {
  const postgres = usePostgres();
  let cutter: Awaited<ReturnType<typeof startCommitCutter>>;
  let store: Store;

  beforeAll(async () => {
    const url = new URL(await postgres.database());
    cutter = await startCommitCutter(Number(url.port));
    url.port = String(cutter.port);
    store = await openPostgresStore({ url: url.href, poolSize: 2, ssl: false });
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await cutter?.close();
  });

  const delta = (tokenId: string) => ({
    day: '2026-12-07',
    tokenId,
    userId: null,
    model: 'gpt-4o-mini',
    provider: 'oa',
    requests: 1,
    inputTokens: 10,
    outputTokens: 20,
    cachedTokens: 0,
    costMicros: 1500,
  });
  const usageOf = async (tokenId: string) =>
    (await store.usage.query('token', { tokenId })).map(({ requests, costMicros }) => ({
      requests,
      costMicros,
    }));

  it('is counted once: the recorder learns that it was committed', async () => {
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({ store: store.usage, onError: (error) => errors.push(error) });
    recorder.record(delta('tok_after'));
    cutter.arm('after');
    await recorder.flush();
    // A later flush writes whatever the first left pending.
    await recorder.close();
    expect(await usageOf('tok_after')).toEqual([{ requests: 1, costMicros: 1500 }]);
    expect(errors).toEqual([]);
  });

  it('is kept and written again when the COMMIT never reached Postgres', async () => {
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({ store: store.usage, onError: (error) => errors.push(error) });
    recorder.record(delta('tok_before'));
    cutter.arm('before');
    await recorder.flush();
    expect(errors).toHaveLength(1);
    expect(await usageOf('tok_before')).toEqual([]);
    await recorder.close();
    expect(await usageOf('tok_before')).toEqual([{ requests: 1, costMicros: 1500 }]);
  });

  it('is given up within the time a connection takes to fail when Postgres cannot say', async () => {
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({ store: store.usage, onError: (error) => errors.push(error) });
    recorder.record(delta('tok_unanswered'));
    cutter.arm('after');
    cutter.silence(true);
    const started = performance.now();
    try {
      // Shutdown with half a second of grace: the write under way is waited for, and no longer
      // than a write to an unreachable server takes anyway (its connection timeout, 5 s).
      await expect(recorder.close(Date.now() + 500)).rejects.toThrow(
        /usage of 1 request .* was never written/,
      );
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      cutter.silence(false);
    }
  }, 60_000);
});
