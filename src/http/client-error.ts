import { randomUUID } from 'node:crypto';
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError } from '../errors/gateway-error.js';
import { anthropicErrorBody } from '../surfaces/anthropic/envelope.js';
import { geminiErrorBody } from '../surfaces/gemini/envelope.js';
import { openAIErrorBody } from '../surfaces/openai/envelope.js';
import { markAnsweredBeside, requestIdOf } from './request-id.js';

function classify(error: NodeJS.ErrnoException): GatewayError {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new GatewayError(408, 'invalid_request_error', 'The request was not received in time', {
      code: 'request_timeout',
    });
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new GatewayError(431, 'invalid_request_error', 'Request headers are too large', {
      code: 'headers_too_large',
    });
  }
  return new GatewayError(400, 'invalid_request_error', 'Malformed HTTP request', {
    code: 'malformed_request',
  });
}

/** Node's own mark on a socket whose response is under way (set until that response finishes). */
type ServingSocket = Socket & { _httpMessage?: ServerResponse | null };

/**
 * Whether an answer written now is the answer to the request the error is about: there is no
 * response under way, or the one under way has sent nothing and its request is still arriving (a
 * body too slow, a chunked body malformed). Otherwise the error is in bytes after a complete
 * request, whose response would carry the status line inside it, or be answered by it.
 */
function answerable(current: ServerResponse | undefined): boolean {
  return !current || (!current.headersSent && !current.req.complete);
}

/** The request line's path, read from the bytes the parser failed on. */
const REQUEST_LINE = /^[A-Z]{3,10} (\/[^\s]*) HTTP\//;

/**
 * The path the failed request was for: its parsed head's when Node got that far, else the request
 * line at the start of the bytes the parser refused (`rawPacket`), when it is one.
 */
function pathOf(error: NodeJS.ErrnoException, current: ServerResponse | undefined): string | undefined {
  if (current) return current.req.url;
  const raw = (error as { rawPacket?: unknown }).rawPacket;
  if (!Buffer.isBuffer(raw)) return undefined;
  return REQUEST_LINE.exec(raw.subarray(0, 2048).toString('latin1'))?.[1];
}

/** The envelope of the surface a path belongs to, as the routes' errors choose it by path. */
function errorBody(path: string | undefined, answer: GatewayError): unknown {
  if (path?.startsWith('/v1/messages')) return anthropicErrorBody(answer);
  if (path?.startsWith('/v1beta/')) return geminiErrorBody(answer);
  return openAIErrorBody(answer);
}

/**
 * Answers errors Node raises before a request exists (slow clients, malformed HTTP) in the envelope
 * of the surface the request was for, with a request id, as every other error, then closes the
 * connection. Bytes that cannot be parsed arriving after a complete request (pipelined behind it,
 * or sent while its stream is written) only cut the connection: an answer then would land inside
 * that request's response, or stand in for it.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  // The response under way, once Node has parsed a request's head on this connection.
  const current = (socket as ServingSocket)._httpMessage ?? undefined;
  if (socket.writable && answerable(current)) {
    const answer = classify(error);
    const path = pathOf(error, current);
    const body = JSON.stringify(errorBody(path, answer));
    // The parsed request's own id (its log line's), else a new one.
    const id = (current && requestIdOf(current.req)) ?? randomUUID();
    // A request Node had parsed the head of has a log line coming: it tells this answer, unless
    // the client ended the connection mid-request (it left: 499, as a client gone is logged).
    if (current && error.code !== 'HPE_INVALID_EOF_STATE')
      markAnsweredBeside(current.req, answer.status, answer.code ?? undefined);
    // Anthropic's SDKs read the id only from `request-id`, as the data plane's answers give it.
    const ids = path?.startsWith('/v1/messages')
      ? `x-request-id: ${id}\r\nrequest-id: ${id}`
      : `x-request-id: ${id}`;
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nConnection: close\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${ids}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
