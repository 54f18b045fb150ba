import { randomUUID } from 'node:crypto';
import { offerAllowedOnly } from '../../canonical/allowed-tools.js';
import { functionArguments } from '../../canonical/custom-tools.js';
import { GEMINI_FILES_URI, isYouTubeVideo } from '../../canonical/file-reference.js';
import {
  type AssistantPart,
  type AudioVideoPart,
  type ChatRequest,
  type ChatResponse,
  type ChatUsage,
  type DocumentPart,
  type ImagePart,
  type MediaSource,
  type Message,
  type ReasoningEffort,
  type ResponseFormat,
  replayableTo,
  type StopReason,
  type TextPart,
  type ThinkingPart,
  type ToolCallPart,
  type ToolChoice,
  type ToolDefinition,
  type ToolResultPart,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import type { Usage } from '../types.js';
import {
  argumentsObject,
  count,
  isRecord,
  nonEmptyString,
  refuseForeignFile,
  refuseLogprobs,
  refuseStopsPast,
  unreportedUsage,
} from '../wire-values.js';

/**
 * Canonical chat ⇄ Gemini's `generateContent` REST body (camelCase JSON): `contents` of `user` and
 * `model` turns made of parts, the system prompt in `systemInstruction`, tool calls and results as
 * `functionCall` / `functionResponse` parts with their arguments as objects, sampling and thinking
 * in `generationConfig`.
 *
 * Thought signatures across surfaces: Gemini signs function calls (`thoughtSignature`) and refuses
 * the next turn unless each signature comes back with its call, but clients of the OpenAI and
 * Anthropic surfaces send back only a tool call's id. So the signature rides in the id:
 * `<Gemini's id, or call_<24 hex> when it gave none>__thought__<signature as base64url>` (base64url
 * keeps the id within the letters, digits, `_` and `-` both formats allow in ids). Encoding splits
 * the id again: the prefix is Gemini's id, left out when it starts with `call_` (one we made up;
 * Gemini ids are optional), and the suffix restores the signature, unless ToolCallPart.signature
 * carries one, which wins. Tool results' ids are split the same way.
 */

const THOUGHT_SEPARATOR = '__thought__';
const GENERATED_ID_PREFIX = 'call_';

type GeminiPart = Record<string, unknown>;

interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

type ContentPart = TextPart | ImagePart | DocumentPart;

/** Separate text parts of one tool result become one string; a blank line keeps them apart. */
const joinTexts = (texts: string[]): string => texts.join('\n\n');

/**
 * The request body for `:generateContent` and `:streamGenerateContent` (the model is in the path).
 * Gemini has no end-user id and no switch for parallel tool calls, so `user` and
 * `parallelToolCalls` are not sent.
 */
export function encodeGeminiRequest(asked: ChatRequest): Record<string, unknown> {
  // Gemini names allowed functions only where a call is forced (`ANY`): an allowed-tools choice
  // that leaves the model free offers only those tools.
  const choice = asked.toolChoice;
  const request = choice?.type === 'allowed' && choice.mode === 'auto' ? offerAllowedOnly(asked) : asked;
  const tools = request.tools ?? [];
  // A strict tool asks that the model's calls hold to its schema.
  const strict = tools.some((tool) => tool.strict === true);
  const generationConfig = encodeGenerationConfig(request);
  const system = systemParts(request);
  return {
    contents: encodeContents(request.messages, takesThinkingLevel(request.model)),
    ...(system.length > 0 && { systemInstruction: { parts: system } }),
    ...(tools.length > 0 && { tools: [{ functionDeclarations: tools.map(encodeTool) }] }),
    // A choice among no tools means nothing to Gemini, and `ANY` without tools is refused.
    ...(tools.length > 0 &&
      (request.toolChoice || strict) && {
        toolConfig: { functionCallingConfig: encodeToolChoice(request.toolChoice, strict) },
      }),
    ...(generationConfig && { generationConfig }),
  };
}

/**
 * Google's documented stand-in for a signature Gemini 3 never issued (a conversation begun with
 * another model): without one, Gemini 3 refuses a replayed function call.
 */
export const FOREIGN_CALL_SIGNATURE = 'skip_thought_signature_validator';

/**
 * The system prompt, then the conversation's instructions in order: Gemini's turns are `user` and
 * `model` only, so an instruction from inside the conversation joins the system instruction.
 */
function systemParts(request: ChatRequest): Array<{ text: string }> {
  const parts = request.system.map(({ text }) => ({ text }));
  for (const message of request.messages) {
    if (message.role === 'system') parts.push(...message.content.map(({ text }) => ({ text })));
  }
  return parts;
}

function encodeContents(messages: Message[], signsCalls: boolean): GeminiContent[] {
  // Gemini matches a result to its call by name; a result without a name takes its call's.
  const toolNames = new Map<string, string>();
  const contents: GeminiContent[] = [];
  messages.forEach((message, i) => {
    if (message.role === 'system') return;
    const path = `messages[${i}]`;
    const parts =
      message.role === 'assistant'
        ? encodeModelParts(message.content, path, toolNames)
        : encodeUserParts(message.content, path, toolNames);
    if (signsCalls && message.role === 'assistant') signForeignCalls(parts);
    // Gemini refuses a turn without parts (one that held only what Gemini cannot take).
    if (parts.length > 0) contents.push({ role: message.role === 'assistant' ? 'model' : 'user', parts });
  });
  return contents;
}

/** Gemini 3 checks the first function call of a model turn for a signature; others carry none. */
export function signForeignCalls(parts: GeminiPart[]): void {
  const first = parts.find((part) => 'functionCall' in part);
  if (first && !parts.some((part) => 'thoughtSignature' in part))
    first.thoughtSignature = FOREIGN_CALL_SIGNATURE;
}

function encodeUserParts(parts: UserPart[], path: string, toolNames: Map<string, string>): GeminiPart[] {
  const out: GeminiPart[] = [];
  parts.forEach((part, j) => {
    const param = `${path}.content[${j}]`;
    if (part.type === 'tool_result') out.push(encodeToolResult(part, param, toolNames));
    else if (part.type !== 'text') out.push(encodeMedia(part, param));
    // Gemini refuses empty text parts.
    else if (part.text !== '') out.push({ text: part.text });
  });
  return out;
}

function encodeModelParts(
  parts: AssistantPart[],
  path: string,
  toolNames: Map<string, string>,
): GeminiPart[] {
  const out: GeminiPart[] = [];
  parts.forEach((part, j) => {
    switch (part.type) {
      case 'text':
        if (part.text !== '') out.push({ text: part.text });
        break;
      // Gemini takes its thoughts back only with their own signature; unsigned thinking (an
      // OpenAI-format provider's, or a summary that lost its signature) tells it nothing, and
      // another provider's signature it refuses, so either is dropped.
      case 'thinking':
        if (part.signature && replayableTo(part, 'gemini'))
          out.push({ text: part.text, thought: true, thoughtSignature: part.signature });
        break;
      case 'tool_call':
        toolNames.set(part.id, part.name);
        out.push(encodeFunctionCall(part, `${path}.content[${j}]`));
        break;
      // Another provider's encrypted reasoning: nothing Gemini can read.
      case 'redacted_thinking':
        break;
    }
  });
  return out;
}

function encodeFunctionCall(part: ToolCallPart, param: string): GeminiPart {
  const { id, signature } = splitToolCallId(part.id);
  const thoughtSignature = part.signature ?? signature;
  return {
    functionCall: {
      ...(id !== undefined && { id }),
      name: part.name,
      args: argumentsObject(functionArguments(part), 'Gemini', `${param}.arguments`),
    },
    ...(thoughtSignature !== undefined && { thoughtSignature }),
  };
}

/** A tool result: its text as `result` (or `error`), its images and documents as the response's parts. */
function encodeToolResult(part: ToolResultPart, param: string, toolNames: Map<string, string>): GeminiPart {
  const name = part.name ?? toolNames.get(part.toolCallId);
  if (name === undefined) {
    throw new UnsupportedFeature(
      'Gemini needs the name of the tool a result answers, and no earlier tool call has this id',
      `${param}.toolCallId`,
    );
  }
  const { id } = splitToolCallId(part.toolCallId);
  const texts: string[] = [];
  const media: GeminiPart[] = [];
  part.content.forEach((inner, k) => {
    if (inner.type === 'text') texts.push(inner.text);
    else media.push(encodeMedia(inner, `${param}.content[${k}]`));
  });
  const text = joinTexts(texts);
  return {
    functionResponse: {
      ...(id !== undefined && { id }),
      name,
      response: part.isError ? { error: text } : { result: text },
      ...(media.length > 0 && { parts: media }),
    },
  };
}

/** Audio and video go as images and documents do, with the type the client gave them. */
function encodeMedia(part: Exclude<ContentPart, TextPart> | AudioVideoPart, param: string): GeminiPart {
  return encodeSource(part.source, part.type, `${param}.source`);
}

/**
 * Gemini takes media as bytes, as a file reference, or as a public or signed http(s) URL with its
 * type, which Gemini fetches itself; the gateway never fetches a URL for it.
 */
function encodeSource(
  source: MediaSource,
  kind: (Exclude<ContentPart, TextPart> | AudioVideoPart)['type'],
  param: string,
): GeminiPart {
  switch (source.kind) {
    case 'base64':
      return { inlineData: { mimeType: source.mediaType, data: source.data } };
    case 'file':
      refuseForeignFile(source, 'gemini', 'Gemini', param);
      return fileData(source.fileId, source.mediaType, param);
    case 'url':
      if (source.url.startsWith(GEMINI_FILES_URI)) return fileData(source.url, source.mediaType, param);
      // Only a Gemini client's fileData states a URL's type; Gemini needs it to read what it fetches.
      if (source.mediaType !== undefined && /^https?:\/\//i.test(source.url))
        return { fileData: { fileUri: source.url, mimeType: source.mediaType } };
      throw new UnsupportedFeature(`Gemini needs ${kind} data inline (base64) or a Gemini file URI`, param);
  }
}

/**
 * Gemini needs a file reference's MIME type, except for its own Files API uploads, whose type it
 * stored with the upload, and YouTube videos (a URL from another surface cannot say it).
 */
function fileData(fileUri: string, mimeType: string | undefined, param: string): GeminiPart {
  if (mimeType === undefined && !fileUri.startsWith(GEMINI_FILES_URI) && !isYouTubeVideo(fileUri)) {
    throw new UnsupportedFeature('Gemini needs the MIME type of a file reference', param);
  }
  return { fileData: { fileUri, ...(mimeType !== undefined && { mimeType }) } };
}

/** `parametersJsonSchema` takes standard JSON Schema, where `parameters` takes only an OpenAPI subset. */
function encodeTool(tool: ToolDefinition): Record<string, unknown> {
  return {
    name: tool.name,
    ...(tool.description !== undefined && { description: tool.description }),
    parametersJsonSchema: tool.parameters,
  };
}

/**
 * Gemini holds calls to their schemas with constrained decoding in `VALIDATED` mode (its API
 * reference: "will validate function calls with constrained decoding"), which otherwise leaves the
 * model free as `AUTO` does; a forced call (`ANY`) is held to its schema already.
 */
function encodeToolChoice(choice: ToolChoice | undefined, strict: boolean): Record<string, unknown> {
  switch (choice?.type) {
    case undefined:
    case 'auto':
      return { mode: strict ? 'VALIDATED' : 'AUTO' };
    case 'none':
      return { mode: 'NONE' };
    case 'required':
      return { mode: 'ANY' };
    case 'tool':
      return { mode: 'ANY', allowedFunctionNames: [choice.name] };
    // `required` only: `auto` was sent as the allowed tools alone.
    case 'allowed':
      return { mode: 'ANY', allowedFunctionNames: choice.names };
  }
}

/** Gemini's API reference: "the set of character sequences (up to 5) that will stop output generation". */
const MAX_STOP_SEQUENCES = 5;

/**
 * `generationConfig`, its keys always in this order: maxOutputTokens, temperature, topP, topK,
 * seed, frequencyPenalty, presencePenalty, stopSequences, the response format, thinkingConfig.
 */
function encodeGenerationConfig(request: ChatRequest): Record<string, unknown> | undefined {
  refuseStopsPast(request.stop, MAX_STOP_SEQUENCES, 'Gemini');
  refuseLogprobs(request, 'Gemini');
  const thinkingConfig = encodeThinking(request.thinking, request.model);
  const config = {
    ...(request.maxTokens !== undefined && { maxOutputTokens: request.maxTokens }),
    ...(request.temperature !== undefined && { temperature: request.temperature }),
    ...(request.topP !== undefined && { topP: request.topP }),
    ...(request.topK !== undefined && { topK: request.topK }),
    ...(request.seed !== undefined && { seed: request.seed }),
    ...(request.frequencyPenalty !== undefined && { frequencyPenalty: request.frequencyPenalty }),
    ...(request.presencePenalty !== undefined && { presencePenalty: request.presencePenalty }),
    ...(request.stop !== undefined && request.stop.length > 0 && { stopSequences: request.stop }),
    ...encodeResponseFormat(request.responseFormat),
    ...(thinkingConfig && { thinkingConfig }),
  };
  return Object.keys(config).length > 0 ? config : undefined;
}

function encodeResponseFormat(format: ResponseFormat | undefined): Record<string, unknown> {
  switch (format?.type) {
    case 'json_object':
      return { responseMimeType: 'application/json' };
    case 'json_schema':
      return {
        responseMimeType: 'application/json',
        ...(format.schema !== undefined && { responseJsonSchema: format.schema }),
      };
    default:
      return {};
  }
}

/**
 * Gemini 3 models take only two levels across the range (Pro has no others); `medium`, the usual
 * default elsewhere, goes to `HIGH`, Gemini's own default.
 */
const THINKING_LEVELS: Record<Exclude<ReasoningEffort, 'none'>, 'LOW' | 'HIGH'> = {
  minimal: 'LOW',
  low: 'LOW',
  medium: 'HIGH',
  high: 'HIGH',
  xhigh: 'HIGH',
  max: 'HIGH',
};

/**
 * Budgets for an effort on models before Gemini 3, which refuse `thinkingLevel`. `max` stays
 * within Gemini 2.5 Flash's largest budget (Pro's is larger).
 */
const EFFORT_BUDGETS: Record<Exclude<ReasoningEffort, 'none'>, number> = {
  minimal: 512,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 24576,
  max: 24576,
};

/**
 * Whether a model takes `thinkingLevel`: Gemini 3 and later do; earlier ones refuse it (400
 * "thinking level is not supported"). Every thinking model takes a `thinkingBudget` (Gemini 3
 * for compatibility), so a model whose name does not tell (an alias such as
 * `gemini-flash-latest`, a tuned model) gets a budget.
 */
export function takesThinkingLevel(model: string): boolean {
  const version = /(?:^|\/)gemini-(\d+)(?:[.-]|$)/.exec(model);
  return version !== null && Number(version[1]) >= 3;
}

/**
 * A budget wins over an effort because Gemini refuses both at once. An effort is a level for the
 * models that take one, else a budget. Thoughts are asked for whenever thinking is on, so they
 * reach the client as thinking blocks with their signatures.
 */
function encodeThinking(
  thinking: ChatRequest['thinking'],
  model: string,
): Record<string, unknown> | undefined {
  if (!thinking) return undefined;
  if (!thinking.enabled || thinking.effort === 'none') return { thinkingBudget: 0 };
  if (thinking.budgetTokens !== undefined)
    return { thinkingBudget: thinking.budgetTokens, includeThoughts: true };
  if (thinking.effort !== undefined) {
    return takesThinkingLevel(model)
      ? { thinkingLevel: THINKING_LEVELS[thinking.effort], includeThoughts: true }
      : { thinkingBudget: EFFORT_BUDGETS[thinking.effort], includeThoughts: true };
  }
  return { includeThoughts: true };
}

/** A tool call id as the canonical form carries it: Gemini's (or our) id, then its signature if any. */
function joinToolCallId(id: string, signature: string | undefined): string {
  if (signature === undefined) return id;
  const url = signature.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
  return `${id}${THOUGHT_SEPARATOR}${url}`;
}

/** The Gemini id (none when we made it up) and the signature folded into a canonical tool call id. */
function splitToolCallId(canonical: string): { id?: string; signature?: string } {
  const at = canonical.indexOf(THOUGHT_SEPARATOR);
  const id = at === -1 ? canonical : canonical.slice(0, at);
  const url = at === -1 ? '' : canonical.slice(at + THOUGHT_SEPARATOR.length);
  const base64 = url.replaceAll('-', '+').replaceAll('_', '/');
  return {
    ...(id !== '' && !id.startsWith(GENERATED_ID_PREFIX) && { id }),
    ...(base64 !== '' && { signature: base64 + '='.repeat((4 - (base64.length % 4)) % 4) }),
  };
}

const generatedId = (): string => `${GENERATED_ID_PREFIX}${randomUUID().replaceAll('-', '').slice(0, 24)}`;

/**
 * A `functionCall` part as a canonical tool call; Gemini sends each call whole. A call without an
 * id gets one: `at` (its place in a history) makes it the same every time the history is sent, so
 * the bytes another provider is sent, and its prompt cache, do not change from turn to turn.
 */
export function decodeFunctionCall(
  part: Record<string, unknown>,
  at?: { content: number; part: number },
): ToolCallPart {
  const call = isRecord(part.functionCall) ? part.functionCall : {};
  const signature = nonEmptyString(part.thoughtSignature);
  const fallback = at ? `${GENERATED_ID_PREFIX}${at.content}_${at.part}` : generatedId();
  return {
    type: 'tool_call',
    id: joinToolCallId(nonEmptyString(call.id) ?? fallback, signature),
    name: typeof call.name === 'string' ? call.name : '',
    arguments: JSON.stringify(isRecord(call.args) ? call.args : {}),
    ...(signature !== undefined && { signature }),
  };
}

/** The parts of the first (only) candidate's answer. */
export function candidateParts(candidate: Record<string, unknown> | undefined): unknown[] {
  const content = candidate?.content;
  return isRecord(content) && Array.isArray(content.parts) ? content.parts : [];
}

export function firstCandidate(payload: Record<string, unknown>): Record<string, unknown> | undefined {
  const first: unknown = Array.isArray(payload.candidates) ? payload.candidates[0] : undefined;
  return isRecord(first) ? first : undefined;
}

/** Gemini answers a prompt it refuses to read with a block reason and no candidates. */
export function promptBlocked(payload: Record<string, unknown>): boolean {
  return isRecord(payload.promptFeedback) && nonEmptyString(payload.promptFeedback.blockReason) !== undefined;
}

/**
 * A successful `generateContent` answer. Signatures follow the stream's rules: a thought part's
 * signature closes its thinking; one on a text part right after thinking belongs to that thinking;
 * one on a text part after anything else is dropped (Gemini requires back only the signatures of
 * function calls and of thoughts).
 */
export function decodeGeminiResponse(payload: unknown, model = ''): ChatResponse {
  if (!isRecord(payload)) throw new Error('a Gemini answer is a JSON object');
  const candidate = firstCandidate(payload);
  const blocked = promptBlocked(payload);
  if (!candidate && !blocked) throw new Error('a Gemini answer without candidates');
  const content = decodeParts(candidateParts(candidate));
  return {
    id: nonEmptyString(payload.responseId) ?? '',
    model: nonEmptyString(payload.modelVersion) ?? model,
    content,
    stopReason: blocked
      ? 'content_filter'
      : geminiStopReason(
          candidate?.finishReason,
          content.some((part) => part.type === 'tool_call'),
        ),
    usage: geminiUsage(payload.usageMetadata),
  };
}

function decodeParts(parts: unknown[]): AssistantPart[] {
  const out: AssistantPart[] = [];
  for (const part of parts) {
    if (!isRecord(part)) continue;
    if (isRecord(part.functionCall)) {
      out.push(decodeFunctionCall(part));
      continue;
    }
    const text = typeof part.text === 'string' ? part.text : '';
    const signature = nonEmptyString(part.thoughtSignature);
    const last = out.at(-1);
    // Thinking stays open for more thoughts until a signature closes it.
    const openThinking = last?.type === 'thinking' && last.signature === undefined ? last : undefined;
    if (part.thought === true) {
      if (text === '' && signature === undefined) continue;
      const thinking: ThinkingPart = openThinking ?? { type: 'thinking', text: '', signedBy: 'gemini' };
      if (!openThinking) out.push(thinking);
      thinking.text += text;
      if (signature !== undefined) thinking.signature = signature;
      continue;
    }
    if (signature !== undefined && openThinking) openThinking.signature = signature;
    if (text === '') continue;
    if (last?.type === 'text') last.text += text;
    else out.push({ type: 'text', text });
  }
  return out;
}

const CONTENT_FILTERS = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
]);

