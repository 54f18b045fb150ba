import { fileReference, isGeminiFile, isYouTubeVideo } from '../../canonical/file-reference.js';
import { isWrapped, readSignature } from '../../canonical/foreign-signature.js';
import {
  type AssistantPart,
  type AudioVideoPart,
  audioVideoType,
  type ChatRequest,
  type DocumentPart,
  type ImagePart,
  type MediaSource,
  type Message,
  type ReasoningEffort,
  type RedactedThinkingPart,
  type ResponseFormat,
  type ThinkingPart,
  type ToolChoice,
  type ToolDefinition,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import { badRequest } from '../../errors/gateway-error.js';
import { geminiFunctionCall, isRecord } from '../../providers/index.js';
import { traced } from '../part-origins.js';
import { decodeReasoning } from '../responses/reasoning-envelope.js';
import { jsonSchema } from './openapi-schema.js';
import {
  BUILT_IN_TOOLS,
  GEMINI_ONLY_SETTINGS,
  type GeminiContent,
  type GeminiPart,
  type GeminiTool,
  type GenerateContentRequest,
  type GenerationConfig,
} from './schema.js';

/**
 * A Gemini `generateContent` body as a canonical request, for providers of other formats. What
 * only Gemini can do (built-in tools, audio or image output, several candidates, cached content,
 * code execution parts, Gemini-only generation settings, safety settings that block) is refused
 * with the field at fault; `labels` (billing) and safety settings that block nothing are dropped.
 *
 * Function results find their call the way Gemini matches them: by id when the result has one,
 * else by name, the earliest unanswered call of that name first, `earlier`'s (a stored
 * conversation's, which the client sends no more) before those of `contents`.
 */
export function geminiToCanonical(
  body: GenerateContentRequest,
  stream: boolean,
  earlier: readonly Message[] = [],
): ChatRequest {
  refuseGeminiOnly(body);
  const config = body.generationConfig ?? {};
  const calling = body.toolConfig?.functionCallingConfig;
  const tools = allowedTools(functionTools(body.tools ?? []), calling).map((tool) =>
    heldToSchema(tool, calling),
  );
  const toolChoice = encodeToolChoice(calling);
  return {
    model: '',
    system: (body.systemInstruction?.parts ?? []).flatMap((part, j) =>
      part.text !== undefined
        ? [{ type: 'text' as const, text: part.text }]
        : unsupportedPart(`systemInstruction.parts[${j}]`),
    ),
    messages: new CallBook(earlier).messages(body.contents),
    ...(tools.length > 0 && { tools }),
    ...(tools.length > 0 && toolChoice && { toolChoice }),
    ...(config.maxOutputTokens !== undefined && { maxTokens: config.maxOutputTokens }),
    ...(config.temperature !== undefined && { temperature: config.temperature }),
    ...(config.topP !== undefined && { topP: config.topP }),
    ...(config.topK !== undefined && { topK: config.topK }),
    ...(config.seed !== undefined && { seed: config.seed }),
    ...(config.frequencyPenalty !== undefined && { frequencyPenalty: config.frequencyPenalty }),
    ...(config.presencePenalty !== undefined && { presencePenalty: config.presencePenalty }),
    ...(config.stopSequences !== undefined && { stop: config.stopSequences }),
    ...responseFormat(config),
    ...thinking(config),
    stream,
  };
}

/**
 * The thresholds that ask Gemini's filter to block nothing (`BLOCK_NONE`, `OFF`) or leave it at
 * the model's default (`HARM_BLOCK_THRESHOLD_UNSPECIFIED`, what a request without the setting
 * gets). Another provider has no such filter to set: dropped, they ask for no answer that the
 * provider would not give anyway.
 */
const NOT_BLOCKING: ReadonlySet<string> = new Set(['BLOCK_NONE', 'OFF', 'HARM_BLOCK_THRESHOLD_UNSPECIFIED']);

function refuseGeminiOnly(body: GenerateContentRequest): void {
  // A threshold that blocks (`BLOCK_LOW_AND_ABOVE`, …) asks for a filter only Gemini runs: dropped,
  // it would let through, unfiltered, what the client asked to have blocked.
  body.safetySettings?.forEach((setting, i) => {
    if (!NOT_BLOCKING.has(setting.threshold))
      throw new UnsupportedFeature(
        `Safety threshold ${setting.threshold} blocks content with Gemini's own filter, which only a Gemini provider runs; send BLOCK_NONE or OFF, or leave the setting out`,
        `safetySettings[${i}].threshold`,
      );
  });
  if (body.cachedContent !== undefined)
    throw new UnsupportedFeature(
      'cachedContent names a Gemini cache: only a Gemini provider has it',
      'cachedContent',
    );
  if (body.continuationToken !== undefined)
    throw new UnsupportedFeature(
      'continuationToken resumes a Gemini answer: only a Gemini provider has it',
      'continuationToken',
    );
  (body.tools ?? []).forEach((tool, i) => {
    const builtIn = BUILT_IN_TOOLS.find((name) => (tool as Record<string, unknown>)[name] !== undefined);
    if (builtIn)
      throw new UnsupportedFeature(
        `Gemini's built-in tool ${builtIn} runs only on a Gemini provider`,
        `tools[${i}].${builtIn}`,
      );
  });
  const config = body.generationConfig ?? {};
  const only = GEMINI_ONLY_SETTINGS.find((name) => config[name] !== undefined);
  if (only)
    throw new UnsupportedFeature(
      `generationConfig.${only} is understood only by a Gemini provider`,
      `generationConfig.${only}`,
    );
  if ((config.candidateCount ?? 1) > 1)
    throw new UnsupportedFeature(
      'Several candidates are offered only by a Gemini provider',
      'generationConfig.candidateCount',
    );
  if (config.responseModalities?.some((modality) => modality === 'IMAGE' || modality === 'AUDIO'))
    throw new UnsupportedFeature(
      'Only text output is possible with this provider',
      'generationConfig.responseModalities',
    );
}

function unsupportedPart(param: string): never {
  throw new UnsupportedFeature('This part can go only to a Gemini provider', param);
}

/**
 * The function calls of the conversation so far, to give each result its call's id. Each message
 * and part is traced to the content and part it came from (`clientParam`).
 */
class CallBook {
  private readonly byGeminiId = new Map<string, string>();
  private readonly unanswered: Array<{ id: string; name: string }> = [];

  /** `earlier`'s calls that no result there answers are waiting for results too. */
  constructor(earlier: readonly Message[]) {
    for (const message of earlier)
      for (const part of message.content) {
        if (part.type === 'tool_call') {
          // The surface showed the client the canonical id (from-canonical.ts), which comes back.
          this.byGeminiId.set(part.id, part.id);
          this.unanswered.push({ id: part.id, name: part.name });
        } else if (part.type === 'tool_result') {
          const at = this.unanswered.findIndex((call) => call.id === part.toolCallId);
          if (at !== -1) this.unanswered.splice(at, 1);
        }
      }
  }

  /**
   * Consecutive model contents are one assistant turn: `@google/genai`'s chat keeps each chunk of
   * a streamed answer as a content of its own and sends them all back, and a turn split in several
   * put an assistant message between calls and their results, which OpenAI refuses.
   */
  messages(contents: GeminiContent[]): Message[] {
    const out: Message[] = [];
    contents.forEach((content, i) => {
      const path = `contents[${i}]`;
      if (content.role !== 'model') {
        out.push(traced({ role: 'user', content: this.userParts(content.parts, `${path}.parts`) }, path));
        return;
      }
      const last = out.at(-1);
      const turn =
        last?.role === 'assistant' ? last : traced({ role: 'assistant' as const, content: [] }, path);
      if (turn !== last) out.push(turn);
      this.modelParts(content.parts, i, turn.content);
    });
    return out;
  }

  /**
   * The parts of `contents[content]` added to its turn; an empty text adds nothing. A thought shown
   * in pieces (a stream's) is one thinking until a signature closes it, as the Gemini codec reads
   * them: its signer checks the whole text against the signature. A signature on a text or on no
   * data at all, right after open thinking, is that thinking's, as Gemini puts it.
   */
  private modelParts(parts: GeminiPart[], content: number, turn: AssistantPart[]): void {
    parts.forEach((part, j) => {
      const origin = `contents[${content}].parts[${j}]`;
      if (part.functionCall) {
        const call = geminiFunctionCall(ownSignature(part), { content, part: j });
        if (part.functionCall.id !== undefined) this.byGeminiId.set(part.functionCall.id, call.id);
        this.unanswered.push({ id: call.id, name: call.name });
        turn.push(traced(call, origin));
        return;
      }
      if (part.text === undefined && part.thoughtSignature === undefined) unsupportedPart(origin);
      const text = part.text ?? '';
      // A hidden thought comes back whole in its part's signature, closed.
      const hidden = hiddenThought(part.thoughtSignature, origin);
      if (hidden) turn.push(traced(hidden, origin));
      const last = turn.at(-1);
      const open = last?.type === 'thinking' && !last.signature ? last : undefined;
      if (part.thought === true) {
        if (text === '' && !part.thoughtSignature) return;
        const thinking = open ?? traced<ThinkingPart>({ type: 'thinking', text: '' }, origin);
        if (!open) turn.push(thinking);
        thinking.text += text;
        if (part.thoughtSignature) Object.assign(thinking, thoughtSignature(part.thoughtSignature));
        return;
      }
      if (open && part.thoughtSignature) Object.assign(open, thoughtSignature(part.thoughtSignature));
      if (text === '') return;
      // A streamed answer's text comes back in pieces: one text, as Gemini reads them.
      if (last?.type === 'text') last.text += text;
      else turn.push(traced({ type: 'text', text }, origin));
    });
  }

  private userParts(parts: GeminiPart[], path: string): UserPart[] {
    return parts.map((part, j) => traced(this.userPart(part, `${path}[${j}]`), `${path}[${j}]`));
  }

  private userPart(part: GeminiPart, param: string): UserPart {
    if (part.text !== undefined) return { type: 'text', text: part.text };
    if (part.inlineData || part.fileData) return media(part, param);
    if (part.functionResponse) {
      const { id, name, response, parts: attached } = part.functionResponse;
      const callId = this.answer(id, name);
      // The request's own fault, whatever provider it goes to.
      if (callId === undefined)
        throw badRequest(`No earlier function call named ${name} is waiting for this result`, {
          param: `${param}.functionResponse`,
          code: 'invalid_value',
        });
      const failed = 'error' in response && !('output' in response) && !('result' in response);
      const value = failed ? response.error : (response.output ?? response.result ?? response);
      return {
        type: 'tool_result',
        toolCallId: callId,
        name,
        content: [
          { type: 'text', text: typeof value === 'string' ? value : JSON.stringify(value) },
          // Images and files a function returns beside its response.
          ...(attached ?? []).map((attachment, k) => {
            const at = `${param}.functionResponse.parts[${k}]`;
            const part = media(attachment, at);
            // Gemini's function responses hold images and documents only.
            if (part.type === 'audio' || part.type === 'video')
              throw badRequest(`A function response cannot hold ${part.type}`, {
                param: at,
                code: 'invalid_value',
              });
            return traced(part, at);
          }),
        ],
        ...(failed && { isError: true }),
      };
    }
    return unsupportedPart(param);
  }

  private answer(geminiId: string | undefined, name: string): string | undefined {
    const wanted = geminiId === undefined ? undefined : this.byGeminiId.get(geminiId);
    const at = this.unanswered.findIndex((call) =>
      wanted === undefined ? call.name === name : call.id === wanted,
    );
    if (at === -1) return wanted ?? geminiId;
    return this.unanswered.splice(at, 1)[0]!.id;
  }
}

/**
 * A thought's signature, unwrapped with its signer when the surface showed it as another format's
 * (`shownSignature`), so that it goes back to that format only.
 */
function thoughtSignature(shown: string | undefined): Pick<ThinkingPart, 'signature' | 'signedBy'> {
  if (shown === undefined) return {};
  const { value, signedBy } = readSignature(shown, 'gemini');
  return { signature: value, ...(signedBy && { signedBy }) };
}

/**
 * The thought a signature holds when the surface hid it (`hiddenThought` in from-canonical.ts):
 * its text and signature, for its signer. Any other signature holds none.
 */
function hiddenThought(
  shown: string | undefined,
  origin: string,
): ThinkingPart | RedactedThinkingPart | undefined {
  if (!isWrapped(shown)) return undefined;
  const { value } = readSignature(shown!, 'gemini');
  return decodeReasoning(value, `${origin}.thoughtSignature`, 'thoughtSignature');
}

/**
 * A function call without a signature another format made: only Gemini signs calls, and one
 * carrying another's signature (moved there by the client) would be sent to Gemini inside the
 * call's id, which it refuses.
 */
function ownSignature(part: GeminiPart): GeminiPart {
  if (!isWrapped(part.thoughtSignature)) return part;
  const { thoughtSignature: _foreign, ...rest } = part;
  return rest;
}

/** A part of media: an image, a document, audio or video (which a function response cannot hold). */
function media(
  part: Pick<GeminiPart, 'inlineData' | 'fileData'>,
  param: string,
): ImagePart | DocumentPart | AudioVideoPart {
  if (part.inlineData) {
    const { mimeType, data } = part.inlineData;
    return typed({ kind: 'base64', mediaType: mimeType, data }, mimeType, param);
  }
  if (!part.fileData)
    throw badRequest('A part needs inlineData or fileData', { param, code: 'invalid_value' });
  const { fileUri, mimeType } = part.fileData;
  // Without a type only Gemini reads a URI (a YouTube video, a file it stores); other providers
  // need it to tell an image from a document. Such a URI is a reference of Gemini's, which a
  // Gemini target is sent as it came (a stored conversation replays it) and others refuse.
  if (mimeType === undefined) {
    if (isGeminiFile(fileUri) || isYouTubeVideo(fileUri))
      return { type: 'document', source: fileReference(fileUri, 'gemini') };
    throw new UnsupportedFeature(
      'fileData without a mimeType is read only by a Gemini provider, and then only for a YouTube URL or a file Gemini stores; send inlineData, or the mimeType of the file',
      `${param}.fileData`,
    );
  }
  // A file Gemini holds is Gemini's alone; a web address is a URL, for providers that fetch one.
  const source: MediaSource = isGeminiFile(fileUri)
    ? { ...fileReference(fileUri, 'gemini'), mediaType: mimeType }
    : { kind: 'url', url: fileUri, mediaType: mimeType };
  return typed(source, mimeType, param);
}

function typed(
  source: MediaSource,
  mediaType: string,
  param: string,
): ImagePart | DocumentPart | AudioVideoPart {
  if (mediaType.startsWith('image/')) return { type: 'image', source };
  if (mediaType === 'application/pdf' || mediaType.startsWith('text/')) return { type: 'document', source };
  const kind = audioVideoType(mediaType);
  if (kind !== undefined) return { type: kind, source };
  throw new UnsupportedFeature(`${mediaType} content can go only to a Gemini provider`, param);
}

function functionTools(tools: GeminiTool[]): ToolDefinition[] {
  return tools.flatMap((tool) =>
    (tool.functionDeclarations ?? []).map((declaration) => ({
      name: declaration.name,
      ...(declaration.description !== undefined && { description: declaration.description }),
      parameters:
        (declaration.parametersJsonSchema as Record<string, unknown> | undefined) ??
        (declaration.parameters ? jsonSchema(declaration.parameters) : { type: 'object', properties: {} }),
    })),
  );
}

type CallingConfig = NonNullable<GenerateContentRequest['toolConfig']>['functionCallingConfig'];

/**
 * The declared functions the model may call: `allowedFunctionNames` narrows them (Gemini's `ANY`
 * and `VALIDATED` modes), which other formats say by sending only those tools.
 */
function allowedTools(tools: ToolDefinition[], config: CallingConfig): ToolDefinition[] {
  const names = config?.allowedFunctionNames;
  if (!names || names.length === 0 || config?.mode === 'NONE') return tools;
  const allowed = new Set(names);
  const unknown = names.find((name) => !tools.some((tool) => tool.name === name));
  if (unknown !== undefined)
    throw badRequest(`allowedFunctionNames names ${unknown}, which no functionDeclarations declare`, {
      param: 'toolConfig.functionCallingConfig.allowedFunctionNames',
      code: 'invalid_value',
    });
  return tools.filter((tool) => allowed.has(tool.name));
}

/**
 * Gemini's `ANY` and `VALIDATED` modes hold calls to their schemas. `VALIDATED` is asked for only
 * for that, as Anthropic's `strict: true` is: a target that cannot hold the calls refuses. `ANY`
 * is asked for to force a call: its tools are held where the target can, as a Gemini response
 * schema is (`constrained`), and go as before where not.
 */
function heldToSchema(tool: ToolDefinition, config: CallingConfig): ToolDefinition {
  if (config?.mode === 'VALIDATED') return { ...tool, strict: true, constrained: true };
  return config?.mode === 'ANY' ? { ...tool, constrained: true } : tool;
}

function encodeToolChoice(config: CallingConfig): ToolChoice | undefined {
  switch (config?.mode) {
    case 'NONE':
      return { type: 'none' };
    case 'ANY': {
      const names = config.allowedFunctionNames ?? [];
      return names.length === 1 ? { type: 'tool', name: names[0]! } : { type: 'required' };
    }
    case 'AUTO':
    case 'VALIDATED':
      return { type: 'auto' };
    default:
      return undefined;
  }
}

/** What other formats can be asked for: free text, or JSON (to a schema or not). */
const TRANSLATABLE_MIME_TYPES = new Set(['text/plain', 'application/json']);

function responseFormat(config: GenerationConfig): { responseFormat?: ResponseFormat } {
  const mimeType = config.responseMimeType ?? 'text/plain';
  if (!TRANSLATABLE_MIME_TYPES.has(mimeType))
    throw new UnsupportedFeature(
      `responseMimeType ${mimeType} is Gemini's alone; other providers answer text/plain or application/json`,
      'generationConfig.responseMimeType',
    );
  if (mimeType !== 'application/json') {
    if (config.responseSchema !== undefined || config.responseJsonSchema !== undefined)
      throw badRequest('A response schema needs responseMimeType application/json', {
        param: `generationConfig.${config.responseSchema !== undefined ? 'responseSchema' : 'responseJsonSchema'}`,
        code: 'invalid_value',
      });
    return {};
  }
  // Traced so that a provider's refusal of a part of the schema names the client's field.
  const given = config.responseJsonSchema;
  const schema =
    (isRecord(given)
      ? traced(given, 'generationConfig.responseJsonSchema')
      : (given as Record<string, unknown> | undefined)) ??
    (config.responseSchema
      ? traced(jsonSchema(config.responseSchema), 'generationConfig.responseSchema')
      : undefined);
  return {
    responseFormat: schema
      ? { type: 'json_schema', name: 'response', schema, constrained: true }
      : { type: 'json_object' },
  };
}

const LEVELS: Record<string, ReasoningEffort> = {
  MINIMAL: 'minimal',
  LOW: 'low',
  MEDIUM: 'medium',
  HIGH: 'high',
};

/** A budget of 0 turns thinking off; -1 (dynamic) or a level leaves the amount to the provider. */
function thinking(config: GenerationConfig): Pick<ChatRequest, 'thinking'> {
  const thinkingConfig = config.thinkingConfig;
  if (!thinkingConfig) return {};
  const { thinkingBudget: budget, thinkingLevel: level } = thinkingConfig;
  if (budget === 0) return { thinking: { enabled: false } };
  const effort = level === undefined ? undefined : LEVELS[level];
  if (budget === undefined && effort === undefined && thinkingConfig.includeThoughts !== true) return {};
  return {
    thinking: {
      enabled: true,
      ...(budget !== undefined && budget > 0 && { budgetTokens: budget }),
      ...(effort !== undefined && { effort }),
    },
  };
}
