import { z } from 'zod';
import { outputValidator } from './output.js';
import { checkParam, paramSchema } from './params.js';

/** `{{name}}`: the only syntax a template has. */
export const SLOT = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;
/** Anything that opens like a slot: text such as `{{ a.b }}` is refused, not left in the prompt. */
const SLOT_OPENING = /\{\{/g;

/** Names that mean something to every JavaScript object: never a parameter. */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

const templateText = z.string().min(1).max(100_000);

/** What an operator writes (keyward.yaml `templates:`, the admin API). */
export const templateSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, "-" or "_"'),
    description: z.string().max(1_000).optional(),
    /** An alias from `models`, or provider/model. */
    model: z.string().min(1).max(256),
    system: templateText.optional(),
    messages: z
      .array(z.strictObject({ role: z.enum(['user', 'assistant']), content: templateText }))
      .min(1)
      .max(64),
    params: z
      .record(
        z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a name such as topic or max_items')
          .refine((name) => !RESERVED.has(name), 'a name other than __proto__, constructor or prototype'),
        paramSchema,
      )
      .default({}),
    /** A JSON schema the answer must satisfy; the answer is then parsed JSON. */
    output: z.record(z.string(), z.unknown()).optional(),
    maxTokens: z.number().int().min(1).max(1_000_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
  })
  .superRefine((template, ctx) => {
    const texts: Array<[string, Array<string | number>]> = [
      ...(template.system === undefined
        ? []
        : [[template.system, ['system']] as [string, Array<string | number>]]),
      ...template.messages.map((m, i): [string, Array<string | number>] => [
        m.content,
        ['messages', i, 'content'],
      ]),
    ];
    for (const [text, path] of texts) {
      const slots = [...text.matchAll(SLOT)];
      if (slots.length !== [...text.matchAll(SLOT_OPENING)].length) {
        ctx.addIssue({ code: 'custom', path, message: 'a "{{" that is not a slot such as {{topic}}' });
      }
      for (const [, name] of slots) {
        if (!Object.hasOwn(template.params, name!))
          ctx.addIssue({ code: 'custom', path, message: `the slot {{${name}}} names no declared param` });
      }
    }
    for (const [name, param] of Object.entries(template.params)) {
      const problem = param.default === undefined ? undefined : checkParam(name, param, param.default);
      if (problem)
        ctx.addIssue({ code: 'custom', path: ['params', name, 'default'], message: problem.message });
    }
    if (template.output) {
      try {
        outputValidator(template.output);
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['output'],
          message: `not a usable JSON schema: ${(error as Error).message}`,
        });
      }
    }
  });
export type TemplateDefinition = z.output<typeof templateSchema>;