/** Gemini says STOP for a finished answer whether or not it called tools. */
export function geminiStopReason(reason: unknown, toolCalls: boolean): StopReason {
  if (reason === 'MAX_TOKENS') return 'max_tokens';
  if (typeof reason === 'string' && CONTENT_FILTERS.has(reason)) return 'content_filter';
  return reason === 'STOP' && toolCalls ? 'tool_use' : 'end_turn';
}

/**
 * Gemini's `usageMetadata` in canonical terms: its prompt count already includes cached tokens,
 * tool results count as input, and its candidates count leaves out the thoughts. An answer with
 * neither count (servers imitating Gemini may send none) is marked unreported, so that it is
 * charged its reservation rather than nothing.
 */
export function geminiUsage(usageMetadata: unknown): ChatUsage {
  const metadata = isRecord(usageMetadata) ? usageMetadata : {};
  if (typeof metadata.promptTokenCount !== 'number' && typeof metadata.candidatesTokenCount !== 'number')
    return unreportedUsage();
  const cached = count(metadata.cachedContentTokenCount);
  const thoughts = count(metadata.thoughtsTokenCount);
  const audio = audioCount(metadata.promptTokensDetails);
  const cachedAudio = audioCount(metadata.cacheTokensDetails);
  return {
    inputTokens: count(metadata.promptTokenCount) + count(metadata.toolUsePromptTokenCount),
    outputTokens: count(metadata.candidatesTokenCount) + thoughts,
    ...(cached > 0 && { cachedTokens: cached }),
    ...(audio > 0 && { audioTokens: audio }),
    ...(cachedAudio > 0 && { cachedAudioTokens: cachedAudio }),
    ...(thoughts > 0 && { reasoningTokens: thoughts }),
  };
}

