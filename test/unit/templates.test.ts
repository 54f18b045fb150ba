import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { compileTemplate, renderRequest, resolveParams, templateSchema } from '../../src/templates/index.js';

const base = {
  name: 'ask',
  model: 'fast',
  messages: [{ role: 'user', content: 'Q: {{q}}' }],
  params: { q: { type: 'string' } },
};

function problems(definition: Record<string, unknown>): string[] {
  const result = templateSchema.safeParse(definition);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('template definitions', () => {
  it('accept a plain template', () => {
    expect(problems(base)).toEqual([]);
  });

  it.each([
    ['a slot naming no param', { messages: [{ role: 'user', content: '{{q}} {{other}}' }] }, '{{other}}'],
    ['a property lookup', { messages: [{ role: 'user', content: '{{q.length}}' }] }, 'not a slot'],
    ['an expression', { system: 'Hi {{#if q}}x{{/if}}' }, 'not a slot'],
    ['a reserved param name', { params: { constructor: { type: 'string' } } }, 'params.constructor'],
    ['an enum without values', { params: { q: { type: 'enum' } } }, 'values'],
    ['maxLength on a number', { params: { q: { type: 'number', maxLength: 3 } } }, 'only for type string'],
    [
      'a default of the wrong type',
      { params: { q: { type: 'integer', default: 'x' } } },
      'must be an integer',
    ],
    ['a default out of range', { params: { q: { type: 'number', min: 1, max: 2, default: 5 } } }, 'between'],
    ['an output schema it cannot enforce', { output: { type: 'striiing' } }, 'not a usable JSON schema'],
    [
      'an output schema with a remote $ref',
      { output: { $ref: 'https://evil.example/s.json' } },
      'not a usable JSON schema',
    ],
    ['an output schema that is its own $ref', { output: { $ref: '#' } }, 'refers back to itself'],
    [
      'an output schema whose $refs loop without nesting',
      { output: { $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' } },
      'refers back to itself',
    ],
    [
      'an output schema that may be itself before anything else',
      { output: { anyOf: [{ type: 'string' }, { $ref: '#' }] } },
      'refers back to itself',
    ],
    [
      'an output schema that is itself only for some values',
      {
        output: {
          anyOf: [
            { type: ['null', 'boolean', 'number', 'string', 'array'] },
            { type: 'object', maxProperties: 0 },
            { $ref: '#' },
          ],
        },
      },
      '#/anyOf/2/$ref refers back to itself',
    ],
    [
      'an output schema whose loop passes through not and allOf',
      { output: { $defs: { a: { not: { allOf: [{ $ref: '#/$defs/a' }] } } }, $ref: '#/$defs/a' } },
      'refers back to itself',
    ],
    ['a system role message', { messages: [{ role: 'system', content: 'x' }] }, 'messages.0.role'],
  ])('refuse %s', (_case, change, expected) => {
    expect(problems({ ...base, ...change }).join('\n')).toContain(expected);
  });

  it('accept a recursive output schema that nests before it recurs', () => {
    const tree = { type: 'object', properties: { child: { $ref: '#' } } };
    expect(problems({ ...base, output: tree })).toEqual([]);
    const list = {
      $defs: { node: { type: 'array', items: { anyOf: [{ type: 'string' }, { $ref: '#/$defs/node' }] } } },
      $ref: '#/$defs/node',
    };
    expect(problems({ ...base, output: list })).toEqual([]);
  });

  it('accept a schema of many paths to one definition without trying them all', () => {
    // d0 → d1 twice → … → d23: 2^23 paths, which trying values against the validator walked.
    const defs: Record<string, unknown> = { d23: { type: 'string' } };
    for (let i = 0; i < 23; i++)
      defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] };
    expect(problems({ ...base, output: { $ref: '#/$defs/d0', $defs: defs } })).toEqual([]);
  });

  it('refuse two templates of one name in the configuration', () => {
    const result = configSchema.safeParse({ models: [], templates: [base, base] });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.message).toContain('duplicate template name');
  });
});

describe('rendering', () => {
  const template = compileTemplate(
    templateSchema.parse({
      ...base,
      system: 'Answer in {{lang}}.',
      messages: [{ role: 'user', content: '{{q}}|{{q}}|{{n}}|{{flag}}|{{opt}}' }],
      params: {
        q: { type: 'string' },
        lang: { type: 'enum', values: ['en', 'fr'], default: 'en' },
        n: { type: 'number' },
        flag: { type: 'boolean' },
        opt: { type: 'string', required: false },
      },
    }),
    'file',
    0,
  );
  const render = (params: Record<string, unknown>) => {
    const resolved = resolveParams(template.definition.params, params);
    if ('problem' in resolved) throw new Error(resolved.problem.message);
    return (renderRequest(template, resolved.values, false).messages as Array<{ content: string }>).map(
      (m) => m.content,
    );
  };

  it('substitutes each value once, as text, whatever it holds', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a value that looks like a JS placeholder
    const tricky = '{{lang}} $& $1 $$ ${q} \u0000 \'" </s>';
    expect(render({ q: tricky, n: 1.5, flag: false })).toEqual([
      'Answer in en.',
      `${tricky}|${tricky}|1.5|false|`,
    ]);
  });

  it('looks nothing up through the prototype chain', () => {
    const params = Object.create({ q: 'inherited', n: 1, flag: true }) as Record<string, unknown>;
    const resolved = resolveParams(template.definition.params, params);
    expect(resolved).toEqual({ problem: expect.objectContaining({ param: 'q', code: 'missing_param' }) });
  });
});
