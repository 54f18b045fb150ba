import type { IncomingMessage, Server } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

/** Set by `passExpectations` on a request whose `Expect` Node does not meet. */
const UNMET_EXPECTATION = Symbol('keyward.unmetExpectation');

type Marked = IncomingMessage & { [UNMET_EXPECTATION]?: true };

/**
 * Node answers two faults of a request's head itself, with a bare status and no body: an HTTP/1.1
 * request without `Host` (400, RFC 9112 §3.2) and an `Expect` it does not meet (417, RFC 9110
 * §10.1.1). The listeners hand both to their routes instead (`requireHostHeader: false`, and
 * `passExpectations`), where this names the fault, to be answered with the envelope, request id
 * and log line of every other error. Undefined for a sound head.
 */
export function faultyHead(request: FastifyRequest): GatewayError | undefined {
  if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
    return new GatewayError(400, 'invalid_request_error', 'HTTP/1.1 requests must send a Host header', {
      code: 'missing_host',
    });
  }
  if ((request.raw as Marked)[UNMET_EXPECTATION]) {
    return new GatewayError(
      417,
      'invalid_request_error',
      'The gateway meets no expectation but 100-continue; send the request without this Expect header',
      { code: 'expectation_failed' },
    );
  }
  return undefined;
}

/**
 * Hands requests with an expectation Node does not meet to the routes, marked, where `faultyHead`
 * refuses them. Node emits them as `checkExpectation` (those it takes for `100-continue`, whatever
 * else the header holds, it has answered `100 Continue` already, and they pass), and answers 417
 * itself when nothing listens.
 */
export function passExpectations(server: Server): void {
  server.on('checkExpectation', (request: Marked, response) => {
    request[UNMET_EXPECTATION] = true;
    server.emit('request', request, response);
  });
}
