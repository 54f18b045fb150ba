import { once } from 'node:events';
import { createServer } from 'node:net';

// Plain JavaScript, so that the benchmark's Postgres launcher (plain Node) can use it too.

/**
 * A loopback port nothing listens on right now (for a server the test must configure first).
 * @returns {Promise<number>}
 */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}
