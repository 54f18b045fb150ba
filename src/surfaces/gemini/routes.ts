import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireScope } from '../../auth/access.js';
import type { CatalogProvider, ModelCatalog } from '../../catalog/model-catalog.js';
import type { ConversationService } from '../../conversations/index.js';
import { badRequest, GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/index.js';
import type { Router } from '../../routing/index.js';
import { modelNotFound, usableModel } from '../openai/models.js';
import { parseBody } from '../parse-body.js';
import { forwardInConversation } from '../responses/conversation-header.js';
import type { ClientErrorsConfig, RequestForwarder } from '../types.js';
import { geminiBinding, geminiChatBinding } from './binding.js';
import { batchEmbedJob, embedJob, type GeminiEmbeddingJob, geminiEmbeddings } from './embeddings.js';
import { GEMINI_REQUESTS, withJsonNames } from './field-names.js';
import { GEMINI_METHODS, type GeminiMethod, geminiModel, geminiModels } from './models.js';
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

type WildcardPath = FastifyRequest<{ Params: { '*': string } }>;

/** The API versions `@google/genai` calls (`apiVersion`), each with the same methods. */
const VERSIONS = ['/v1beta', '/v1'] as const;

/**
 * Google's own collections under a version (`/v1beta/files/…`, `/v1beta/cachedContents/…`): a
 * path naming one is never a `provider/model` name.
 */
const GOOGLE_COLLECTIONS = new Set([
  'batches',
  'cachedContents',
  'corpora',
  'dynamic',
  'fileSearchStores',
  'files',
  'generatedFiles',
  'models',
  'operations',
  'projects',
  'ragStores',
  'tunedModels',
]);

/** `{model}:{method}` from the path; a model name may hold `/` (`provider/model`) but not `:`. */
function modelAndMethod(request: FastifyRequest, tail: string): { model: string; method: GeminiMethod } {
  const colon = tail.lastIndexOf(':');
  const method = tail.slice(colon + 1);
  if (colon <= 0 || !(GEMINI_METHODS as readonly string[]).includes(method)) {
    throw new GatewayError(
      404,
      'not_found_error',
      `No method '${method}' on a model; use one of ${GEMINI_METHODS.join(', ')}`,
      { code: 'unknown_method' },
    );
  }
  // Limits, ceilings and metrics tell the methods apart by route, whatever the version.
  request.kw.route = `/v1beta/models/{model}:${method}`;
  return { model: tail.slice(0, colon), method: method as GeminiMethod };
}

/**
 * `{provider}/{model}:{method}` straight under a version, as the Vercel AI SDK's
 * `google('openai/gpt-4o')` calls it (a model id with a `/` is taken as a whole resource name).
 */
function providerModelPath(tail: string): boolean {
  const slash = tail.indexOf('/');
  return slash > 0 && tail.lastIndexOf(':') > slash && !GOOGLE_COLLECTIONS.has(tail.slice(0, slash));
}

const wildcard = (request: FastifyRequest): string =>
  (request.params as { '*'?: string } | undefined)?.['*'] ?? '';

/**
 * Gemini's own API, as `@google/genai` calls it with `x-goog-api-key` (`v1beta`, or `v1` when
 * asked): content generation, streamed (SSE with `alt=sse`, else one JSON array) or not, token
 * counting, embeddings and the model list, to every provider type. Bodies may name fields by
 * their proto names (`generation_config`) as Google's REST API allows.
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
      surface: { ...geminiBinding, embeddingsAnswer: (answer) => geminiEmbeddings(answer, job) },
      body: job.body,
      stream: false,
      includeUsage: false,
      options: { embedding: { ...(taskType && { taskType }), ...(title !== undefined && { title }) } },
    });
  };

  const call = (request: FastifyRequest, reply: FastifyReply, tail: string) => {
    const { model, method } = modelAndMethod(request, tail);
    switch (method) {
      case 'generateContent':
      case 'streamGenerateContent': {
        requireScope(request.kw.principal, 'chat');
        const stream = method === 'streamGenerateContent';
        const named = withJsonNames(request.body, GEMINI_REQUESTS.generateContent);
        const body = { ...parseBody(generateContentSchema, named), model, stream };
        const jsonArray = stream && !asksForSse(request);
        // The stream writer keeps a type set here; an SSE stream is labelled as one.
        if (jsonArray) reply.header('content-type', 'application/json; charset=utf-8');
        return forwardInConversation(request, reply, conversational, {
          operation: 'chat',
          surface: geminiChatBinding(body, jsonArray),
          body,
          stream,
          includeUsage: true,
        });
      }
      case 'countTokens': {
        requireScope(request.kw.principal, 'chat');
        const { contents, generateContentRequest } = parseBody(
          countTokensSchema,
          withJsonNames(request.body, GEMINI_REQUESTS.countTokens),
        );
        // Counting generates nothing for a filter to block: safety settings change no count, and
        // translated, a blocking threshold would be refused as a filter only Gemini runs.
        const {
          model: _named,
          safetySettings: _filter,
          ...whole
        } = generateContentRequest ?? { contents: contents ?? [] };
        return forwarder.handle(request, reply, {
          operation: 'count_tokens',
          surface: geminiBinding,
          body: { ...whole, model },
          stream: false,
          includeUsage: false,
        });
      }
      case 'embedContent': {
        const body = withJsonNames(request.body, GEMINI_REQUESTS.embedContent);
        return embed(request, reply, embedJob(model, parseBody(embedContentSchema, body)));
      }
      case 'batchEmbedContents': {
        const body = withJsonNames(request.body, GEMINI_REQUESTS.batchEmbedContents);
        return embed(request, reply, batchEmbedJob(model, parseBody(batchEmbedContentsSchema, body)));
      }
    }
  };

  for (const version of VERSIONS) {
    // Under /v1beta/ the listener answers errors in Google's envelope already; under /v1/ it
    // answers OpenAI's unless the route says this is a Gemini call.
    const errors = (geminiErrors: ClientErrorsConfig['geminiErrors']) =>
      version === '/v1beta' ? {} : { config: { geminiErrors } satisfies ClientErrorsConfig };
    // OpenAI's API has no POST under /v1/models/, so these are Gemini's under either version.
    app.post(
      `${version}/models/*`,
      errors(() => true),
      (request, reply) => call(request, reply, wildcard(request)),
    );
    // Anything else under the version is Gemini's only when it names a provider/model; the rest
    // stays unknown, as it was.
    const providerModel = (request: FastifyRequest) => providerModelPath(wildcard(request));
    app.post(`${version}/*`, errors(providerModel), (request, reply) =>
      providerModel(request) ? call(request, reply, wildcard(request)) : reply.callNotFound(),
    );
  }

  app.get('/v1beta/models', async (request) => {
    requireScope(request.kw.principal, 'models:read');
    return { models: await geminiModels(request.kw.principal, router, catalog) };
  });

  // `models.get`; under /v1 the OpenAI surface serves it, since OpenAI's retrieve shares the path.
  app.get('/v1beta/models/*', async (request: WildcardPath) => {
    const { principal } = request.kw;
    requireScope(principal, 'models:read');
    const name = request.params['*'];
    const found = usableModel(principal, router, name, 0);
    if (!found) throw modelNotFound(name, 'GET /v1beta/models');
    return geminiModel(found);
  });
}

/**
 * `alt=sse` asks for server-sent events, as the SDKs do; without it (or with `alt=json`) Google
 * streams one JSON array. Its other encodings (`proto`, `media`) are not Gemini answers here.
 */
function asksForSse(request: FastifyRequest): boolean {
  const alt = (request.query as Record<string, unknown> | undefined)?.alt;
  if (alt === undefined || alt === 'json') return false;
  if (alt === 'sse') return true;
  throw badRequest("alt may be 'sse' (server-sent events) or 'json' (one JSON array, the default)", {
    param: 'alt',
    code: 'invalid_value',
  });
}
