import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../observability/index.js';
import { isAnthropicClient } from '../surfaces/anthropic/client.js';
import { anthropicErrorBody } from '../surfaces/anthropic/envelope.js';
import { isGeminiClient } from '../surfaces/gemini/client.js';
import { geminiErrorBody } from '../surfaces/gemini/envelope.js';
import { openAIErrorBody } from '../surfaces/openai/envelope.js';
import type { RequestContext } from './context.js';
import { storeFailure } from './store-errors.js';

/** Fastify's own failures, translated into messages that tell the client what to fix. */
function fromFastifyError(error: FastifyError, bodyLimit: number): GatewayError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError(
        413,
        'request_too_large',
        `Request body is larger than the limit of ${bodyLimit} bytes`,
        {
          code: 'body_too_large',
        },
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError(
        415,
        'invalid_request_error',
        'Unsupported Content-Type: send the JSON body with "Content-Type: application/json"',
        {
          code: 'unsupported_media_type',
        },
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('Content-Length does not match the body', { code: 'invalid_content_length' });
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return new GatewayError(error.statusCode, 'invalid_request_error', 'The request could not be processed', {
      code: 'bad_request',
    });
  }
  return undefined;
}

/**
 * Puts the answered error's code, and the model the body asked for, on the request's log line
 * (data plane only). Runs on the error path alone: a request that succeeds pays nothing.
 */
function noteError(request: FastifyRequest, error: GatewayError): void {
  const ctx = request.kw as RequestContext | null | undefined;
  if (!ctx) return;
  ctx.errorCode = error.code ?? error.type;
  const model = (request.body as { model?: unknown } | undefined)?.model;
  if (ctx.model === undefined && typeof model === 'string') ctx.askedModel = model.slice(0, 128);
}

/** Errors use the envelope of the surface the client called, so its SDK can parse them. */
function errorBody(request: FastifyRequest, error: GatewayError): unknown {
  if (isAnthropicClient(request)) return anthropicErrorBody(error);
  if (isGeminiClient(request)) return geminiErrorBody(error);
  return openAIErrorBody(error);
}

/**
 * Fastify's `frameworkErrors`: a path it cannot route (a `%` not followed by two hex digits, a
 * parameter past its length limit) is refused before any hook runs. Its own answer was a body of
 * its own shape naming its internal codes (`FST_ERR_BAD_URL`); this one is the surface's envelope
 * with the request id, as every other error.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  let answer: GatewayError;
  if (error.code === 'FST_ERR_BAD_URL') {
    answer = badRequest(
      'The request path is not valid: every % in it must be followed by two hexadecimal digits',
      {
        code: 'invalid_path',
      },
    );
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    answer = new GatewayError(
      414,
      'invalid_request_error',
      'A part of the request path is too long: no id or model name is',
      {
        code: 'path_too_long',
      },
    );
  } else {
    answer = internal;
  }
  reply.header('x-request-id', request.id).code(answer.status).send(errorBody(request, answer));
}

/** On an error answer: how many attempts of the request reached a provider and got no answer. */
export const UNANSWERED_HEADER = 'x-keyward-unanswered-attempts';

/** The longest `Retry-After` an SDK is left to wait for on its own (the bound the SDKs once kept). */
const LONGEST_CLIENT_WAIT_S = 60;

/**
 * Whether the client's SDK may send an errored request again on its own. The OpenAI and Anthropic
 * SDKs resend a 408, 409, 429 or 5xx twice unless the answer says `x-should-retry: false`. Not a
 * request the gateway charged: a provider answered it (and bills it) before the gateway failed it
 * (a malformed or oversized answer, a turn the store did not take), or attempts reached a provider
 * and got no answer (reset, timed out, a 504), each charged its reservation. The gateway has
 * retried and fallen back already; a resend would run and be charged again, three times over with
 * the SDKs' defaults. Nor an answer whose `Retry-After` is longer than a call should block for
 * (every provider key out until a per-day quota resets, hours away): the SDKs wait whatever it
 * says, then send the request twice. Any other error keeps the SDK's own rule.
 */
function clientMayRetry(ctx: RequestContext | null | undefined, headers: Record<string, string>): boolean {
  // Usage taken with the request unanswered: an embeddings request sent in parts, each answered
  // part charged as it came, that failed at a later one.
  const charged =
    ctx &&
    (ctx.upstreamAnswered ||
      ctx.upstreamSent ||
      ctx.usage !== undefined ||
      (ctx.unanswered?.length ?? 0) > 0);
  if (charged) return false;
  return !(Number(headers['retry-after']) > LONGEST_CLIENT_WAIT_S);
}

const internal = new GatewayError(
  500,
  'server_error',
  'Internal error; the request id identifies it in the gateway log',
);

/**
 * One envelope for every error either listener answers. Unexpected errors are logged (through the
 * redacting logger) and answered without detail: no message, stack or internal name leaves.
 */
export function installErrorHandling(app: FastifyInstance, logger: Logger, bodyLimit: number): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const stored = storeFailure(error);
    // The driver's words name the cause for the operator; the client hears only the answer's.
    if (stored) logger.error({ reqId: request.id, code: error.code, cause: error.message }, stored.message);
    // A route may read less than the listener (the /auth routes): the limit named is the one that refused.
    const limit = request.routeOptions?.bodyLimit ?? bodyLimit;
    const known = error instanceof GatewayError ? error : (stored ?? fromFastifyError(error, limit));
    if (!known) logger.error({ reqId: request.id, err: error }, 'unhandled error');
    const answer = known ?? internal;
    noteError(request, answer);
    if (reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    // Attempts that reached a provider and got no answer (reset, timed out, a 504) may have been
    // run and billed, and were charged: a client must not send the request again on its own.
    const unanswered = request.kw?.unanswered?.length;
    if (unanswered) reply.header(UNANSWERED_HEADER, String(unanswered));
    if (!clientMayRetry(request.kw, answer.headers)) reply.header('x-should-retry', 'false');
    return reply.code(answer.status).headers(answer.headers).send(errorBody(request, answer));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = (request.url.split('?')[0] ?? '').slice(0, 200);
    const error = new GatewayError(404, 'not_found_error', `Unknown route: ${request.method} ${path}`, {
      code: 'unknown_route',
    });
    noteError(request, error);
    return reply.code(404).send(errorBody(request, error));
  });
}
