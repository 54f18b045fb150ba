import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** An inbound id is kept only when it is short and plain, so it cannot inject into logs or headers. */
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(req: IncomingMessage): string {
  const inbound = req.headers['x-request-id'];
  return typeof inbound === 'string' && SANE_ID.test(inbound) ? inbound : randomUUID();
}
