import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { CatalogProvider } from '../catalog/model-catalog.js';
import type { ConversationService } from '../conversations/index.js';
import { badRequest, GatewayError } from '../errors/gateway-error.js';
import type { Forwarder } from '../forward/forwarder.js';
import type { Logger } from '../observability/index.js';
import type { Router } from '../routing/index.js';
import { usableModel } from '../surfaces/openai/models.js';
import { parseChatRequest } from '../surfaces/openai/validate.js';
import { parseBody } from '../surfaces/parse-body.js';
import { conversationSurface } from '../surfaces/responses/conversation-header.js';
import type { SurfaceBinding } from '../surfaces/types.js';
import { type CompiledTemplate, renderRequest } from '../templating/compile.js';
import { resolveParams } from '../templating/params.js';
import { mayRunTemplate, requireTemplatesScope } from './access.js';
import { templateBinding } from './binding.js';
import type { TemplateRegistry } from './registry.js';

export interface TemplateRoutesOptions {
  forwarder: Forwarder;
  /** To list only the templates whose model the caller may use, as a run is refused the others. */
  router: Router<CatalogProvider>;
  registry: TemplateRegistry;
  /** For a run's `conversation`: history kept in a Keyward conversation. */
  conversations: ConversationService;
  logger: Logger;
  /** The most bytes a rendered template may send: the body limit, which bounds any other request. */
  bodyLimit: number;
}

const runBody = z.strictObject({
  params: z.record(z.string(), z.unknown()).optional(),
  stream: z.boolean().optional(),
  /** A conversation of the caller's to run the template in: its history first, the turn appended. */
  conversation: z.string().min(1).max(256).optional(),
});

const nameParams = z.strictObject({ name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/) });

/** Unknown and not allowed look the same: a caller learns nothing about templates it may not run. */
const notFound = (): GatewayError =>
  new GatewayError(404, 'not_found_error', 'No such template, or this credential may not run it', {
    code: 'template_not_found',
  });

/** What `GET /v1/templates` shows of a template: what a caller needs to run it. */
function describe(template: CompiledTemplate) {
  const { name, description, model, params, output } = template.definition;
  return {
    name,
    object: 'template',
    ...(description !== undefined && { description }),
    model,
    version: template.version,
    params,
    ...(output && { output }),
    stream: output === undefined,
  };
}

/** `GET /v1/templates` and `POST /v1/templates/{name}/run`: whitelisted prompts with typed params. */
export async function templateRoutes(
  app: FastifyInstance,
  { forwarder, router, registry, conversations, logger, bodyLimit }: TemplateRoutesOptions,
): Promise<void> {
  app.get('/v1/templates', async (request) => {
    const { principal } = request.kw;
    requireTemplatesScope(principal);
    const data = registry
      .list()
      .filter(
        (t) =>
          mayRunTemplate(principal, t.definition.name) &&
          usableModel(principal, router, t.definition.model, 0) !== undefined,
      );
    return { object: 'list', data: data.map(describe) };
  });

  app.post('/v1/templates/:name/run', (request, reply) => {
    const { principal } = request.kw;
    requireTemplatesScope(principal);
    const parsedName = nameParams.safeParse(request.params);
    const template = parsedName.success ? registry.get(parsedName.data.name) : undefined;
    if (!template || !mayRunTemplate(principal, template.definition.name)) throw notFound();
    const input = parseBody(runBody, request.body ?? {});
    const stream = input.stream === true;
    if (stream && template.output) {
      throw badRequest(
        'This template has an output schema: its answer is checked whole, so it cannot stream',
        {
          param: 'stream',
          code: 'stream_unsupported',
        },
      );
    }
    const resolved = resolveParams(template.definition.params, input.params);
    if ('problem' in resolved) {
      const { message, param, code } = resolved.problem;
      throw badRequest(message, { param: `params.${param}`, code });
    }
    request.kw.template = template.definition.name;
    const rendered = renderRequest(template, resolved.values, stream);
    // A parameter the template uses many times multiplies the body: without this bound, a request
    // within the body limit could send a prompt many times larger.
    const renderedBytes = Buffer.byteLength(JSON.stringify(rendered));
    if (renderedBytes > bodyLimit)
      throw badRequest(
        `The rendered template is ${renderedBytes} bytes, more than the request size limit of ${bodyLimit}; send shorter params`,
        { param: 'params', code: 'template_too_large' },
      );
    const body = parseChatRequest(rendered);
    const run = (surface: SurfaceBinding) =>
      forwarder.handle(request, reply, { operation: 'chat', surface, body, stream, includeUsage: stream });
    const surface = templateBinding(template, renderedBytes);
    if (input.conversation === undefined) return run(surface);
    // The stored history goes to the template's model as it is, any role and any text: only a
    // credential that could send it there itself (chat, to a model it may use) may have it replayed.
    if (principal?.kind === 'token' && !principal.scopes.has('chat'))
      throw new GatewayError(
        403,
        'permission_error',
        "A template run continues a conversation only for a token with the 'chat' scope: the conversation's stored messages are sent to the template's model as they are",
        { code: 'insufficient_scope', param: 'conversation' },
      );
    forwarder.route(request, body.model);
    const where = { id: input.conversation, param: 'conversation' };
    return forwarder
      .refuseIfSpent(request)
      .then(() => conversationSurface(request, reply, surface, where, conversations, logger))
      .then(run);
  });
}
