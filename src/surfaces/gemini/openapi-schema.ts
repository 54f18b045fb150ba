import { isRecord } from '../../providers/index.js';

/**
 * Gemini's `Schema` (a subset of OpenAPI 3.0) as JSON Schema, for providers of other formats; a
 * Gemini provider gets the schema as it was sent. Where the two differ:
 * - types are upper case (`OBJECT`), and `TYPE_UNSPECIFIED` says nothing;
 * - `nullable` marks a value that may also be null;
 * - the counts are int64s, which `@google/genai` and proto JSON write as strings (`"1"`);
 * - `example` is OpenAPI's single example, JSON Schema's `examples` a list;
 * - `format` may name OpenAPI's number formats or `enum`, which JSON Schema does not know (the
 *   type or the `enum` list already says it);
 * - `propertyOrdering` is Gemini's alone.
 */
export function jsonSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'propertyOrdering' || key === 'nullable' || key === 'example') continue;
    if (key === 'type' && typeof value === 'string') {
      if (value !== 'TYPE_UNSPECIFIED') out.type = value.toLowerCase();
    } else if (key === 'format' && typeof value === 'string' && OPENAPI_FORMATS.has(value)) continue;
    else if (COUNTS.has(key) && typeof value === 'string' && /^\d{1,15}$/.test(value))
      out[key] = Number(value);
    else if (key === 'properties' && isRecord(value))
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, inner]) => [name, isRecord(inner) ? jsonSchema(inner) : inner]),
      );
    else if ((key === 'items' || key === 'additionalProperties') && isRecord(value))
      out[key] = jsonSchema(value);
    else if ((key === 'anyOf' || key === 'oneOf' || key === 'allOf') && Array.isArray(value))
      out[key] = value.map((inner) => (isRecord(inner) ? jsonSchema(inner) : inner));
    else out[key] = value;
  }
  if (schema.example !== undefined && out.examples === undefined) out.examples = [schema.example];
  if (schema.nullable === true) nullable(out);
  return out;
}

/** Google's int64 fields of a schema. */
const COUNTS = new Set(['minItems', 'maxItems', 'minLength', 'maxLength', 'minProperties', 'maxProperties']);

/** OpenAPI formats with no JSON Schema meaning. */
const OPENAPI_FORMATS = new Set(['enum', 'float', 'double', 'int32', 'int64']);

/** Lets a value be null as well: in its type, its `enum` list, or as one more `anyOf` choice. */
function nullable(out: Record<string, unknown>): void {
  if (typeof out.type === 'string') out.type = [out.type, 'null'];
  else if (Array.isArray(out.anyOf)) out.anyOf = [...out.anyOf, { type: 'null' }];
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
}
