import type { ChatRequest } from '../../canonical/model.js';
import { tracedClientParam } from '../part-origins.js';
import type { SurfaceBinding } from '../types.js';
import { geminiErrorBody, geminiErrorEvent } from './envelope.js';
import { GeminiStreamEncoder, geminiResponse } from './from-canonical.js';
import { jsonArrayEncoder, jsonArrayErrorEvent, jsonArrayRelay } from './json-array-stream.js';
import type { GenerateContentRequest } from './schema.js';
import { relayGeminiStream } from './stream-relay.js';
import { geminiToCanonical } from './to-canonical.js';

/** Where a Gemini body holds the canonical request's settings a provider may refuse. */
const SETTINGS: Readonly<Record<string, string>> = {
  max_tokens: 'generationConfig.maxOutputTokens',
  temperature: 'generationConfig.temperature',
  top_p: 'generationConfig.topP',
  top_k: 'generationConfig.topK',
  seed: 'generationConfig.seed',
  frequency_penalty: 'generationConfig.frequencyPenalty',
  presence_penalty: 'generationConfig.presencePenalty',
  stop: 'generationConfig.stopSequences',
  tool_choice: 'toolConfig.functionCallingConfig',
  messages: 'contents',
};

/**
 * The client's names for canonical paths: a setting by where Gemini keeps it (a tool's strict by
 * the mode that made it), a message or part by the content and part it came from (consecutive
 * model contents make one message), the system prompt as `systemInstruction`.
 */
function clientParam(param: string, request: ChatRequest): string {
  if (Object.hasOwn(SETTINGS, param)) return SETTINGS[param]!;
  // A tool is strict only by the VALIDATED mode (to-canonical.ts).
  if (/^tools\[\d+\]\.function\.strict$/.test(param)) return 'toolConfig.functionCallingConfig.mode';
  return tracedClientParam(param, request).replace(/^system\[(\d+)\]/, 'systemInstruction.parts[$1]');
}

/** Gemini's built-in tools that Google bills per grounded prompt or search query, beside tokens. */
const GROUNDING_TOOLS = ['googleSearch', 'googleSearchRetrieval', 'enterpriseWebSearch', 'googleMaps'];
/**
 * Searches reserved for a request that offers a grounding tool: Gemini names no limit and may run
 * several queries for one prompt. The charge is the count the answer reports, whatever was reserved.
 */
const GROUNDING_SEARCHES_RESERVED = 10;

function webSearchesAllowed(body: Record<string, unknown>): number | undefined {
  if (!Array.isArray(body.tools)) return undefined;
  const grounded = (body.tools as Array<Record<string, unknown>>).some((tool) =>
    GROUNDING_TOOLS.some((name) => tool[name] !== undefined),
  );
  return grounded ? GROUNDING_SEARCHES_RESERVED : undefined;
}

/**
 * Whether a body asks Gemini for its priority tier, billed above the standard rates: `priority` as
 * the SDKs send it, or `SERVICE_TIER_PRIORITY` as Google's docs have written it, in any case. A
 * proto-named `service_tier` was brought to `serviceTier` before the body got here.
 */
function asksPriorityTier(body: Record<string, unknown>): boolean {
  return typeof body.serviceTier === 'string' && /^(?:service_tier_)?priority$/i.test(body.serviceTier);
}

/**
 * The Gemini surface as the forwarder drives it. Its bodies are Gemini's own with the gateway's
 * `model` and `stream` beside them (Gemini keeps both in the path), which the Gemini provider
 * takes out again. Answers show no thoughts, as Gemini's do by default (see `geminiChatBinding`).
 */
export const geminiBinding: SurfaceBinding = {
  format: 'gemini',
  toCanonical: (body, earlier) =>
    geminiToCanonical(body as unknown as GenerateContentRequest, body.stream === true, earlier),
  clientParam,
  fromCanonical: (response) => geminiResponse(response, false),
  streamEncoder: () => new GeminiStreamEncoder(false),
  errorBody: geminiErrorBody,
  errorEvent: geminiErrorEvent,
  relay: relayGeminiStream,
  maxTokensFields: ['generationConfig.maxOutputTokens'],
  choicesFields: ['generationConfig.candidateCount'],
  // A proto-named `generation_config` was brought to `generationConfig` before the body got here.
  temperatureField: 'generationConfig.temperature',
  asksFast: asksPriorityTier,
  webSearchesAllowed,
  tokenCountBody: (inputTokens) => ({ totalTokens: inputTokens }),
};

/**
 * The surface for one `generateContent` body: thoughts shown when `thinkingConfig.includeThoughts`
 * asks for them, as Gemini shows them only then (thinking itself follows `thinkingBudget`); and
 * for `streamGenerateContent` without `alt=sse` (`jsonArray`), the chunks as one JSON array.
 */
export function geminiChatBinding(body: GenerateContentRequest, jsonArray: boolean): SurfaceBinding {
  const thoughts = body.generationConfig?.thinkingConfig?.includeThoughts === true;
  const encoder = () => new GeminiStreamEncoder(thoughts);
  return {
    ...geminiBinding,
    fromCanonical: (response) => geminiResponse(response, thoughts),
    ...(jsonArray
      ? {
          streamEncoder: () => jsonArrayEncoder(encoder()),
          errorEvent: jsonArrayErrorEvent,
          relay: jsonArrayRelay(relayGeminiStream),
        }
      : { streamEncoder: encoder }),
  };
}
