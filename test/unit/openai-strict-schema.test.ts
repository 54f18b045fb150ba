import { describe, expect, it } from 'vitest';
import { openAIStrictSchema } from '../../src/providers/openai/strict-schema.js';

describe("a constrained schema in OpenAI's strict subset", () => {
  it('closes objects and requires the properties that take null, through definitions and variants', () => {
    expect(
      openAIStrictSchema({
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
      expect(openAIStrictSchema(schema)).toBeUndefined();
    }
  });
});
