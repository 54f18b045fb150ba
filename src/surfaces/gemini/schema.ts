import { z } from 'zod';
import { boundedRecord } from '../bounded-record.js';

/**
 * The bodies of Gemini's `generateContent` / `streamGenerateContent`, `countTokens`, `embedContent`
 * and `batchEmbedContents` (Gemini Developer API, `v1beta` and `v1`), as `@google/genai` 2.x sends
 * them (camelCase JSON, to which proto field names are brought first: see field-names.ts; enum
 * values in any case; the model is in the path). Objects Keyward reads are strict: a field it does not
 * know is refused, never forwarded blindly. Three families are checked loosely, on purpose: tool
 * schemas (JSON or OpenAPI Schema, checked by the provider), Gemini's built-in tools
 * (`googleSearch`, `codeExecution`, `urlContext`, …, which only Gemini runs and the canonical
 * mapping refuses for every other provider) and the few generation settings that only Gemini
 * understands (`speechConfig`, `imageConfig`, `routingConfig`, …), which pass through to a
 * Gemini provider and are refused for any other.
 *
 * Bounds follow the other surfaces: contents ≤ 100 000, parts per content ≤ 1 000, tools and
 * function declarations ≤ 1 000, stop sequences ≤ 256 (Gemini takes 5; the provider says so).
 */

/** Vertex AI takes at most 64 labels on a request. */
const MAX_LABELS = 64;
const MAX_CONTENTS = 100_000;
const MAX_PARTS = 1_000;
const MAX_TOOLS = 1_000;
const MAX_LIST = 256;
/** A function call id may carry a thought signature (providers/gemini/codec.ts). */
const MAX_CALL_ID = 16_384;

const jsonObject = z.record(z.string(), z.unknown());

/**
 * One of Google's enum values, in any case: Google's JSON parser reads `low` as `LOW` (the Vercel
 * AI SDK sends lower case), so the value is matched, and forwarded, upper case.
 */
const googleEnum = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((value) => (typeof value === 'string' ? value.toUpperCase() : value), z.enum(values));
const identifier = z.string().min(1).max(256);
const functionName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[a-zA-Z_][a-zA-Z0-9_.:-]*$/, 'a function name of letters, digits, _ . : -');

const blob = z.strictObject({ mimeType: identifier, data: z.string(), displayName: z.string().optional() });
const fileData = z.strictObject({
  fileUri: z.string().min(1).max(4096),
  mimeType: identifier.optional(),
  displayName: z.string().optional(),
});

/**
 * How Gemini reads a part's video (fixed-rate frames or the model's own navigation): an enum, as
 * `@google/genai` types and sends it. A hint of Gemini's alone: translation drops it, as it drops
 * `videoMetadata` and `mediaResolution`.
 */
const mediaProcessing = googleEnum(['MEDIA_PROCESSING_UNSPECIFIED', 'STATIC', 'AGENTIC']);

const functionCall = z.strictObject({
  id: z.string().min(1).max(MAX_CALL_ID).optional(),
  name: functionName,
  args: jsonObject.optional(),
  partialArgs: z.array(z.unknown()).optional(),
  willContinue: z.boolean().optional(),
});

const functionResponse = z.strictObject({
  id: z.string().min(1).max(MAX_CALL_ID).optional(),
  name: functionName,
  response: jsonObject,
  parts: z
    .array(
      z.strictObject({
        inlineData: blob.optional(),
        fileData: fileData.optional(),
        mediaProcessing: mediaProcessing.optional(),
      }),
    )
    .max(MAX_PARTS)
    .optional(),
  willContinue: z.boolean().optional(),
  scheduling: googleEnum(['SCHEDULING_UNSPECIFIED', 'SILENT', 'WHEN_IDLE', 'INTERRUPT']).optional(),
});

/**
 * Google's `Part.data`, a oneof (google/ai/generativelanguage/v1beta/content.proto, with the
 * server-side tool parts added since): Gemini refuses a part that sets two, and a translation would
 * keep one and lose the other without a word. `thought`, `thoughtSignature` and the metadata
 * fields go beside any of them.
 */
const PART_DATA = [
  'text',
  'inlineData',
  'fileData',
  'functionCall',
  'functionResponse',
  'executableCode',
  'codeExecutionResult',
  'toolCall',
  'toolResponse',
] as const;

