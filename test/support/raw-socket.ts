import { connect, type Socket } from 'node:net';

export interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with everything the server sent once the connection has closed. */
  closed: Promise<string>;
  /** Resolves once the server has sent something containing `text`. */
  waitFor(text: string): Promise<string>;
}

/**
 * A bare TCP connection to a listener that reads whatever the server sends (a client that never
 * reads would not notice the server closing) and optionally sends `data` once connected, from
 * `localAddress` when given.
 */
export function rawConnection(url: string, data?: string, localAddress?: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const socket = connect({ port: Number(port), host, ...(localAddress && { localAddress }) });
  let text = '';
  const waiters: Array<{ text: string; resolve(all: string): void }> = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
    for (const waiter of waiters.splice(0)) {
      if (text.includes(waiter.text)) waiter.resolve(text);
      else waiters.push(waiter);
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      if (data !== undefined) socket.write(data);
      resolve({
        socket,
        received: () => text,
        closed,
        waitFor: (wanted) =>
          text.includes(wanted)
            ? Promise.resolve(text)
            : new Promise((done) => waiters.push({ text: wanted, resolve: done })),
      });
    });
  });
}

/** A complete keep-alive request for `path`, as a client would send it. */
export const getRequest = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`;
