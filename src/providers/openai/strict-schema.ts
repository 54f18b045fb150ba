import { isRecord } from '../wire-values.js';

/**
 * OpenAI's strict structured outputs take a subset of JSON Schema: a root object, every object
 * closed (`additionalProperties: false`) with all its properties required, `items` a single
 * schema, and only the keywords below (OpenAI's structured outputs guide, "Supported schemas";
 * its SDK's `toStrictJsonSchema` refuses the rest). Annotations pass.
 */
const KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'anyOf',
  'enum',
  'const',
  '$ref',
  '$defs',
  'definitions',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'description',
  'title',
  'default',
  'examples',
  '$comment',
]);
const FORMATS = new Set([
  'date-time',
  'time',
  'date',
  'duration',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'uuid',
]);

/**
 * `schema` as OpenAI's strict mode takes it, or undefined where it cannot without admitting an
 * answer the schema refuses. Only narrowings are made, each keeping every answer one the schema
 * takes: an object with properties is closed (Anthropic's constrained decoding and Gemini's emit
 * only the declared ones), and an optional property that takes null is required (the model answers
 * null for it). An optional property that takes no null, a map, a root that is not an object, or a
 * keyword outside the subset has no strict form.
 */
export function openAIStrictSchema(schema: Record<string, unknown>): Record<string, unknown> | undefined {
  if (schema.type !== 'object') return undefined;
  return strictNode(schema);
}

function strictNode(node: unknown): Record<string, unknown> | undefined {
  if (!isRecord(node)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (!KEYWORDS.has(key)) return undefined;
    out[key] = value;
  }
  if (typeof node.format === 'string' && !FORMATS.has(node.format)) return undefined;
  for (const key of ['$defs', 'definitions', 'properties'] as const) {
    if (node[key] === undefined) continue;
    const children = strictMap(node[key]);
    if (!children) return undefined;
    out[key] = children;
  }
  if (node.items !== undefined) {
    const items = strictNode(node.items);
    if (!items) return undefined;
    out.items = items;
  }
  if (node.anyOf !== undefined) {
    if (!Array.isArray(node.anyOf)) return undefined;
    const variants = node.anyOf.map(strictNode);
    if (variants.some((variant) => variant === undefined)) return undefined;
    out.anyOf = variants;
  }
  const types = [node.type].flat();
  if (types.includes('object') || node.properties !== undefined) return closedObject(out);
  return out;
}

function strictMap(map: unknown): Record<string, unknown> | undefined {
  if (!isRecord(map)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(map)) {
    const strict = strictNode(child);
    if (!strict) return undefined;
    out[name] = strict;
  }
  return out;
}

/** An object closed with every property required, or undefined for a map or a property that may be left out. */
function closedObject(node: Record<string, unknown>): Record<string, unknown> | undefined {
  const properties = node.properties;
  if (!isRecord(properties) || Object.keys(properties).length === 0) return undefined;
  const required = Array.isArray(node.required) ? node.required : [];
  const names = Object.keys(properties);
  if (names.some((name) => !required.includes(name) && !takesNull(properties[name]))) return undefined;
  const added = names.filter((name) => !required.includes(name));
  return { ...node, required: [...required, ...added], additionalProperties: false };
}

const takesNull = (schema: unknown): boolean =>
  isRecord(schema) &&
  ([schema.type].flat().includes('null') || (Array.isArray(schema.anyOf) && schema.anyOf.some(takesNull)));
