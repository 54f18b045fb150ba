import type { Server } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

/**
 * Node answers two faults of a request's head itself, with a bare status and no body: an HTTP/1.1
 * request without `Host` (400, RFC 9112 §3.2) and an `Expect` other than `100-continue` (417, RFC
 * 9110 §10.1.1). The listeners hand both to their routes instead (`requireHostHeader: false`, and
 * `passExpectations`), and this refuses them there, with the envelope, request id and log line of
 * every other error.
 */
export function refuseFaultyHead(request: FastifyRequest): void {
  const { headers } = request;
  if (headers.host === undefined && request.raw.httpVersion === '1.1') {
    throw new GatewayError(400, 'invalid_request_error', 'HTTP/1.1 requests must send a Host header', {
      code: 'missing_host',
    });
  }
  const expectation = headers.expect;
  if (expectation !== undefined && expectation.toLowerCase() !== '100-continue') {
    throw new GatewayError(
      417,
      'invalid_request_error',
      'The gateway meets no expectation but 100-continue; send the request without this Expect header',
      { code: 'expectation_failed' },
    );
  }
}

/**
 * Hands requests with an expectation Node does not know to the routes (Node emits them as
 * `checkExpectation`, and answers 417 itself when nothing listens), where `refuseFaultyHead`
 * answers them.
 */
export function passExpectations(server: Server): void {
  server.on('checkExpectation', (request, response) => server.emit('request', request, response));
}
