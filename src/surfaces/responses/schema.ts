import { z } from 'zod';
import { isPlainText } from '../../auth/index.js';

/**
 * The OpenAI Responses API request body (`POST /v1/responses`), as the API reference and the
 * official SDK (openai 6.x) define it. Objects are strict: a field the gateway does not know is
 * refused. Items a client sends back from an earlier answer (messages with `output_text`,
 * `function_call`, `reasoning`) carry the fields the gateway put on them (`id`, `status`,
 * `annotations`, `logprobs`), so those are accepted wherever they can appear.
 *
 * Hosted tools (web search, file search, code interpreter, …) pass validation as any object with a
 * `type`: the mapping refuses them by name, which tells the client more than "unknown field". Other
 * fields for what Keyward does not offer (stored prompts, programmatic tool calling, …) are accepted
 * here and refused by name in `refusals.ts`.
 */

const MAX_ITEMS = 10_000;
const MAX_PARTS = 1_000;
const MAX_TOOLS = 512;

const jsonObject = z.record(z.string(), z.unknown());
/** Ids are stored as given, in a column of their own: no text a store cannot keep as it is. */
const identifier = z
  .string()
  .min(1)
  .max(256)
  .refine(isPlainText, 'must not contain control characters or unpaired surrogates');
/** Call ids come back from the gateway and may carry a provider's signature: generous. */
const callId = z.string().min(1).max(16_384);
const functionName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-zA-Z0-9_-]+$/);
const itemStatus = z.enum(['in_progress', 'completed', 'incomplete']).optional();

/** An explicit prompt-cache breakpoint (gpt-5.6+): sent to OpenAI-format providers only (canonical `CacheBreakpoint`). */
const cacheBreakpoint = z.strictObject({ mode: z.literal('explicit') }).optional();
const inputText = z.strictObject({
  type: z.literal('input_text'),
  text: z.string(),
  prompt_cache_breakpoint: cacheBreakpoint,
});
/**
 * Keyward's own: the type a Gemini client's `fileData` stated for a URL or file reference, kept in
 * a stored item so that its history replays it (Gemini reads a URL only with one).
 */
const mimeType = z.string().min(1).max(255).optional();
const inputImage = z.strictObject({
  type: z.literal('input_image'),
  mime_type: mimeType,
  image_url: z.string().min(1).nullable().optional(),
  file_id: z.string().min(1).nullable().optional(),
  // `original` keeps the image's own resolution: the most detail other formats can be asked for.
  detail: z.enum(['auto', 'low', 'high', 'original']).optional(),
  prompt_cache_breakpoint: cacheBreakpoint,
});
const inputFile = z.strictObject({
  type: z.literal('input_file'),
  mime_type: mimeType,
  detail: z.enum(['auto', 'low', 'high']).optional(),
  prompt_cache_breakpoint: cacheBreakpoint,
  file_data: z.string().min(1).optional(),
  file_id: z.string().min(1).nullable().optional(),
  file_url: z.string().min(1).optional(),
  filename: z.string().min(1).optional(),
});
const outputText = z.strictObject({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.array(z.unknown()).max(MAX_PARTS).optional(),
  logprobs: z.array(z.unknown()).optional(),
});
const refusal = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });

/** Null as absent: the API allows null for the optional fields of a tool output's parts. */
const absentIfNull = <T extends z.ZodType>(schema: T) =>
  schema
    .nullable()
    .transform((value) => value ?? undefined)
    .optional();

const toolOutputContent = z.discriminatedUnion('type', [
  inputText.extend({ prompt_cache_breakpoint: absentIfNull(cacheBreakpoint) }),
  inputImage.extend({
    detail: absentIfNull(inputImage.shape.detail),
    prompt_cache_breakpoint: absentIfNull(cacheBreakpoint),
  }),
  inputFile.extend({
    prompt_cache_breakpoint: absentIfNull(cacheBreakpoint),
    file_data: absentIfNull(inputFile.shape.file_data),
    file_url: absentIfNull(inputFile.shape.file_url),
    filename: absentIfNull(inputFile.shape.filename),
  }),
]);
const anyContent = z.discriminatedUnion('type', [inputText, inputImage, inputFile, outputText, refusal]);

