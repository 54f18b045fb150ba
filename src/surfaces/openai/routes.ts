import type { FastifyInstance } from 'fastify';
import type { ConversationService } from '../../conversations/index.js';
import type { Logger } from '../../observability/index.js';
import type { Router } from '../../routing/index.js';
import { capMaxTokens, mayUseModel, requireScope } from '../../server/access.js';
import type { Forwarder } from '../../server/forwarder.js';
import type { ProviderRuntime } from '../../server/provider-runtime.js';
import { inConversation } from '../responses/conversation-header.js';
import { openAIBinding } from './binding.js';
import { parseChatRequest, parseEmbeddingsRequest } from './validate.js';

export interface OpenAIRoutesOptions {
  forwarder: Forwarder;
  router: Router<ProviderRuntime>;
  /** For `x-keyward-conversation`: history kept in a Keyward conversation. */
  conversations: ConversationService;
  logger: Logger;
}

/** The OpenAI-compatible surface: Chat Completions, Embeddings and the model list. */
export async function openAIRoutes(
  app: FastifyInstance,
  { forwarder, router, ...context }: OpenAIRoutesOptions,
): Promise<void> {
  const created = Math.floor(Date.now() / 1000);

  app.post('/v1/chat/completions', (request, reply) => {
    requireScope(request.kw.principal, 'chat');
    const body = capMaxTokens(request.kw.principal, parseChatRequest(request.body));
    return inConversation(request, openAIBinding, context, (surface) =>
      forwarder.handle(request, reply, {
        operation: 'chat',
        surface,
        body,
        stream: body.stream === true,
        includeUsage: body.stream_options?.include_usage === true,
      }),
    );
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

  app.get('/v1/models', async (request) => {
    const { principal } = request.kw;
    requireScope(principal, 'models:read');
    const providers = principal?.kind === 'token' ? principal.record.providers : null;
    return {
      object: 'list',
      data: router
        .listAliases()
        .filter(
          ({ name, provider }) =>
            mayUseModel(principal, name) && (providers === null || providers.includes(provider)),
        )
        .map(({ name, provider }) => ({ id: name, object: 'model', created, owned_by: provider })),
    };
  });
}
