import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireScope } from '../../auth/access.js';
import type { ConversationService } from '../../conversations/index.js';
import type { Logger } from '../../observability/index.js';
import { forwardInConversation } from '../responses/conversation-header.js';
import type { RequestForwarder } from '../types.js';
import { refuseUnallowedAdvisor } from './advisor.js';
import { anthropicBinding } from './binding.js';
import { parseCountTokensRequest, parseMessagesRequest } from './validate.js';

export interface AnthropicRoutesOptions {
  forwarder: RequestForwarder;
  /** For `x-keyward-conversation`: history kept in a Keyward conversation. */
  conversations: ConversationService;
  logger: Logger;
}

/** The `anthropic-beta` flags a client asked for; the provider adapter keeps the allowlisted ones. */
function betas(request: FastifyRequest): string[] | undefined {
  const header = request.headers['anthropic-beta'];
  if (header === undefined) return undefined;
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap((value) => value.split(',').map((flag) => flag.trim())).filter(Boolean);
}

/** The Anthropic Messages surface: what `@anthropic-ai/sdk` and Claude Code call. */
export async function anthropicRoutes(
  app: FastifyInstance,
  { forwarder, ...context }: AnthropicRoutesOptions,
): Promise<void> {
  const conversational = { forwarder, ...context };
  app.post('/v1/messages', (request, reply) => {
    requireScope(request.kw.principal, 'chat');
    const body = parseMessagesRequest(request.body);
    refuseUnallowedAdvisor(request.kw.principal, body);
    return forwardInConversation(request, reply, conversational, {
      operation: 'chat',
      surface: anthropicBinding,
      body,
      stream: body.stream === true,
      // Anthropic's stream always carries usage.
      includeUsage: true,
      options: { betas: betas(request) },
    });
  });

  app.post('/v1/messages/count_tokens', (request, reply) => {
    requireScope(request.kw.principal, 'chat');
    const body = parseCountTokensRequest(request.body);
    return forwarder.handle(request, reply, {
      operation: 'count_tokens',
      surface: anthropicBinding,
      body,
      stream: false,
      includeUsage: false,
      options: { betas: betas(request) },
    });
  });
}