/** `{role, content}` with or without `type: 'message'`; assistant turns replayed as output messages. */
const message = z.strictObject({
  type: z.literal('message').optional(),
  id: identifier.optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(anyContent).max(MAX_PARTS)]),
  status: itemStatus,
  /** Whether an assistant message is commentary or the final answer: a label OpenAI's models read. */
  phase: z.enum(['commentary', 'final_answer']).nullable().optional(),
});

/** What made a tool call: the model itself (`direct`), or a program run by OpenAI (refused). */
const toolCaller = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('direct') }),
  z.strictObject({ type: z.literal('program'), caller_id: callId }),
]);
/** The `namespace` tool a function belongs to: Keyward offers none, so any is refused. */
const namespaceName = z.string().min(1).max(64);

const functionCall = z.strictObject({
  type: z.literal('function_call'),
  id: identifier.optional(),
  call_id: callId,
  name: identifier,
  arguments: z.string(),
  status: itemStatus,
  namespace: namespaceName.optional(),
  caller: toolCaller.nullable().optional(),
});

const functionCallOutput = z.strictObject({
  type: z.literal('function_call_output'),
  id: identifier.nullable().optional(),
  call_id: callId,
  output: z.union([z.string(), z.array(toolOutputContent).max(MAX_PARTS)]),
  status: itemStatus.nullable(),
  // The call's name, which its call_id already finds.
  name: identifier.nullable().optional(),
  namespace: namespaceName.nullable().optional(),
  caller: toolCaller.nullable().optional(),
});

/** A call of a custom tool: the model's text as it is, in `input`. */
const customToolCall = z.strictObject({
  type: z.literal('custom_tool_call'),
  id: identifier.optional(),
  call_id: callId,
  name: identifier,
  input: z.string(),
  status: itemStatus,
  namespace: namespaceName.optional(),
  caller: toolCaller.nullable().optional(),
});

const customToolCallOutput = z.strictObject({
  type: z.literal('custom_tool_call_output'),
  id: identifier.nullable().optional(),
  call_id: callId,
  output: z.union([z.string(), z.array(toolOutputContent).max(MAX_PARTS)]),
  status: itemStatus.nullable(),
  caller: toolCaller.nullable().optional(),
});

const reasoning = z.strictObject({
  type: z.literal('reasoning'),
  id: identifier.optional(),
  summary: z.array(z.strictObject({ type: z.literal('summary_text'), text: z.string() })).max(MAX_PARTS),
  content: z
    .array(z.strictObject({ type: z.literal('reasoning_text'), text: z.string() }))
    .max(MAX_PARTS)
    .optional(),
  encrypted_content: z.string().nullable().optional(),
  status: itemStatus,
});

const itemReference = z.strictObject({ type: z.literal('item_reference'), id: identifier });

export const inputItemSchema = z.union([
  message,
  z.discriminatedUnion('type', [
    functionCall,
    functionCallOutput,
    customToolCall,
    customToolCallOutput,
    reasoning,
    itemReference,
  ]),
]);
export type InputItem = z.infer<typeof inputItemSchema>;

const functionTool = z.strictObject({
  type: z.literal('function'),
  name: functionName,
  description: z.string().nullable().optional(),
  parameters: jsonObject.nullable().optional(),
  strict: z.boolean().nullable().optional(),
  /** Loaded by OpenAI's hosted tool search when true (refused); false is every tool's default. */
  defer_loading: z.boolean().optional(),
  /** Who may call it: the model (`direct`) or a program OpenAI runs (refused without `direct`). */
  allowed_callers: z
    .array(z.enum(['direct', 'programmatic']))
    .max(2)
    .nullable()
    .optional(),
  /** The shape of the JSON the function returns: a description for the model, with no place in Chat Completions. */
  output_schema: jsonObject.nullable().optional(),
});
const customToolFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({
    type: z.literal('grammar'),
    syntax: z.enum(['lark', 'regex']),
    definition: z.string(),
  }),
]);

/** A freeform tool: the model calls it with plain text, which `format` may constrain. */
const customTool = z.strictObject({
  type: z.literal('custom'),
  name: functionName,
  description: z.string().optional(),
  format: customToolFormat.optional(),
  defer_loading: functionTool.shape.defer_loading,
  allowed_callers: functionTool.shape.allowed_callers,
});
/** Any other tool type: refused by name in the mapping unless a provider offers it. */
const hostedType = z
  .string()
  .min(1)
  .max(64)
  .refine((type) => type !== 'function' && type !== 'custom', {
    message: 'a function or custom tool needs a name and no other fields',
  });