/** The `AUDIO` tokens of a `ModalityTokenCount` list (`promptTokensDetails`, `cacheTokensDetails`). */
function audioCount(details: unknown): number {
  if (!Array.isArray(details)) return 0;
  let audio = 0;
  for (const detail of details) {
    if (isRecord(detail) && detail.modality === 'AUDIO') audio += count(detail.tokenCount);
  }
  return audio;
}

/**
 * Searches a Gemini answer (or stream chunk) ran to ground it: the queries its candidates'
 * `groundingMetadata` lists, or one for a candidate grounded without listing any (Google Maps).
 * Gemini 3 bills grounding per search query, Gemini 2.x per grounded prompt: counted per query,
 * which is never less.
 */
export function geminiGroundedSearches(payload: Record<string, unknown>): number {
  if (!Array.isArray(payload.candidates)) return 0;
  let searches = 0;
  for (const candidate of payload.candidates) {
    if (!isRecord(candidate) || !isRecord(candidate.groundingMetadata)) continue;
    const { webSearchQueries, groundingChunks } = candidate.groundingMetadata;
    const queries = Array.isArray(webSearchQueries) ? webSearchQueries.length : 0;
    if (queries > 0) searches += queries;
    else if (Array.isArray(groundingChunks) && groundingChunks.length > 0) searches += 1;
  }
  return searches;
}

/** Token counts (and grounding searches) from a `generateContent` answer or one stream chunk, when it carries them. */
export function readGeminiUsage(payload: unknown): Usage | undefined {
  if (!isRecord(payload) || !isRecord(payload.usageMetadata)) return undefined;
  const { inputTokens, outputTokens, cachedTokens, audioTokens, cachedAudioTokens } = geminiUsage(
    payload.usageMetadata,
  );
  const searches = geminiGroundedSearches(payload);
  return {
    inputTokens,
    outputTokens,
    ...(cachedTokens !== undefined && { cachedTokens }),
    ...(audioTokens !== undefined && { audioTokens }),
    ...(cachedAudioTokens !== undefined && { cachedAudioTokens }),
    ...(searches > 0 && { webSearches: searches }),
  };
}
