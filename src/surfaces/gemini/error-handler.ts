import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isRecord } from '../../providers/index.js';
import { geminiErrorBody } from './envelope.js';

type ErrorHandler = FastifyInstance['errorHandler'];

/**
 * The error handler of Gemini routes outside `/v1beta/` (Google's `v1`, `provider/model` paths,
 * the model list a Gemini client asks `/v1/models` for). The listener's own handler answers, so
 * that what is logged and the status and headers stay its own; it picks the envelope by path,
 * OpenAI's under `/v1/`, which is re-encoded as Google's for the requests `fromGeminiClient` picks.
 */
export function geminiErrorHandler(
  app: FastifyInstance,
  fromGeminiClient: (request: FastifyRequest) => boolean,
): ErrorHandler {
  const listener = app.errorHandler;
  return (error, request, reply) => {
    if (fromGeminiClient(request))
      reply
        .type('application/json; charset=utf-8')
        .serializer((payload: unknown) => JSON.stringify(inGoogleEnvelope(payload, reply.statusCode)));
    return listener(error, request, reply);
  };
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** OpenAI's envelope (`{error: {message, type, code, param}}`) as Google's, with the status. */
function inGoogleEnvelope(payload: unknown, status: number): unknown {
  const error = isRecord(payload) && isRecord(payload.error) ? payload.error : undefined;
  if (typeof error?.message !== 'string' || typeof error.type !== 'string') return payload;
  return geminiErrorBody({
    status,
    message: error.message,
    type: error.type,
    code: text(error.code),
    param: text(error.param),
  });
}
