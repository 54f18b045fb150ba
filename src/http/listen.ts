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

export async function listenOn(app: FastifyInstance, listener: Listener): Promise<void> {
  const { name, setting, host, port } = listener;
  try {
    await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ListenError(
      `the ${name} cannot listen on ${host}:${port}: ${REASONS[code] ?? code}; choose another with ${setting}`,
      code,
    );
  }
}
