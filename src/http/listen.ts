import { createServer, type Server } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** A listener that could not open its port: the message names the listener, the address and the fix. */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface Listener {
  /** How the user knows it: `data-plane listener`. */
  name: string;
  /** Where its address is set: `server.port or KEYWARD_PORT`. */
  setting: string;
  host: string;
  port: number;
}

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is already in use (another keyward, or another program)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address',
};

function listenError({ name, setting, host, port }: Listener, error: unknown): ListenError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new ListenError(
    `the ${name} cannot listen on ${host}:${port}: ${REASONS[code] ?? code}; choose another with ${setting}`,
    code,
  );
}

export async function listenOn(app: FastifyInstance, listener: Listener): Promise<void> {
  const { host, port } = listener;
  try {
    await app.listen({ host, port });
  } catch (error) {
    throw listenError(listener, error);
  }
}

/**
 * Throws the ListenError listenOn would for the first listener whose port is taken, by opening
 * every port and closing them all at once: asked before the store is migrated, so that a start
 * refused leaves it as it was. They are held until all are open, so that two listeners given one
 * port (the data and admin listeners on 8080) are refused as their `listen` would refuse the
 * second. Another program may still take a port before its listener opens it; that start is
 * refused once migrated, as before.
 */
export async function refuseTakenPorts(listeners: readonly Listener[]): Promise<void> {
  const probes: Server[] = [];
  try {
    for (const listener of listeners) {
      if (listener.port === 0) continue;
      const probe = createServer();
      probes.push(probe);
      try {
        await new Promise<void>((resolve, reject) => {
          probe.once('error', reject);
          probe.listen({ host: listener.host, port: listener.port, exclusive: true }, resolve);
        });
      } catch (error) {
        throw listenError(listener, error);
      }
    }
  } finally {
    await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))));
  }
}
