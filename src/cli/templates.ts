import {
  type CompiledTemplate,
  type ParamValue,
  renderRequest,
  resolveParams,
  TemplateRegistry,
} from '../templates/index.js';
import type { ParamDefinition } from '../templating/params.js';
import { CliError, type OfflineContext, print, unknownCommand } from './context.js';
import { type CliIO, terminalSafe } from './io.js';
import { table } from './table.js';

export interface TemplateFlags {
  params?: string | undefined;
  json?: boolean | undefined;
}

/** A value of the right type for a parameter the command line left out. */
function sample(name: string, def: ParamDefinition): ParamValue {
  if (def.default !== undefined) return def.default;
  switch (def.type) {
    case 'string':
      return `<${name}>`.slice(0, def.maxLength ?? Number.POSITIVE_INFINITY);
    case 'boolean':
      return false;
    case 'enum':
      return def.values![0]!;
    default:
      return def.min ?? def.max ?? 0;
  }
}

function parseParams(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError('--params must be a JSON object such as {"topic":"tea"}', 2);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CliError('--params must be a JSON object such as {"topic":"tea"}', 2);
  return value as Record<string, unknown>;
}

/** Renders a template as the gateway would, without calling any provider. */
function renderSample(template: CompiledTemplate, given: Record<string, unknown>) {
  const defs = template.definition.params;
  const params: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(defs)) params[name] = sample(name, def);
  const resolved = resolveParams(defs, { ...params, ...given });
  if ('problem' in resolved) throw new CliError(resolved.problem.message, 2);
  return {
    params: Object.fromEntries(resolved.values),
    request: renderRequest(template, resolved.values, false),
  };
}

/** `keyward templates list|show NAME|test NAME [--params JSON]`: offline, from the file and the store. */
export async function templatesCommand(
  action: string,
  args: readonly string[],
  flags: TemplateFlags,
  ctx: OfflineContext,
  io: CliIO,
): Promise<number> {
  const registry = new TemplateRegistry(ctx.store.templates, (name, version, message) =>
    io.stderr.write(
      `${terminalSafe(`keyward: stored template ${name} (version ${version}) is skipped: ${message}`)}\n`,
    ),
  );
  registry.setFileTemplates(ctx.config.templates);
  await registry.refresh();
  if (action === 'list') {
    const all = registry.list().map((t) => ({
      name: t.definition.name,
      source: t.source,
      version: t.version,
      model: t.definition.model,
      params: Object.keys(t.definition.params),
    }));
    const rows = all.map((t) => [t.name, `${t.source} v${t.version}`, t.model, t.params.join(', ')]);
    const text = rows.length > 0 ? table(['NAME', 'SOURCE', 'MODEL', 'PARAMS'], rows) : 'no templates';
    print(io, flags.json, { templates: all }, text);
    return 0;
  }
  if (action !== 'show' && action !== 'test')
    throw new CliError(unknownCommand(['keyward', 'templates', action]), 2);
  const name = args[0];
  if (!name)
    throw new CliError(`keyward templates ${action} needs a template name (see keyward templates list)`, 2);
  const template = registry.get(name);
  if (!template) throw new CliError(`no template is named ${name}`);
  if (action === 'show') {
    const view = { source: template.source, version: template.version, ...template.definition };
    print(io, flags.json, view, JSON.stringify(view, null, 2));
    return 0;
  }
  const rendered = renderSample(template, parseParams(flags.params));
  print(io, flags.json, rendered, JSON.stringify(rendered, null, 2));
  return 0;
}
