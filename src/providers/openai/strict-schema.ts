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
/**
 * What a root may carry beside those: the dialect and id that schema generators write there
 * (zod-to-json-schema, zod 4's `toJSONSchema`, the AI SDK's `zodSchema`), which OpenAI takes and
 * its SDK's `toStrictJsonSchema` lets through.
 */
const ROOT_METADATA = new Set(['$schema', '$id']);
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
 * A schema in the form OpenAI's strict mode takes, or where (a path inside the schema, `''` for its
 * root) and why it has none.
 */
export type StrictFit = { schema: Record<string, unknown> } | { at: string; misfit: string };

/** Where and why a schema has no strict form; thrown inside a walk, which it ends. */
class Misfit extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

function misfit(at: string, why: string): never {
  throw new Misfit(at, why);
}

/**
 * `schema` as OpenAI's strict mode takes it, or what keeps it from that without admitting an
 * answer the schema refuses. Only narrowings are made, each keeping every answer one the schema
 * takes: an object with properties is closed (Anthropic's constrained decoding and Gemini's emit
 * only the declared ones), and an optional property that takes null is required (the model answers
 * null for it). An optional property that takes no null, a map, a root that is not an object, a
 * keyword outside the subset, or a schema past the limits has no strict form.
 */
export function openAIStrictFit(schema: Record<string, unknown>): StrictFit {
  try {
    if (schema.type !== 'object' || schema.anyOf !== undefined) misfit('', 'its root is not one object');
    const walk: Walk = { root: schema, properties: 0, enumValues: 0, chars: 0 };
    return { schema: strictNode(schema, walk, 0, '') };
  } catch (error) {
    if (error instanceof Misfit) return { at: error.at, misfit: error.message };
    throw error;
  }
}

/** Past a limit: the walk stops there, as a schema of 66,000 properties held the event loop for seconds. */
const overLimits = (walk: Walk): boolean =>
  walk.properties > LIMITS.properties || walk.enumValues > LIMITS.enumValues || walk.chars > LIMITS.chars;

function strictNode(node: unknown, walk: Walk, depth: number, at: string): Record<string, unknown> {
  if (!isRecord(node)) return misfit(at, 'it is not a schema object');
  if (depth > LIMITS.depth) misfit(at, `it nests deeper than ${LIMITS.depth} levels`);
  // OpenAI refuses any keyword beside a $ref ("$ref cannot have keywords {'description'}").
  if (node.$ref !== undefined) {
    if (Object.keys(node).length > 1) misfit(at, 'a $ref has keywords beside it');
    return resolves(node.$ref, walk.root)
      ? node
      : misfit(at, 'its $ref is not a pointer to a schema inside it');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (!KEYWORDS.has(key) && !(node === walk.root && ROOT_METADATA.has(key)))
      misfit(at, `'${key}' is not a keyword strict mode takes`);
    out[key] = value;
  }
  // Only a union may go without a type ("schema must have a 'type' key").
  const types = node.type === undefined ? [] : [node.type].flat();
  if (types.length === 0 && node.anyOf === undefined) misfit(at, 'it has no type');
  const unknownType = types.find((type) => !TYPES.has(type as string));
  if (unknownType !== undefined) misfit(at, `type ${JSON.stringify(unknownType)} is not a JSON Schema type`);
  if (typeof node.format === 'string' && !FORMATS.has(node.format))
    misfit(at, `format '${node.format}' is not one strict mode takes`);
  countValues(node, walk, at);
  if (isRecord(node.properties)) {
    const names = Object.keys(node.properties);
    walk.properties += names.length;
    walk.chars += names.reduce((sum, name) => sum + name.length, 0);
  }
  if (overLimits(walk))
    misfit(at, "the schema is past strict mode's limits on properties, enum values or characters");
  for (const key of ['$defs', 'definitions', 'properties'] as const) {
    if (node[key] !== undefined) out[key] = strictMap(node[key], walk, depth + 1, `${at}.${key}`);
  }
  if (node.items !== undefined || types.includes('array')) {
    if (!isRecord(node.items)) misfit(at, 'an array needs one schema as its items');
    out.items = strictNode(node.items, walk, depth + 1, `${at}.items`);
  }
  if (node.anyOf !== undefined) {
    if (!Array.isArray(node.anyOf) || node.anyOf.length === 0)
      misfit(`${at}.anyOf`, 'it is not a list of schemas');
    out.anyOf = node.anyOf.map((variant, i) => strictNode(variant, walk, depth, `${at}.anyOf[${i}]`));
  }
  if (types.includes('object') || node.properties !== undefined) return closedObject(out, at);
  return node.required === undefined ? out : misfit(at, "'required' is on a schema that is not an object");
}

function strictMap(map: unknown, walk: Walk, depth: number, at: string): Record<string, unknown> {
  if (!isRecord(map)) return misfit(at, 'it is not an object of schemas');
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(map))
    out[name] = strictNode(child, walk, depth, `${at}.${name}`);
  return out;
}

/** Counts a node's enum and const values against the limits; a misfit where its enum alone is past them. */
function countValues(node: Record<string, unknown>, walk: Walk, at: string): void {
  const values = node.enum === undefined ? [] : node.enum;
  if (!Array.isArray(values)) misfit(at, 'its enum is not a list');
  const chars = (value: unknown) => (typeof value === 'string' ? value.length : 0);
  const enumChars = values.reduce((sum: number, value) => sum + chars(value), 0);
  if (values.length > LARGE_ENUM.values && enumChars > LARGE_ENUM.chars)
    misfit(
      at,
      `an enum of more than ${LARGE_ENUM.values} values has more than ${LARGE_ENUM.chars} characters`,
    );
  walk.enumValues += values.length;
  walk.chars += enumChars + chars(node.const);
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
 * An object closed with every property required, or a misfit for a map, a property that may be
 * left out, or a required name that is not a property. One the client closed with no properties
 * (a tool without arguments) takes only `{}`, which strict mode can say.
 */
function closedObject(node: Record<string, unknown>, at: string): Record<string, unknown> {
  const properties = node.properties ?? (node.additionalProperties === false ? {} : undefined);
  const empty = isRecord(properties) && Object.keys(properties).length === 0;
  if (!isRecord(properties) || (empty && node.additionalProperties !== false))
    return misfit(at, 'an object without named properties (a map) has no strict form');
  const required = node.required === undefined ? [] : node.required;
  if (
    !Array.isArray(required) ||
    required.some((name) => typeof name !== 'string' || !Object.hasOwn(properties, name))
  ) {
    return misfit(at, "its 'required' names a property it does not declare");
  }
  const names = Object.keys(properties);
  const listed = new Set(required);
  const optional = names.find((name) => !listed.has(name) && !takesNull(properties[name]));
  if (optional !== undefined)
    misfit(
      `${at}.properties.${optional}`,
      'the property is optional and takes no null (strict mode requires every property; one that takes null can be)',
    );
  const added = names.filter((name) => !listed.has(name));
  return { ...node, properties, required: [...required, ...added], additionalProperties: false };
}

const takesNull = (schema: unknown): boolean =>
  isRecord(schema) &&
  ([schema.type].flat().includes('null') || (Array.isArray(schema.anyOf) && schema.anyOf.some(takesNull)));
