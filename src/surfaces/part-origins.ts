import type { ChatRequest } from '../canonical/model.js';

/**
 * The client's path to what each canonical message and part was made from, for as long as the
 * request lives: a surface's messages and parts do not map one to one onto canonical ones (hidden
 * system messages, items merged into one turn, a document made of several parts), so canonical
 * indices are not the client's. Keyed by the objects themselves, which stay the same when a
 * conversation's history is joined in front (whose parts have no path the client knows).
 */
const ORIGINS = new WeakMap<object, string>();

export function traced<T extends object>(made: T, origin: string): T {
  ORIGINS.set(made, origin);
  return made;
}

export function tracedAll<T extends object>(made: T[], origin: string): T[] {
  for (const part of made) ORIGINS.set(part, origin);
  return made;
}

/** One step down a canonical path: `messages[3]`, `.content[2]` or `system[0]`. */
const STEP = /^\.?(messages|content|system)\[(\d+)\]/;

/**
 * A provider's complaint about a canonical message or part (a tool result's inner part included),
 * as the client's path to what the deepest traced one was made from; the param as it came when
 * none was traced. The rest of the path names canonical fields (`toolCallId`, `source`) that the
 * client's block calls otherwise, so it is left out. A path into a schema the client wrote keeps
 * its rest (`schemaClientParam`).
 */
export function tracedClientParam(param: string, request: ChatRequest): string {
  const inSchema = schemaClientParam(param, request) ?? strictClientParam(param, request);
  if (inSchema !== undefined) return inSchema;
  let holder: unknown = request;
  let origin: string | undefined;
  let rest = param;
  for (let step = STEP.exec(rest); step; step = STEP.exec(rest)) {
    const list = (holder as Record<string, unknown>)[step[1]!];
    holder = Array.isArray(list) ? list[Number(step[2])] : undefined;
    if (typeof holder !== 'object' || holder === null) break;
    origin = ORIGINS.get(holder) ?? origin;
    rest = rest.slice(step[0].length);
  }
  return origin ?? param;
}

/** Where a canonical path names a schema the client wrote: the response format's, or a tool's parameters. */
const SCHEMA = /^(?:response_format\.json_schema\.schema|tools\[(\d+)\]\.function\.parameters)(?=\.|$)/;

/**
 * A provider's complaint inside a schema (the path Anthropic's strict schemas are refused at), as
 * the client's path to the schema followed by the path inside it, which is the client's own.
 */
function schemaClientParam(param: string, request: ChatRequest): string | undefined {
  const match = SCHEMA.exec(param);
  if (!match) return undefined;
  const schema =
    match[1] === undefined ? schemaOf(request.responseFormat) : request.tools?.[Number(match[1])]?.parameters;
  const origin = schema && ORIGINS.get(schema);
  return origin === undefined ? undefined : origin + param.slice(match[0].length);
}

const schemaOf = (format: ChatRequest['responseFormat']): object | undefined =>
  format?.type === 'json_schema' ? format.schema : undefined;

/** A tool's `strict` (refused where a provider cannot hold calls to a schema). */
const STRICT = /^tools\[(\d+)\]\.function\.strict$/;

/** A tool's `strict` as the client's path to the tool it declared, followed by `strict`. */
function strictClientParam(param: string, request: ChatRequest): string | undefined {
  const match = STRICT.exec(param);
  const tool = match ? request.tools?.[Number(match[1])] : undefined;
  const origin = tool === undefined ? undefined : ORIGINS.get(tool);
  return origin === undefined ? undefined : `${origin}.strict`;
}
