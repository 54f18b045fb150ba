import { z } from 'zod';

/**
 * The OpenAI Chat Completions request body, field by field (API reference, 2025-2026). Every
 * object is strict: a field the schema does not know is an error, never forwarded blindly.
 * Bounds follow the API where it documents them and are finite everywhere else.
 */

const jsonObject = z.record(z.string(), z.unknown());
const functionName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, "_" or "-"');

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const imagePart = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }),
});
const audioPart = z.strictObject({
  type: z.literal('input_audio'),
  input_audio: z.strictObject({ data: z.string().min(1), format: z.enum(['wav', 'mp3']) }),
});
const filePart = z.strictObject({
  type: z.literal('file'),
  file: z.strictObject({
    file_data: z.string().min(1).optional(),
    file_id: z.string().min(1).optional(),
    filename: z.string().min(1).optional(),
  }),
});
const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

const MAX_PARTS = 1_000;
const textContent = z.union([z.string(), z.array(textPart).max(MAX_PARTS)]);
const userContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion('type', [textPart, imagePart, audioPart, filePart])).max(MAX_PARTS),
]);
const assistantContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion('type', [textPart, refusalPart])).max(MAX_PARTS),
]);

const toolCall = z.discriminatedUnion('type', [
  z.strictObject({
    id: z.string().min(1),
    type: z.literal('function'),
    function: z.strictObject({ name: z.string().min(1), arguments: z.string() }),
  }),
  z.strictObject({
    id: z.string().min(1),
    type: z.literal('custom'),
    custom: z.strictObject({ name: z.string().min(1), input: z.string() }),
  }),
]);

const name = z.string().min(1).max(256).optional();

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('developer'), content: textContent, name }),
  z.strictObject({ role: z.literal('system'), content: textContent, name }),
  z.strictObject({ role: z.literal('user'), content: userContent, name }),
  z.strictObject({
    role: z.literal('assistant'),
    content: assistantContent.nullable().optional(),
    name,
    refusal: z.string().nullable().optional(),
    audio: z
      .strictObject({ id: z.string().min(1) })
      .nullable()
      .optional(),
    tool_calls: z.array(toolCall).max(512).optional(),
    function_call: z
      .strictObject({ name: z.string().min(1), arguments: z.string() })
      .nullable()
      .optional(),
  }),
  z.strictObject({ role: z.literal('tool'), content: textContent, tool_call_id: z.string().min(1) }),
  z.strictObject({ role: z.literal('function'), content: z.string().nullable(), name: z.string().min(1) }),
]);

const functionDefinition = z.strictObject({
  name: functionName,
  description: z.string().optional(),
  parameters: jsonObject.optional(),
  strict: z.boolean().nullable().optional(),
});

const customTool = z.strictObject({
  type: z.literal('custom'),
  custom: z.strictObject({
    name: functionName,
    description: z.string().optional(),
    format: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('text') }),
        z.strictObject({
          type: z.literal('grammar'),
          grammar: z.strictObject({ definition: z.string(), syntax: z.enum(['lark', 'regex']) }),
        }),
      ])
      .optional(),
  }),
});

const tool = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('function'), function: functionDefinition }),
  customTool,
]);

const namedTool = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: functionName }) }),
  z.strictObject({ type: z.literal('custom'), custom: z.strictObject({ name: functionName }) }),
]);

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: functionName }) }),
    z.strictObject({ type: z.literal('custom'), custom: z.strictObject({ name: functionName }) }),
    z.strictObject({
      type: z.literal('allowed_tools'),
      allowed_tools: z.strictObject({
        mode: z.enum(['auto', 'required']),
        tools: z.array(namedTool).max(512),
      }),
    }),
  ]),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: functionName,
      description: z.string().optional(),
      schema: jsonObject.optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((value) => Object.keys(value).length <= 16, 'at most 16 keys');

const stop = z.union([z.string(), z.array(z.string()).max(4)]).nullable();

export const chatCompletionRequestSchema = z.strictObject({
  model: z.string().min(1).max(256),
  messages: z.array(message).min(1).max(10_000),
  audio: z
    .strictObject({
      voice: z.string().min(1),
      format: z.enum(['wav', 'aac', 'mp3', 'flac', 'opus', 'pcm16']),
    })
    .nullable()
    .optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  function_call: z.union([z.enum(['none', 'auto']), z.strictObject({ name: functionName })]).optional(),
  functions: z.array(functionDefinition).max(128).optional(),
  logit_bias: z
    .record(z.string().regex(/^\d+$/, 'a token id'), z.number().min(-100).max(100))
    .nullable()
    .optional(),
  logprobs: z.boolean().nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  max_tokens: z.number().int().min(1).nullable().optional(),
  metadata: metadata.nullable().optional(),
  modalities: z
    .array(z.enum(['text', 'audio']))
    .max(2)
    .nullable()
    .optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  parallel_tool_calls: z.boolean().optional(),
  prediction: z
    .strictObject({ type: z.literal('content'), content: textContent })
    .nullable()
    .optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  prompt_cache_key: z.string().max(1024).optional(),
  prompt_cache_retention: z.enum(['in-memory', '24h']).nullable().optional(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
  response_format: responseFormat.optional(),
  safety_identifier: z.string().max(256).optional(),
  seed: z.number().int().nullable().optional(),
  service_tier: z.enum(['auto', 'default', 'flex', 'scale', 'priority']).nullable().optional(),
  stop: stop.optional(),
  store: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .strictObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() })
    .nullable()
    .optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  tool_choice: toolChoice.optional(),
  tools: z.array(tool).max(512).optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  user: z.string().max(256).optional(),
  verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
  web_search_options: z
    .strictObject({
      search_context_size: z.enum(['low', 'medium', 'high']).optional(),
      user_location: z
        .strictObject({
          type: z.literal('approximate'),
          approximate: z.strictObject({
            city: z.string().optional(),
            country: z.string().optional(),
            region: z.string().optional(),
            timezone: z.string().optional(),
          }),
        })
        .nullable()
        .optional(),
    })
    .optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
