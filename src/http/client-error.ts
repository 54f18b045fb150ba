import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError } from '../errors/gateway-error.js';
import { openAIErrorBody } from '../surfaces/openai/envelope.js';

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

/**
 * Answers errors Node raises before a request exists (slow clients, malformed HTTP) in the same
 * envelope as every other error, then closes the connection.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer = classify(error);
  const body = JSON.stringify(openAIErrorBody(answer));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nConnection: close\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
