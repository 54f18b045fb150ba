import type { ServerResponse } from 'node:http';

/**
 * Cuts a response's client unless `stop` is called within `ms` of the response having its socket:
 * a client that takes nothing holds what waits for it (the provider's paused connection, an
 * answer's memory). A response queued behind another on a pipelined connection can be taken only
 * once it has the socket: timed from before, a long response ahead cut a client reading all along.
 */
export function cutUnlessTaken(res: ServerResponse, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    timer = setTimeout(() => res.destroy(), ms);
    timer.unref();
  };
  if (res.socket) start();
  else res.once('socket', start);
  return () => {
    clearTimeout(timer);
    res.off('socket', start);
  };
}
