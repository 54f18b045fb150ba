import { z } from 'zod';
import { boundedRecord } from '../bounded-record.js';

/**
 * The OpenAI Chat Completions request body, field by field, as the API reference and the official
 * SDK (openai 6.x) define it. Every object is strict: a field the gateway does not know is refused,
 * never forwarded blindly to a provider.
 *
 * Bounds are the API's where it documents them. Where it does not, they are generous but finite,
 * so that a single request cannot make validation (or what follows it) unbounded:
 * messages ≤ 10 000, content parts per message ≤ 1 000, tools ≤ 512, tool calls per message ≤ 512,
 * deprecated `functions` ≤ 128, `logit_bias` ≤ 1 024 entries, ids and names ≤ 256 characters
 * (tool call ids ≤ 16 384).
 * Free text (message content, tool arguments) is bounded only by the body size limit.
 *
 * Schemas are built once, at module load; discriminated unions (on `role`, `type`) pick the branch
 * in one lookup instead of trying each in turn.
 */

const MAX_MESSAGES = 10_000;
const MAX_PARTS = 1_000;
const MAX_TOOLS = 512;
const MAX_TOOL_CALLS = 512;
const MAX_FUNCTIONS = 128;
const MAX_LOGIT_BIAS = 1_024;

/** Free-form JSON: tool parameters, JSON schemas. Checked by the provider, not here. */
const jsonObject = z.record(z.string(), z.unknown());
/** Ids and names with no documented limit. */
const identifier = z.string().min(1).max(256);
/**
 * Tool call ids come back from the gateway itself: a Gemini call's id carries its thought
 * signature (several KB), which the client must be able to send back.
 */
const toolCallId = z.string().min(1).max(16_384);
/** Function, custom tool and response format names: the API's documented rule. */
const functionName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9_-]+$/);

// Content parts. `prompt_cache_breakpoint` marks an explicit prompt-cache breakpoint (gpt-5.6+).
const cacheBreakpoint = z.strictObject({ mode: z.literal('explicit') }).optional();

const textPart = z.strictObject({
  type: z.literal('text'),
  text: z.string(),
  prompt_cache_breakpoint: cacheBreakpoint,
});
const imagePart = z.strictObject({
  type: z.literal('image_url'),
  image_url: z.strictObject({
    url: z.string().min(1),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
  prompt_cache_breakpoint: cacheBreakpoint,
});
const audioPart = z.strictObject({
  type: z.literal('input_audio'),
  input_audio: z.strictObject({ data: z.string().min(1), format: z.enum(['wav', 'mp3']) }),
  prompt_cache_breakpoint: cacheBreakpoint,
});
const filePart = z.strictObject({
  type: z.literal('file'),
  file: z.strictObject({
    file_data: z.string().min(1).optional(),
    file_id: z.string().min(1).optional(),
    filename: z.string().min(1).optional(),
  }),
  prompt_cache_breakpoint: cacheBreakpoint,
});
const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

// A string is by far the common case, so it is the union's first branch.
const textContent = z.union([z.string(), z.array(textPart).max(MAX_PARTS)]);
const userContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion('type', [textPart, imagePart, audioPart, filePart])).max(MAX_PARTS),
]);
const assistantContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion('type', [textPart, refusalPart])).max(MAX_PARTS),
]);

// Tool calls replayed from earlier answers. Names are not held to `functionName`: the model
// produced them, possibly another provider's model with other naming rules.
const toolCall = z.discriminatedUnion('type', [
  z.strictObject({
    id: toolCallId,
    type: z.literal('function'),
    function: z.strictObject({ name: identifier, arguments: z.string() }),
  }),
  z.strictObject({
    id: toolCallId,
    type: z.literal('custom'),
    custom: z.strictObject({ name: identifier, input: z.string() }),
  }),
]);

const participantName = identifier.optional();

/**
 * What an answer's message carries that a request does not name: `annotations` (OpenAI's own
 * answers), `reasoning_content` (Keyward's, when the model thought) and `parsed` (the SDK's
 * `stream` and `parse` helpers). OpenAI's function-calling guide appends the answer's message as
 * it came, and the API takes it back. They tell the model nothing, and a provider of another
 * format (or an imitation of OpenAI's) may refuse them: dropped after validation.
 */
const answerOnlyFields = {
  annotations: z
    .array(z.looseObject({ type: z.string() }))
    .max(MAX_PARTS)
    .optional(),
  reasoning_content: z.string().nullable().optional(),
  parsed: z.unknown().optional(),
};