const partFields = z.strictObject({
  text: z.string().optional(),
  thought: z.boolean().optional(),
  thoughtSignature: z.string().max(MAX_CALL_ID).optional(),
  inlineData: blob.optional(),
  fileData: fileData.optional(),
  functionCall: functionCall.optional(),
  functionResponse: functionResponse.optional(),
  executableCode: jsonObject.optional(),
  codeExecutionResult: jsonObject.optional(),
  videoMetadata: jsonObject.optional(),
  mediaResolution: jsonObject.optional(),
  partMetadata: jsonObject.optional(),
  // Gemini's own: server-side tool invocations (returned, and replayed in a history, when
  // includeServerSideToolInvocations is on) and audio processing details.
  toolCall: jsonObject.optional(),
  toolResponse: jsonObject.optional(),
  audioTranscription: jsonObject.optional(),
  mediaProcessing: mediaProcessing.optional(),
  speechMetadata: jsonObject.optional(),
});

/** One part: at most one of its data fields set (a part holding a thought signature alone has none). */
export const partSchema = partFields.superRefine((part, ctx) => {
  const set = PART_DATA.filter((field) => part[field] !== undefined);
  if (set.length > 1)
    ctx.addIssue({
      code: 'custom',
      message: `must hold one kind of data, yet sets ${set.join(' and ')}: send each as a part of its own`,
    });
});
export type GeminiPart = z.output<typeof partSchema>;

export const contentSchema = z.strictObject({
  role: z.enum(['user', 'model', 'function']).optional(),
  parts: z.array(partSchema).max(MAX_PARTS),
});
export type GeminiContent = z.output<typeof contentSchema>;

/**
 * Gemini ignores a system instruction's role, and LangChain's ChatGoogleGenerativeAI (through
 * `@google/generative-ai`) always sends `system`: any short role is taken, and passed on as sent.
 */
const systemInstruction = z.strictObject({
  role: z.string().max(64).optional(),
  parts: z.array(partSchema).max(MAX_PARTS),
});

const functionDeclaration = z.strictObject({
  name: functionName,
  description: z.string().optional(),
  parameters: jsonObject.optional(),
  parametersJsonSchema: z.unknown().optional(),
  response: jsonObject.optional(),
  responseJsonSchema: z.unknown().optional(),
  behavior: googleEnum(['UNSPECIFIED', 'BLOCKING', 'NON_BLOCKING']).optional(),
});
export type FunctionDeclaration = z.output<typeof functionDeclaration>;

/** Gemini's built-in tools, by the names the SDK sends; only a Gemini provider runs them. */
export const BUILT_IN_TOOLS = [
  'codeExecution',
  'computerUse',
  'enterpriseWebSearch',
  'fileSearch',
  'googleMaps',
  'googleSearch',
  'googleSearchRetrieval',
  'mcpServers',
  'retrieval',
  'urlContext',
] as const;

const toolSchema = z.strictObject({
  functionDeclarations: z.array(functionDeclaration).max(MAX_TOOLS).optional(),
  ...Object.fromEntries(BUILT_IN_TOOLS.map((name) => [name, z.unknown().optional()])),
});
export type GeminiTool = { functionDeclarations?: FunctionDeclaration[] } & Record<string, unknown>;

const toolConfig = z.strictObject({
  functionCallingConfig: z
    .strictObject({
      mode: googleEnum(['MODE_UNSPECIFIED', 'AUTO', 'ANY', 'NONE', 'VALIDATED']).optional(),
      allowedFunctionNames: z.array(functionName).max(MAX_TOOLS).optional(),
    })
    .optional(),
  retrievalConfig: jsonObject.optional(),
  /** Built-in tools' calls shown as parts; only a Gemini provider runs built-in tools. */
  includeServerSideToolInvocations: z.boolean().optional(),
});

const thinkingConfig = z.strictObject({
  includeThoughts: z.boolean().optional(),
  thinkingBudget: z.number().int().min(-1).optional(),
  thinkingLevel: googleEnum(['THINKING_LEVEL_UNSPECIFIED', 'MINIMAL', 'LOW', 'MEDIUM', 'HIGH']).optional(),
});

/** Settings only Gemini understands: passed through to a Gemini provider, refused for any other. */
export const GEMINI_ONLY_SETTINGS = [
  'audioTimestamp',
  'audioTranscriptionConfig',
  'enableEnhancedCivicAnswers',
  'imageConfig',
  'logprobs',
  'mediaResolution',
  'modelSelectionConfig',
  'responseLogprobs',
  'routingConfig',
  'speechConfig',
] as const;

