import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditSink, recordEvent } from '../audit/index.js';
import { badRequest, GatewayError } from '../errors/gateway-error.js';
import { parseInput } from '../http/parse-input.js';
import type { Store, TemplateRecord } from '../store/index.js';
import type { CompiledTemplate } from '../templating/compile.js';
import { templateSchema } from '../templating/schema.js';
import type { TemplateRegistry } from './registry.js';

export interface AdminTemplatesOptions {
  registry: TemplateRegistry;
  store: Store;
  audit: AuditSink;
  /** Whether a model name routes now (an alias, `provider/model`, a wildcard's match). */
  routes: (model: string) => boolean;
  /** Why the model's targets cannot take an output schema; undefined when each can. */
  outputRefusal: (model: string, schema: Record<string, unknown>) => string | undefined;
}

const nameParams = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a template name'),
});
const versionParams = nameParams.extend({ version: z.coerce.number().int().min(1).max(1_000_000) });

const notFound = () =>
  new GatewayError(404, 'not_found_error', 'No such template', { code: 'template_not_found' });
const readOnly = (name: string) =>
  new GatewayError(
    409,
    'invalid_request_error',
    `The template '${name}' comes from the configuration file: change it there`,
    {
      code: 'template_read_only',
    },
  );

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const currentView = (t: CompiledTemplate) => ({
  name: t.definition.name,
  source: t.source,
  version: t.version,
  definition: t.definition,
});

const versionView = (r: TemplateRecord) => ({
  name: r.name,
  version: r.version,
  createdBy: r.createdBy,
  createdAt: iso(r.createdAt),
  deletedAt: iso(r.deletedAt),
  definition: { ...r.definition, name: r.name },
});

/**
 * `/admin/templates`: stored templates, every save a new version kept for good; those from the
 * configuration file are shown but read-only here.
 */
export function adminTemplateRoutes(
  app: FastifyInstance,
  { registry, store, audit, routes, outputRefusal }: AdminTemplatesOptions,
): void {
  const save = async (name: string, body: unknown) => {
    if (registry.isFileTemplate(name)) throw readOnly(name);
    const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {};
    if ('name' in fields && fields.name !== name)
      throw badRequest('The name in the body differs from the one in the path', { param: 'name' });
    const definition = parseInput(templateSchema, { ...fields, name });
    // A client holding only the template cannot name another model: one that routes nowhere is
    // refused here, as the configuration file's are at load.
    if (!routes(definition.model))
      throw badRequest(
        `The model '${definition.model}' routes nowhere; name an alias, provider/model of a configured provider, or a name a wildcard alias matches`,
        { param: 'model', code: 'unknown_model' },
      );
    const refusal = definition.output && outputRefusal(definition.model, definition.output);
    if (refusal)
      throw badRequest(`The output schema cannot be used with the model '${definition.model}': ${refusal}`, {
        param: 'output',
        code: 'unsupported_for_provider',
      });
    const record = await store.templates.save(name, definition, AUDIT_ACTORS.admin, Date.now());
    await registry.refresh();
    recordEvent(audit, AUDIT_EVENTS.adminAction, AUDIT_ACTORS.admin, {
      action: 'template.saved',
      target: name,
      detail: { version: record.version },
    });
    return versionView(record);
  };

  app.get('/admin/templates', async () => ({ templates: registry.list().map(currentView) }));

  app.post('/admin/templates', async (request, reply) => {
    const body = request.body as { name?: unknown } | undefined;
    const { name } = parseInput(nameParams, { name: body?.name });
    return reply.code(201).send(await save(name, body));
  });

  app.put('/admin/templates/:name', async (request, reply) => {
    const { name } = parseInput(nameParams, request.params);
    return reply.code(201).send(await save(name, request.body));
  });

  app.get('/admin/templates/:name', async (request) => {
    const { name } = parseInput(nameParams, request.params);
    const template = registry.get(name);
    if (!template) throw notFound();
    return currentView(template);
  });

  app.get('/admin/templates/:name/versions', async (request) => {
    const { name } = parseInput(nameParams, request.params);
    const versions = await store.templates.versions(name);
    if (versions.length === 0) throw notFound();
    return { versions: versions.map(versionView) };
  });

  app.get('/admin/templates/:name/versions/:version', async (request) => {
    const { name, version } = parseInput(versionParams, request.params);
    const record = (await store.templates.versions(name)).find((r) => r.version === version);
    if (!record) throw notFound();
    return versionView(record);
  });

  app.delete('/admin/templates/:name', async (request) => {
    const { name } = parseInput(nameParams, request.params);
    if (registry.isFileTemplate(name)) throw readOnly(name);
    if (!(await store.templates.remove(name, Date.now()))) throw notFound();
    await registry.refresh();
    recordEvent(audit, AUDIT_EVENTS.adminAction, AUDIT_ACTORS.admin, {
      action: 'template.deleted',
      target: name,
    });
    return { name, deleted: true };
  });
}