const hostedTool = z.looseObject({ type: hostedType });

export const toolSchema = z.union([functionTool, customTool, hostedTool]);
export type FunctionTool = z.infer<typeof functionTool>;
export type CustomTool = z.infer<typeof customTool>;

/** OpenAI's allowed tools; a hosted tool among them (`{type: 'mcp', …}`) is refused in the mapping. */
const allowedToolsChoice = z.strictObject({
  type: z.literal('allowed_tools'),
  mode: z.enum(['auto', 'required']),
  tools: z
    .array(
      z.union([
        z.strictObject({ type: z.literal('function'), name: functionName }),
        z.strictObject({ type: z.literal('custom'), name: functionName }),
        hostedTool,
      ]),
    )
    .max(MAX_TOOLS),
});
export type AllowedToolsChoice = z.infer<typeof allowedToolsChoice>;

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({ type: z.literal('function'), name: functionName }),
  z.strictObject({ type: z.literal('custom'), name: functionName }),
  allowedToolsChoice,
  z.looseObject({
    type: hostedType.refine((type) => type !== 'allowed_tools', 'allowed_tools needs a mode and tools'),
  }),
]);

const textFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    name: functionName,
    schema: jsonObject,
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, {
    message: 'metadata has at most 16 keys',
  });

export const INCLUDABLE = [
  'reasoning.encrypted_content',
  'message.output_text.logprobs',
  'file_search_call.results',
  'web_search_call.results',
  'web_search_call.action.sources',
  'message.input_image.image_url',
  'computer_call_output.output.image_url',
  'code_interpreter_call.outputs',
] as const;

export const responsesRequestSchema = z.strictObject({
  model: identifier,
  input: z.union([z.string(), z.array(inputItemSchema).max(MAX_ITEMS)]).optional(),
  instructions: z.string().nullable().optional(),
  tools: z.array(toolSchema).max(MAX_TOOLS).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  max_tool_calls: z.number().int().min(1).nullable().optional(),
  text: z
    .strictObject({
      format: textFormat.optional(),
      verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
    })
    .optional(),
  reasoning: z
    .strictObject({
      effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']).nullable().optional(),
      summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
      generate_summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
      // Which earlier reasoning OpenAI's models keep, and their mode: hints for OpenAI's models.
      context: z.enum(['auto', 'current_turn', 'all_turns']).nullable().optional(),
      mode: z.string().min(1).max(64).optional(),
    })
    .nullable()
    .optional(),
  max_output_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  metadata: metadata.nullable().optional(),
  store: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.strictObject({ include_obfuscation: z.boolean().optional() }).nullable().optional(),
  previous_response_id: identifier.nullable().optional(),
  conversation: z
    .union([identifier, z.strictObject({ id: identifier })])
    .nullable()
    .optional(),
  truncation: z.enum(['auto', 'disabled']).nullable().optional(),
  include: z.array(z.enum(INCLUDABLE)).max(INCLUDABLE.length).nullable().optional(),
  background: z.boolean().nullable().optional(),
  /**
   * Server-side compaction of a long context: Keyward compacts nothing, so the model sees the whole
   * context (`truncation: 'auto'` is what Keyward does when that is too long).
   */
  context_management: z
    .array(
      z.strictObject({
        type: z.literal('compaction'),
        compact_threshold: z.number().int().min(1).nullable().optional(),
      }),
    )
    .max(8)
    .nullable()
    .optional(),
  // A prompt stored in the provider's account, and moderated responses: refused by name, whatever they hold.
  prompt: jsonObject.nullable().optional(),
  moderation: jsonObject.nullable().optional(),
  service_tier: z
    .enum(['auto', 'default', 'flex', 'scale', 'priority', 'fast', 'ultrafast'])
    .nullable()
    .optional(),
  prompt_cache_key: z.string().max(1_024).nullable().optional(),
  prompt_cache_options: z
    .strictObject({ mode: z.enum(['implicit', 'explicit']).optional(), ttl: z.literal('30m').optional() })
    .optional(),
  prompt_cache_retention: z.enum(['in_memory', 'in-memory', '24h']).nullable().optional(),
  safety_identifier: z.string().max(64).nullable().optional(),
  user: z.string().max(256).optional(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
