import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireScope } from '../../auth/access.js';
import type { CatalogProvider, ModelCatalog } from '../../catalog/model-catalog.js';
import type { ConversationService } from '../../conversations/index.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/index.js';
import type { Router } from '../../routing/index.js';
import { visibleModels } from '../openai/models.js';
import { parseBody } from '../parse-body.js';
import { forwardInConversation } from '../responses/conversation-header.js';
import type { RequestForwarder } from '../types.js';
import { geminiBinding } from './binding.js';
import { batchEmbedJob, embedJob, type GeminiEmbeddingJob, geminiEmbeddings } from './embeddings.js';
import {
  batchEmbedContentsSchema,
  countTokensSchema,
  embedContentSchema,
  generateContentSchema,
} from './schema.js';

export interface GeminiRoutesOptions {
  forwarder: RequestForwarder;
  router: Router<CatalogProvider>;
  catalog: ModelCatalog;
  /** For `x-keyward-conversation`: history kept in a Keyward conversation. */
  conversations: ConversationService;
  logger: Logger;
}

type ModelPath = FastifyRequest<{ Params: { '*': string } }>;

const METHODS = [
  'generateContent',
  'streamGenerateContent',
  'countTokens',
  'embedContent',
  'batchEmbedContents',
] as const;
type Method = (typeof METHODS)[number];

/** `{model}:{method}` from the path; a model name may hold `/` (`provider/model`) but not `:`. */
function modelAndMethod(request: ModelPath): { model: string; method: Method } {
  const tail = request.params['*'];
  const colon = tail.lastIndexOf(':');
  const method = tail.slice(colon + 1);
  if (colon <= 0 || !(METHODS as readonly string[]).includes(method)) {
    throw new GatewayError(
      404,
      'not_found_error',
      `No method '${method}' on /v1beta/models; use one of ${METHODS.join(', ')}`,
      {
        code: 'unknown_method',
      },
    );
  }
  // Limits, ceilings and metrics tell the methods apart by route.
  request.kw.route = `/v1beta/models/{model}:${method}`;
  return { model: tail.slice(0, colon), method: method as Method };
}

/**
 * Gemini's own API (`v1beta`), as `@google/genai` calls it with `x-goog-api-key`: content
 * generation, streamed (`alt=sse`) or not, token counting, embeddings and the model list, to
 * every provider type.
 */
export async function geminiRoutes(
  app: FastifyInstance,
  { forwarder, router, catalog, ...context }: GeminiRoutesOptions,
): Promise<void> {
  const conversational = { forwarder, ...context };
  const embed = (request: FastifyRequest, reply: FastifyReply, job: GeminiEmbeddingJob) => {
    requireScope(request.kw.principal, 'embeddings');
    const { taskType, title } = job;
    return forwarder.handle(request, reply, {
      operation: 'embeddings',
      surface: { ...geminiBinding, embeddingsAnswer: (answer) => geminiEmbeddings(answer, job.batch) },
      body: job.body,
      stream: false,
      includeUsage: false,
      options: { embedding: { ...(taskType && { taskType }), ...(title !== undefined && { title }) } },
    });
  };

  app.post('/v1beta/models/*', (request: ModelPath, reply) => {
    const { model, method } = modelAndMethod(request);
    switch (method) {
      case 'generateContent':
      case 'streamGenerateContent': {
        requireScope(request.kw.principal, 'chat');
        const stream = method === 'streamGenerateContent';
        const body = { ...parseBody(generateContentSchema, request.body), model, stream };
        return forwardInConversation(request, reply, conversational, {
          operation: 'chat',
          surface: geminiBinding,
          body,
          stream,
          includeUsage: true,
        });
      }
      case 'countTokens': {
        requireScope(request.kw.principal, 'chat');
        const { contents, generateContentRequest } = parseBody(countTokensSchema, request.body);
        const { model: _named, ...whole } = generateContentRequest ?? { contents: contents ?? [] };
        return forwarder.handle(request, reply, {
          operation: 'count_tokens',
          surface: geminiBinding,
          body: { ...whole, model },
          stream: false,
          includeUsage: false,
        });
      }
      case 'embedContent':
        return embed(request, reply, embedJob(model, parseBody(embedContentSchema, request.body)));
      case 'batchEmbedContents':
        return embed(request, reply, batchEmbedJob(model, parseBody(batchEmbedContentsSchema, request.body)));
    }
  });

  const listed = async (request: FastifyRequest) => {
    const { principal } = request.kw;
    requireScope(principal, 'models:read');
    return (await visibleModels(principal, router, catalog, 0)).map(({ id, owned_by }) => ({
      name: `models/${id}`,
      baseModelId: id,
      displayName: id,
      description: `${id} through Keyward (provider ${owned_by})`,
      supportedGenerationMethods: [...METHODS],
    }));
  };

  app.get('/v1beta/models', async (request) => ({ models: await listed(request) }));

  app.get('/v1beta/models/*', async (request: ModelPath) => {
    const name = `models/${request.params['*']}`;
    const found = (await listed(request)).find((model) => model.name === name);
    if (!found)
      throw new GatewayError(
        404,
        'not_found_error',
        `No model '${request.params['*']}'; GET /v1beta/models lists them`,
        {
          code: 'model_not_found',
        },
      );
    return found;
  });
}