const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('developer'), content: textContent, name: participantName }),
  z.strictObject({ role: z.literal('system'), content: textContent, name: participantName }),
  z.strictObject({ role: z.literal('user'), content: userContent, name: participantName }),
  z
    .strictObject({
      role: z.literal('assistant'),
      content: assistantContent.nullable().optional(),
      name: participantName,
      refusal: z.string().nullable().optional(),
      audio: z.strictObject({ id: identifier }).nullable().optional(),
      tool_calls: z.array(toolCall).max(MAX_TOOL_CALLS).optional(),
      /** Deprecated in favour of `tool_calls`, still accepted by the API. */
      function_call: z.strictObject({ name: identifier, arguments: z.string() }).nullable().optional(),
      ...answerOnlyFields,
    })
    .transform(({ annotations, reasoning_content, parsed, ...message }) => message),
  // Not in the SDK's types, but the API takes it and LangChain's ChatOpenAI sends the tool's name.
  z.strictObject({
    role: z.literal('tool'),
    content: textContent,
    tool_call_id: toolCallId,
    name: participantName,
  }),
  /** Deprecated in favour of `tool`, still accepted by the API. */
  z.strictObject({ role: z.literal('function'), content: z.string().nullable(), name: identifier }),
]);

const functionTool = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: functionName,
    description: z.string().optional(),
    parameters: jsonObject.optional(),
    strict: z.boolean().nullable().optional(),
  }),
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

/** The deprecated `functions` list: like a function tool's definition, without `strict`. */
const legacyFunction = z.strictObject({
  name: functionName,
  description: z.string().optional(),
  parameters: jsonObject.optional(),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: functionName }) }),
    z.strictObject({ type: z.literal('custom'), custom: z.strictObject({ name: functionName }) }),
    z.strictObject({
      type: z.literal('allowed_tools'),
      allowed_tools: z.strictObject({
        mode: z.enum(['auto', 'required']),
        // The API types these as free-form tool references ({type, function: {name}}, …).
        tools: z.array(jsonObject).max(MAX_TOOLS),
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

/** The API's metadata rule: up to 16 pairs, keys ≤ 64 characters, values ≤ 512. */
const metadata = boundedRecord(z.string().max(64), z.string().max(512), 16, 'must have at most 16 entries');

/** Token id (as a decimal string) → bias from -100 to 100. */
const logitBias = boundedRecord(
  z.string().regex(/^\d+$/),
  z.number().min(-100).max(100),
  MAX_LOGIT_BIAS,
  `must have at most ${MAX_LOGIT_BIAS} entries`,
);

const moderationMode = z
  .strictObject({ mode: z.enum(['score', 'block']) })
  .nullable()
  .optional();

const webSearchOptions = z.strictObject({
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
});

export const chatCompletionRequestSchema = z.strictObject({
  model: identifier,
  messages: z.array(message).min(1).max(MAX_MESSAGES),
  audio: z
    .strictObject({
      // A built-in voice name, or a custom voice by id.
      voice: z.union([identifier, z.strictObject({ id: identifier })]),
      format: z.enum(['wav', 'aac', 'mp3', 'flac', 'opus', 'pcm16']),
    })
    .nullable()
    .optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  /** Deprecated in favour of `tool_choice`. */
  function_call: z.union([z.enum(['none', 'auto']), z.strictObject({ name: functionName })]).optional(),
  /** Deprecated in favour of `tools`. */
  functions: z.array(legacyFunction).max(MAX_FUNCTIONS).optional(),
  logit_bias: logitBias.nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  /** Deprecated in favour of `max_completion_tokens`. */
  max_tokens: z.number().int().min(1).nullable().optional(),
  metadata: metadata.nullable().optional(),
  modalities: z
    .array(z.enum(['text', 'audio']))
    .max(2)
    .nullable()
    .optional(),
  moderation: z
    .strictObject({
      model: identifier,
      policy: z.strictObject({ input: moderationMode, output: moderationMode }).nullable().optional(),
    })
    .nullable()
    .optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  parallel_tool_calls: z.boolean().optional(),
  prediction: z
    .strictObject({ type: z.literal('content'), content: textContent })
    .nullable()
    .optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  prompt_cache_key: z.string().max(1_024).nullable().optional(),
  prompt_cache_options: z
    .strictObject({ mode: z.enum(['implicit', 'explicit']).optional(), ttl: z.literal('30m').optional() })
    .optional(),
  // `in_memory` is the API's spelling; `in-memory` is what SDKs sent before OpenAI corrected it.
  prompt_cache_retention: z.enum(['in_memory', 'in-memory', '24h']).nullable().optional(),
  reasoning_effort: z
    .enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'])
    .nullable()
    .optional(),
  response_format: responseFormat.optional(),
  /** Documented as at most 64 characters (a hashed end-user id). */
  safety_identifier: z.string().max(64).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  service_tier: z.enum(['auto', 'default', 'flex', 'scale', 'priority', 'fast']).nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  store: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .strictObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() })
    .nullable()
    .optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  tool_choice: toolChoice.optional(),
  tools: z
    .array(z.discriminatedUnion('type', [functionTool, customTool]))
    .max(MAX_TOOLS)
    .optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  /** Deprecated in favour of `safety_identifier` and `prompt_cache_key`. */
  user: z.string().max(256).optional(),
  verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
  web_search_options: webSearchOptions.optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
