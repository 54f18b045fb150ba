import net from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { openPostgresStore, type Store } from '../../src/store/index.js';

/**
 * A loopback relay to Postgres that, once armed, hangs up at the next COMMIT: `after` lets it
 * through and hangs up before its answer comes back (committed, and the gateway told that the
 * connection ended), `before` hangs up instead of sending it (Postgres rolls the transaction back).
 * `silence()` makes it take new connections and answer none (a server gone from the network).
 */
export async function startCommitCutter(port: number) {
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

export type CommitCutter = Awaited<ReturnType<typeof startCommitCutter>>;

/**
 * For a suite: a Postgres store that reaches the database at `url` through a commit cutter,
 * opened before the suite's tests and closed after them; read `cutter` and `store` in the tests.
 */
export function useCutStore(url: () => Promise<string>): {
  readonly cutter: CommitCutter;
  readonly store: Store;
} {
  const held = {} as { cutter: CommitCutter; store: Store };
  beforeAll(async () => {
    const relayed = new URL(await url());
    held.cutter = await startCommitCutter(Number(relayed.port));
    relayed.port = String(held.cutter.port);
    held.store = await openPostgresStore({ url: relayed.href, poolSize: 2, ssl: false });
  }, 60_000);
  afterAll(async () => {
    await held.store?.close();
    await held.cutter?.close();
  });
  return held;
}
