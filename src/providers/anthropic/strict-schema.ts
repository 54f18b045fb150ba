import { UnsupportedFeature } from '../../canonical/model.js';
import { isRecord } from '../wire-values.js';

/**
 * A JSON Schema in the form Anthropic's structured outputs (`output_config.format`) and strict
 * tools take. It follows the official SDK's `transformJSONSchema` (`@anthropic-ai/sdk`,
 * lib/transform-json-schema), so that a client of another format gets through Keyward what a
 * client of Anthropic's own SDK sends: every object closed (`additionalProperties: false`), the
 * constraints Anthropic refuses (numeric and length bounds, `pattern`, other string formats,
 * `minItems` above 1, …) moved into the description as `{key: value, …}` for the model to read,
 * `oneOf` as `anyOf`, `$schema` dropped. Where it differs from the SDK:
 * - `definitions` (draft-07's `$defs`, which zod writes through the openai SDK's helpers) is kept
 *   and transformed as `$defs` is, rather than described, which would leave its `$ref`s dangling;
 * - a list of types (`['object', 'null']`, a nullable Gemini object) gets the rules of each;
 * - a schema that allows any value (`{}`, zod's `any()`), which the SDK throws on and Anthropic
 *   refuses, is refused with the client's path to it (OpenAI's strict mode refuses it too);
 * - so is a map (an object of no named properties that takes others: `additionalProperties` a
 *   schema or true, zod's `record()`, or `patternProperties`), which the SDK closes: the model
 *   could then answer it only empty. An object with properties is closed, as the SDK closes it;
 * - `false` (no value allowed) is refused in words that say so.
 * Recursion is bounded by the request body's depth limit (`limits.jsonDepth`).
 */

type Schema = Record<string, unknown>;

/** The string formats Anthropic takes; another stays in the description. */
const STRING_FORMATS = new Set([
  'date-time',
  'time',
  'date',
  'duration',
  'email',
  'hostname',
  'uri',
  'ipv4',
  'ipv6',
  'uuid',
]);

const isPrimitive = (value: unknown): boolean => value === null || typeof value !== 'object';

/** `schema` as Anthropic takes it; `path` is where the request holds it, for a refusal. */
export function strictSchema(schema: unknown, path: string): Schema {
  if (!isRecord(schema)) throw schema === false ? noValue(path) : anyValue(path);
  const rest: Schema = { ...schema };
  const take = (key: string): unknown => {
    const value = rest[key];
    delete rest[key];
    return value;
  };
  const out: Schema = {};
  for (const key of ['$defs', 'definitions']) {
    const defs = take(key);
    if (isRecord(defs))
      out[key] = mapEntries(defs, (name, def) => strictSchema(def, `${path}.${key}.${name}`));
  }
  const ref = take('$ref');
  if (ref !== undefined) return { ...out, $ref: ref };

  const values = rest.enum;
  if (Array.isArray(values) && values.length > 0 && values.every(isPrimitive)) out.enum = take('enum');
  if (rest.const !== undefined && isPrimitive(rest.const)) out.const = take('const');
  const literal = 'enum' in out || 'const' in out;
  const declared = take('type');
  const type = literal ? undefined : declared;
  const anyOf = take('anyOf');
  const oneOf = take('oneOf');
  const allOf = take('allOf');
  // `$schema` names the dialect and constrains nothing, so it stays out of the description.
  take('$schema');
  const variants = (list: unknown[], key: string): Schema[] =>
    list.map((variant, i) => strictSchema(variant, `${path}.${key}[${i}]`));
  if (Array.isArray(anyOf)) out.anyOf = variants(anyOf, 'anyOf');
  else if (Array.isArray(oneOf)) out.anyOf = variants(oneOf, 'oneOf');
  else if (Array.isArray(allOf)) out.allOf = variants(allOf, 'allOf');
  else if (!literal) {
    if (type === undefined) throw anyValue(path);
    out.type = type;
  }
  const description = take('description');
  if (description !== undefined) out.description = description;
  const title = take('title');
  if (title !== undefined) out.title = title;

  const types = Array.isArray(type) ? type : [type];
  if (types.includes('object')) {
    const properties = take('properties');
    out.properties = isRecord(properties)
      ? mapEntries(properties, (name, inner) => strictSchema(inner, `${path}.properties.${name}`))
      : {};
    // Closed, an object of no named properties that takes others (a map) could only be answered
    // empty; one with properties keeps their meaning, the others being a mere allowance.
    const others = take('additionalProperties');
    if (Object.keys(out.properties as Schema).length === 0) {
      if (rest.patternProperties !== undefined) throw openMap(`${path}.patternProperties`);
      if (others === true || isRecord(others)) throw openMap(`${path}.additionalProperties`);
    }
    out.additionalProperties = false;
    const required = take('required');
    if (required !== undefined) out.required = required;
  }
  if (types.includes('string') && typeof rest.format === 'string' && STRING_FORMATS.has(rest.format)) {
    out.format = take('format');
  }
  if (types.includes('array')) {
    const items = take('items');
    if (items !== undefined) out.items = strictSchema(items, `${path}.items`);
    if (rest.minItems === 0 || rest.minItems === 1) out.minItems = take('minItems');
  }

  const unsupported = Object.entries(rest);
  if (unsupported.length > 0) {
    const described = `{${unsupported.map(([key, value]) => `${key}: ${JSON.stringify(value)}`).join(', ')}}`;
    out.description = out.description ? `${String(out.description)}\n\n${described}` : described;
  }
  return out;
}

const mapEntries = (record: Schema, map: (key: string, value: unknown) => Schema): Schema =>
  Object.fromEntries(Object.entries(record).map(([key, value]) => [key, map(key, value)]));

const anyValue = (path: string): UnsupportedFeature =>
  new UnsupportedFeature(
    'Anthropic takes a schema only when each of its values has a type (or anyOf, allOf, enum or const); this one allows any value',
    path,
  );

const noValue = (path: string): UnsupportedFeature =>
  new UnsupportedFeature(
    'Anthropic takes no boolean schema, and false (no value allowed) has no equivalent there; leave the value out of the schema instead',
    path,
  );

const openMap = (path: string): UnsupportedFeature =>
  new UnsupportedFeature(
    'Anthropic takes only closed objects in a schema (additionalProperties false); this one is a map of any keys, so list its properties instead',
    path,
  );
