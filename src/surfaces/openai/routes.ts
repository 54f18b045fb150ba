import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireScope } from '../../auth/access.js';
import type { CatalogProvider, ModelCatalog } from '../../catalog/model-catalog.js';
import type { ConversationService } from '../../conversations/index.js';
import type { Logger } from '../../observability/index.js';
import type { Router } from '../../routing/index.js';
import { anthropicModel, anthropicModelPage, fromAnthropicClient } from '../anthropic/models.js';
import { fromGeminiClient, geminiModel, geminiModels } from '../gemini/models.js';
import { forwardInConversation } from '../responses/conversation-header.js';
import type { ClientErrorsConfig, RequestForwarder } from '../types.js';
import { chatBinding, openAIBinding } from './binding.js';
import { modelNotFound, usableModel, visibleModels } from './models.js';
import { parseChatRequest, parseEmbeddingsRequest } from './validate.js';

export interface OpenAIRoutesOptions {
  forwarder: RequestForwarder;
  router: Router<CatalogProvider>;
  catalog: ModelCatalog;
  /** For `x-keyward-conversation`: history kept in a Keyward conversation. */
  conversations: ConversationService;
  logger: Logger;
}

/** The OpenAI-compatible surface: Chat Completions, Embeddings, the model list and one model. */
export async function openAIRoutes(
  app: FastifyInstance,
  { forwarder, router, catalog, ...context }: OpenAIRoutesOptions,
): Promise<void> {
  const conversational = { forwarder, ...context };
  const created = Math.floor(Date.now() / 1000);

  app.post('/v1/chat/completions', (request, reply) => {
    requireScope(request.kw.principal, 'chat');
    const body = parseChatRequest(request.body);
    return forwardInConversation(request, reply, conversational, {
      operation: 'chat',
      surface: chatBinding(body),
      body,
      stream: body.stream === true,
      includeUsage: body.stream_options?.include_usage === true,
    });
  });

  app.post('/v1/embeddings', (request, reply) => {
    requireScope(request.kw.principal, 'embeddings');
    const body = parseEmbeddingsRequest(request.body);
    return forwarder.handle(request, reply, {
      operation: 'embeddings',
      surface: openAIBinding,
      body,
      stream: false,
      includeUsage: false,
    });
  });

  // `@google/genai` with `apiVersion: 'v1'` lists models here too: a Gemini client (its key in
  // x-goog-api-key) gets Gemini's list and errors, a Bearer one OpenAI's.
  // So does Anthropic's SDK, which sends `anthropic-version`: it gets Anthropic's list and errors.
  const geminiClient = (request: FastifyRequest) => fromGeminiClient(request.headers);
  const anthropicClient = (request: FastifyRequest) =>
    !geminiClient(request) && fromAnthropicClient(request.headers);
  const config: ClientErrorsConfig = { geminiErrors: geminiClient, anthropicErrors: anthropicClient };
  app.get('/v1/models', { config }, async (request) => {
    const { principal } = request.kw;
    requireScope(principal, 'models:read');
    if (geminiClient(request)) return { models: await geminiModels(principal, router, catalog) };
    const models = await visibleModels(principal, router, catalog, created);
    if (anthropicClient(request)) return anthropicModelPage(models, request.query as Record<string, unknown>);
    return { object: 'list', data: models };
  });
  // OpenAI's retrieve and Gemini's `models.get` share this path too; a model name may hold `/`.
  app.get('/v1/models/*', { config }, async (request: FastifyRequest<{ Params: { '*': string } }>) => {
    const { principal } = request.kw;
    requireScope(principal, 'models:read');
    const name = request.params['*'];
    const found = usableModel(principal, router, name, created);
    if (!found) throw modelNotFound(name, 'GET /v1/models');
    if (geminiClient(request)) return geminiModel(found);
    return anthropicClient(request) ? anthropicModel(found) : found;
  });
}