const generationConfig = z.strictObject({
  candidateCount: z.number().int().min(1).optional(),
  maxOutputTokens: z.number().int().min(1).optional(),
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().min(0).max(1).optional(),
  topK: z.number().int().min(1).optional(),
  seed: z.number().int().optional(),
  presencePenalty: z.number().optional(),
  frequencyPenalty: z.number().optional(),
  /** "The set of character sequences (up to 5) that will stop output generation." */
  stopSequences: z.array(z.string()).max(5).optional(),
  responseMimeType: z.string().max(256).optional(),
  responseSchema: jsonObject.optional(),
  responseJsonSchema: z.unknown().optional(),
  responseModalities: z
    .array(googleEnum(['MODALITY_UNSPECIFIED', 'TEXT', 'IMAGE', 'AUDIO']))
    .max(4)
    .optional(),
  thinkingConfig: thinkingConfig.optional(),
  ...Object.fromEntries(GEMINI_ONLY_SETTINGS.map((name) => [name, z.unknown().optional()])),
});
export type GenerationConfig = z.output<typeof generationConfig> &
  Partial<Record<(typeof GEMINI_ONLY_SETTINGS)[number], unknown>>;

const safetySetting = z.strictObject({
  category: z.string().min(1).max(128),
  threshold: z.string().min(1).max(128),
  method: z.string().max(128).optional(),
});

const generateFields = {
  contents: z.array(contentSchema).min(1).max(MAX_CONTENTS),
  systemInstruction: systemInstruction.optional(),
  tools: z.array(toolSchema).max(MAX_TOOLS).optional(),
  toolConfig: toolConfig.optional(),
  safetySettings: z.array(safetySetting).max(MAX_LIST).optional(),
  generationConfig: generationConfig.optional(),
  cachedContent: z.string().min(1).max(1024).optional(),
  labels: boundedRecord(
    z.string(),
    z.string(),
    MAX_LABELS,
    `must have at most ${MAX_LABELS} labels`,
  ).optional(),
  serviceTier: z.string().max(64).optional(),
  /** Whether Google keeps the interaction; nothing to keep elsewhere. */
  store: z.boolean().optional(),
  /** Resumes an answer Gemini left unfinished: Gemini's own. */
  continuationToken: z.string().min(1).max(4096).optional(),
};

export const generateContentSchema = z.strictObject(generateFields);
export interface GenerateContentRequest {
  contents: GeminiContent[];
  systemInstruction?: z.output<typeof systemInstruction>;
  tools?: GeminiTool[];
  toolConfig?: z.output<typeof toolConfig>;
  safetySettings?: Array<z.output<typeof safetySetting>>;
  generationConfig?: GenerationConfig;
  cachedContent?: string;
  labels?: Record<string, string>;
  serviceTier?: string;
  store?: boolean;
  continuationToken?: string;
}

/** `countTokens` takes either bare `contents` or a whole `generateContentRequest`. */
export const countTokensSchema = z
  .strictObject({
    contents: z.array(contentSchema).max(MAX_CONTENTS).optional(),
    generateContentRequest: z
      .strictObject({ model: z.string().max(512).optional(), ...generateFields })
      .optional(),
  })
  .refine((body) => (body.contents === undefined) !== (body.generateContentRequest === undefined), {
    message: 'Send either contents or generateContentRequest, not both and not neither',
  });
export type CountTokensRequest = z.output<typeof countTokensSchema>;

const TASK_TYPES = [
  'TASK_TYPE_UNSPECIFIED',
  'RETRIEVAL_QUERY',
  'RETRIEVAL_DOCUMENT',
  'SEMANTIC_SIMILARITY',
  'CLASSIFICATION',
  'CLUSTERING',
  'QUESTION_ANSWERING',
  'FACT_VERIFICATION',
  'CODE_RETRIEVAL_QUERY',
] as const;

/** Embedded content is text: the parts' texts are joined, as Gemini does. */
const embedContent = z.strictObject({
  role: z.enum(['user', 'model']).optional(),
  parts: z
    .array(z.strictObject({ text: z.string() }))
    .min(1)
    .max(MAX_PARTS),
});

export const embedContentSchema = z.strictObject({
  model: z.string().max(512).optional(),
  content: embedContent,
  taskType: googleEnum(TASK_TYPES).optional(),
  title: z.string().optional(),
  outputDimensionality: z.number().int().min(1).optional(),
});
export type EmbedContentRequest = z.output<typeof embedContentSchema>;

/**
 * Gemini answers a batch of more than 100 with a 400 ("at most 100 requests can be in one batch"),
 * whatever the model: so does this surface, whatever provider serves it, so that a client that
 * works through Keyward works against Gemini too. (The OpenAI surface takes OpenAI's 2,048 inputs,
 * and the forwarder sends them to Gemini in parts.)
 */
const MAX_BATCH_REQUESTS = 100;

export const batchEmbedContentsSchema = z.strictObject({
  requests: z.array(embedContentSchema).min(1).max(MAX_BATCH_REQUESTS),
});
export type BatchEmbedContentsRequest = z.output<typeof batchEmbedContentsSchema>;
