import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** An inbound id is kept only when it is short and plain, so it cannot inject into logs or headers. */
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Where a request's id is kept on Node's own request object, for answers written beside Fastify. */
const ID = Symbol('keyward.requestId');
type Identified = IncomingMessage & { [ID]?: string };

/** Fastify's `genReqId`: the client's id when it is sane, else a new one. */
export function requestId(req: IncomingMessage): string {
  const inbound = req.headers['x-request-id'];
  const id = typeof inbound === 'string' && SANE_ID.test(inbound) ? inbound : randomUUID();
  (req as Identified)[ID] = id;
  return id;
}

/** The id `requestId` gave `req`, if it got that far. */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as Identified)[ID];
}

/** Where an answer written beside Fastify (by the connection's error handler) leaves its status and code. */
const ANSWERED = Symbol('keyward.answeredBeside');
type Answered = IncomingMessage & { [ANSWERED]?: { status: number; code: string | undefined } };

/** `req` was answered on its connection, not through its reply: its log line tells this answer. */
export function markAnsweredBeside(req: IncomingMessage, status: number, code: string | undefined): void {
  (req as Answered)[ANSWERED] = { status, code };
}

/** The answer `markAnsweredBeside` noted for `req`, if any. */
export function answeredBeside(
  req: IncomingMessage,
): { status: number; code: string | undefined } | undefined {
  return (req as Answered)[ANSWERED];
}
