import type { FastifyReply } from 'fastify';
import { cutUnlessTaken } from './stall-cut.js';

const UNBUFFERED = { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };
const STREAM_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', ...UNBUFFERED };

/**
 * Resolves on 'drain', or on 'close' when the client goes away first. A client that takes
 * nothing for `stallMs` is cut: while it does not read, the provider's connection waits paused
 * (its idle timeout does not run then), and enough such clients would hold every connection to
 * the provider until their deadlines.
 */
function drained(raw: FastifyReply['raw'], stallMs: number): Promise<void> {
  return new Promise((resolve) => {
    const taken = cutUnlessTaken(raw, stallMs);
    const done = () => {
      taken();
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });
}

/**
 * Writes an event stream straight to the socket: headers with the first piece in one write, each
 * later piece as it comes, respecting backpressure. Measured against handing Fastify a
 * `Readable.from` of the same generator, this saves the stream machinery on every chunk (a fifth
 * of a translated stream's CPU in the benchmark). The reply is hijacked, so Fastify's send hooks
 * do not run; the per-request log and accounting listen on the socket's 'close' and still do.
 */
export function writeEventStream(
  reply: FastifyReply,
  first: string | undefined,
  rest: AsyncGenerator<string, void, undefined>,
  /** How long the client may take nothing while pieces wait (the provider's idle timeout). */
  stallMs: number,
): FastifyReply {
  reply.hijack();
  const raw = reply.raw;
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) raw.setHeader(name, value);
  }
  // An event stream unless the surface named its own type (Gemini's JSON array without `alt=sse`).
  raw.writeHead(200, raw.hasHeader('content-type') ? UNBUFFERED : STREAM_HEADERS);
  // Held for one turn of the event loop: a stream that is over by then (a short answer that came
  // in one upstream chunk) leaves in one write, its end included, instead of two system calls.
  const socket = raw.socket;
  socket?.cork();
  setImmediate(() => socket?.uncork());
  const pump = async () => {
    if (first !== undefined && !raw.write(first)) await drained(raw, stallMs);
    for await (const piece of rest) {
      if (raw.destroyed) break;
      if (!raw.write(piece)) await drained(raw, stallMs);
    }
    if (!raw.destroyed) raw.end();
  };
  pump().catch(() => raw.destroy());
  return reply;
}
