import { describe, expect, it } from 'vitest';
import { openAIStrictFit } from '../../src/providers/openai/strict-schema.js';

describe("a constrained schema in OpenAI's strict subset", () => {
  it('closes objects and requires the properties that take null, through definitions and variants', () => {
    expect(
      openAIStrictFit({
        type: 'object',
        properties: {
          item: { $ref: '#/$defs/item' },
          note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        },
        required: ['item'],
        $defs: {
          item: {
            type: 'object',
            properties: { sku: { type: 'string', pattern: '^[A-Z]+$' } },
            required: ['sku'],
          },
        },
      }),
    ).toEqual({
      schema: {
        type: 'object',
        properties: {
          item: { $ref: '#/$defs/item' },
          note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        },
        required: ['item', 'note'],
        additionalProperties: false,
        $defs: {
          item: {
            type: 'object',
            properties: { sku: { type: 'string', pattern: '^[A-Z]+$' } },
            required: ['sku'],
            additionalProperties: false,
          },
        },
      },
    });
  });

  it('has none for what strict mode cannot take without admitting other answers', () => {
    const object = (property: Record<string, unknown>) => ({
      type: 'object',
      properties: { a: property },
      required: ['a'],
    });
    for (const schema of [
      { anyOf: [{ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }] },
      { type: 'object', additionalProperties: { type: 'string' } },
      object({ type: 'object', additionalProperties: true }),
      object({ type: 'string', format: 'uri' }),
      object({ type: 'array', items: [{ type: 'string' }] }),
      object({ allOf: [{ type: 'string' }] }),
      object({ oneOf: [{ type: 'string' }, { type: 'integer' }] }),
      { type: 'object', properties: { a: { type: 'string' } } },
    ]) {
      expect(openAIStrictFit(schema)).toHaveProperty('misfit');
    }
  });

  it('has none for what OpenAI refuses in strict mode, which would fail a request answered as a hint', () => {
    const object = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      type: 'object',
      properties,
      required: Object.keys(properties),
      additionalProperties: false,
      ...extra,
    });
    const person = { $defs: { Person: object({ name: { type: 'string' } }) } };
    let deep: Record<string, unknown> = { type: 'string' };
    for (let level = 0; level < 11; level++) deep = object({ d: deep });
    const values = (count: number) => Array.from({ length: count }, (_, i) => `v${i}`);
    for (const schema of [
      // Pydantic v2's described nested model: "$ref cannot have keywords {'description'}".
      object({ author: { $ref: '#/$defs/Person', description: 'who wrote it' } }, person),
      object({ author: { $ref: 'https://example.com/person.json' } }),
      object({ author: { $ref: '#/$defs/Nobody' } }, person),
      object({ tags: { type: 'array' } }),
      object({ value: {} }),
      object({ values: { type: 'array', items: {} } }),
      object({ value: { type: 'text' } }),
      deep,
      object({ a: { type: 'string', enum: values(600) }, b: { type: 'string', enum: values(600) } }),
      object(Object.fromEntries(values(5001).map((name) => [name, { type: 'string' }]))),
      object(
        { k: { type: 'string' } },
        { anyOf: [object({ k: { const: 'a' } }), object({ k: { const: 'b' } })] },
      ),
      object({ k: { type: 'string' } }, { required: ['k', 'ghost'] }),
      object({ n: { type: 'integer', default: 10 } }),
      object({ n: { type: ['integer', 'null'], default: null } }),
    ]) {
      expect(openAIStrictFit(schema)).toHaveProperty('misfit');
    }
  });

  it('takes a bare local $ref, recursion through the root, and nesting within the limits', () => {
    const object = (properties: Record<string, unknown>) => ({
      type: 'object',
      properties,
      required: Object.keys(properties),
      additionalProperties: false,
    });
    let deep: Record<string, unknown> = { type: 'string' };
    for (let level = 0; level < 9; level++) deep = object({ d: deep });
    for (const schema of [
      {
        ...object({ author: { $ref: '#/$defs/Person' } }),
        $defs: { Person: object({ name: { type: 'string' } }) },
      },
      object({ name: { type: 'string' }, children: { type: 'array', items: { $ref: '#' } } }),
      deep,
    ]) {
      expect(openAIStrictFit(schema)).toEqual({ schema });
    }
  });

  it('says where and why a schema has no strict form', () => {
    expect(
      openAIStrictFit({
        type: 'object',
        properties: { city: { type: 'string' }, days: { type: 'integer' } },
        required: ['city'],
      }),
    ).toEqual({ at: '.properties.days', misfit: expect.stringContaining('optional') });
    expect(
      openAIStrictFit({
        type: 'object',
        properties: { tags: { type: 'array', items: { type: 'string' }, uniqueItems: true } },
        required: ['tags'],
      }),
    ).toEqual({ at: '.properties.tags', misfit: expect.stringContaining("'uniqueItems'") });
  });

  it('takes an object closed with no properties, a function without arguments', () => {
    expect(openAIStrictFit({ type: 'object', properties: {}, additionalProperties: false })).toEqual({
      schema: { type: 'object', properties: {}, required: [], additionalProperties: false },
    });
    expect(openAIStrictFit({ type: 'object', properties: {} })).toHaveProperty('misfit');
  });

  it("takes a root's dialect and id, as schema generators write them (zod, the AI SDK), and not below it", () => {
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: 'https://example.com/weather',
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    };
    expect(openAIStrictFit(schema)).toEqual({ schema });
    const nested = {
      type: 'object',
      properties: { city: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    };
    expect(openAIStrictFit(nested)).toMatchObject({ at: '.properties.city' });
  });
});
