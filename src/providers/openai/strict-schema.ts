import { isRecord } from '../wire-values.js';

/**
 * OpenAI's strict structured outputs take a subset of JSON Schema: a root object that is not a
 * union, every node typed, every object closed (`additionalProperties: false`) with all its
 * properties required and declared, an array's `items` one schema, a `$ref` alone and local, and
 * only the keywords below (OpenAI's structured outputs guide, "Supported schemas"; its SDK's
 * `toStrictJsonSchema` refuses the rest). Annotations pass but `default`, which OpenAI refuses
 * ("'default' is not permitted"), as Azure does a non-null one.
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
  'examples',
  '$comment',
]);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
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
 * The guide's bounds on a whole schema: nesting levels, object properties, enum values, and the
 * characters of property names, enum and const values. A string enum of more than 250 values has
 * its own bound on characters. Nesting is counted as written: a level for each `properties`,
 * `items` or definition entered.
 */
const LIMITS = { depth: 10, properties: 5000, enumValues: 1000, chars: 120_000 };
const LARGE_ENUM = { values: 250, chars: 15_000 };

/** What one schema walk has counted against the limits, and the root its `$ref`s resolve in. */
interface Walk {
  root: Record<string, unknown>;
  properties: number;
  enumValues: number;
  chars: number;
}

/**
 * `schema` as OpenAI's strict mode takes it, or undefined where it cannot without admitting an
 * answer the schema refuses. Only narrowings are made, each keeping every answer one the schema
 * takes: an object with properties is closed (Anthropic's constrained decoding and Gemini's emit
 * only the declared ones), and an optional property that takes null is required (the model answers
 * null for it). An optional property that takes no null, a map, a root that is not an object, a
 * keyword outside the subset, or a schema past the limits has no strict form.
 */
export function openAIStrictSchema(schema: Record<string, unknown>): Record<string, unknown> | undefined {
  if (schema.type !== 'object' || schema.anyOf !== undefined) return undefined;
  const walk: Walk = { root: schema, properties: 0, enumValues: 0, chars: 0 };
  return strictNode(schema, walk, 0);
}

/** Past a limit: the walk stops there, as a schema of 66,000 properties held the event loop for seconds. */
const overLimits = (walk: Walk): boolean =>
  walk.properties > LIMITS.properties || walk.enumValues > LIMITS.enumValues || walk.chars > LIMITS.chars;

function strictNode(node: unknown, walk: Walk, depth: number): Record<string, unknown> | undefined {
  if (!isRecord(node) || depth > LIMITS.depth) return undefined;
  // OpenAI refuses any keyword beside a $ref ("$ref cannot have keywords {'description'}").
  if (node.$ref !== undefined)
    return Object.keys(node).length === 1 && resolves(node.$ref, walk.root) ? node : undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (!KEYWORDS.has(key)) return undefined;
    out[key] = value;
  }
  // Only a union may go without a type ("schema must have a 'type' key").
  const types = node.type === undefined ? [] : [node.type].flat();
  if (types.length === 0 ? node.anyOf === undefined : !types.every((type) => TYPES.has(type as string))) {
    return undefined;
  }
  if (typeof node.format === 'string' && !FORMATS.has(node.format)) return undefined;
  if (!countValues(node, walk)) return undefined;
  if (isRecord(node.properties)) {
    const names = Object.keys(node.properties);
    walk.properties += names.length;
    walk.chars += names.reduce((sum, name) => sum + name.length, 0);
  }
  if (overLimits(walk)) return undefined;
  for (const key of ['$defs', 'definitions', 'properties'] as const) {
    if (node[key] === undefined) continue;
    const children = strictMap(node[key], walk, depth + 1);
    if (!children) return undefined;
    out[key] = children;
  }
  if (node.items !== undefined || types.includes('array')) {
    const items = strictNode(node.items, walk, depth + 1);
    if (!items) return undefined;
    out.items = items;
  }
  if (node.anyOf !== undefined) {
    if (!Array.isArray(node.anyOf) || node.anyOf.length === 0) return undefined;
    const variants = node.anyOf.map((variant) => strictNode(variant, walk, depth));
    if (variants.some((variant) => variant === undefined)) return undefined;
    out.anyOf = variants;
  }
  if (types.includes('object') || node.properties !== undefined) return closedObject(out);
  return node.required === undefined ? out : undefined;
}

function strictMap(map: unknown, walk: Walk, depth: number): Record<string, unknown> | undefined {
  if (!isRecord(map)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(map)) {
    const strict = strictNode(child, walk, depth);
    if (!strict) return undefined;
    out[name] = strict;
  }
  return out;
}

/** Counts a node's enum and const values against the limits; false where its enum alone is past them. */
function countValues(node: Record<string, unknown>, walk: Walk): boolean {
  const values = node.enum === undefined ? [] : node.enum;
  if (!Array.isArray(values)) return false;
  const chars = (value: unknown) => (typeof value === 'string' ? value.length : 0);
  const enumChars = values.reduce((sum: number, value) => sum + chars(value), 0);
  if (values.length > LARGE_ENUM.values && enumChars > LARGE_ENUM.chars) return false;
  walk.enumValues += values.length;
  walk.chars += enumChars + chars(node.const);
  return true;
}

/** Whether a `$ref` is a JSON pointer into the schema itself that names a schema (OpenAI resolves no other). */
function resolves(ref: unknown, root: Record<string, unknown>): boolean {
  if (typeof ref !== 'string' || !ref.startsWith('#')) return false;
  if (ref === '#') return true;
  if (!ref.startsWith('#/')) return false;
  let target: unknown = root;
  for (const segment of ref.slice(2).split('/')) {
    // Not percent-decoded: a name that needs it goes unresolved, so without strict.
    const name = segment.replaceAll('~1', '/').replaceAll('~0', '~');
    target = isRecord(target) && Object.hasOwn(target, name) ? target[name] : undefined;
  }
  return isRecord(target);
}

/**
 * An object closed with every property required, or undefined for a map, a property that may be
 * left out, or a required name that is not a property.
 */
function closedObject(node: Record<string, unknown>): Record<string, unknown> | undefined {
  const properties = node.properties;
  if (!isRecord(properties) || Object.keys(properties).length === 0) return undefined;
  const required = node.required === undefined ? [] : node.required;
  if (
    !Array.isArray(required) ||
    required.some((name) => typeof name !== 'string' || !Object.hasOwn(properties, name))
  ) {
    return undefined;
  }
  const names = Object.keys(properties);
  const listed = new Set(required);
  if (names.some((name) => !listed.has(name) && !takesNull(properties[name]))) return undefined;
  const added = names.filter((name) => !listed.has(name));
  return { ...node, required: [...required, ...added], additionalProperties: false };
}

const takesNull = (schema: unknown): boolean =>
  isRecord(schema) &&
  ([schema.type].flat().includes('null') || (Array.isArray(schema.anyOf) && schema.anyOf.some(takesNull)));
