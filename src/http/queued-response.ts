import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** By connection, its responses still waiting for its socket. */
const queued = new WeakMap<Socket, Set<ServerResponse>>();

/**
 * Gives a response queued behind another on a pipelined connection the `close` every response
 * gets. Such a response has no socket until the one before it is finished, and when the client's
 * connection goes away first Node never emits its `close` (`OutgoingMessage.destroy` waits for a
 * socket that never comes): its log line, its settlement (its reservation released, its usage
 * charged), the abort of its provider exchange and the release of its answer's memory all wait
 * on that event, and a client pipelining requests for large answers then hanging up held them
 * for the life of the process. A response that has its socket (every request not pipelined) is
 * left alone: Node closes it with its connection. One listener per connection, however many
 * requests it pipelines.
 */
export function closeWithConnection(res: ServerResponse, socket: Socket | null): void {
  if (res.socket || !socket) return;
  let waiting = queued.get(socket);
  if (!waiting) {
    const responses = new Set<ServerResponse>();
    waiting = responses;
    queued.set(socket, responses);
    socket.once('close', () => {
      queued.delete(socket);
      for (const response of responses) {
        // Given the socket meanwhile, the response was closed with it by Node.
        if (response.socket) continue;
        response.destroy();
        response.emit('close');
      }
    });
  }
  const responses = waiting;
  responses.add(res);
  res.once('close', () => responses.delete(res));
}
