import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { LOOP_FIX, LOOP_STATUS, loopIn, VIA_HEADER, viaHops } from '../upstream/index.js';

const returned = new GatewayError(
  LOOP_STATUS,
  'server_error',
  `Request loop: this request has already passed through this Keyward gateway. ${LOOP_FIX}`,
  { code: 'loop_detected' },
);

const tooManyHops = new GatewayError(
  LOOP_STATUS,
  'server_error',
  `Request loop: this request has passed through too many Keyward gateways. ${LOOP_FIX}`,
  { code: 'loop_detected' },
);

/**
 * Refuses a request that came back to this gateway through a provider's baseUrl (see
 * `upstream/via.ts`), first thing: before its credential is checked (a looped request carries the
 * gateway's own provider key, whose refusal would count as a guess from the gateway's address and
 * get that key probed and benched), so no limit is spent and no provider key is taken for it. A
 * client sending the header can only have its own request refused.
 */
export function refuseLoop(request: FastifyRequest): void {
  const via = request.headers[VIA_HEADER];
  if (via === undefined) return;
  const loop = loopIn(viaHops(via));
  if (loop) throw loop === 'returned' ? returned : tooManyHops;
}
