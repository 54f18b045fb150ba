import { offerAllowedOnly } from '../../canonical/allowed-tools.js';
import { functionArguments } from '../../canonical/custom-tools.js';
import {
  type AssistantPart,
  type ChatRequest,
  type ChatResponse,
  type ChatUsage,
  type DocumentPart,
  type ImagePart,
  type ResponseFormat,
  type StopReason,
  type TextPart,
  type ToolCallPart,
  type ToolDefinition,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import { documentText, namedText } from '../../canonical/text-document.js';
import { readOpenAIUsage } from '../openai/index.js';
import type { Usage } from '../types.js';
import {
  argumentsObject,
  count,
  generatedCallId,
  isRecord,
  refuseAudioVideo,
  refuseLogprobs,
  unreportedUsage,
} from '../wire-values.js';

/**
 * Canonical chat ⇄ Ollama's native `/api/chat`. Ollama's messages are flat: one string of
 * content, images as a list of base64 strings beside it, the model's reasoning in `thinking`,
 * tool calls with their arguments as objects (and, in answers from Ollama 0.12.10 on, an id),
 * tool results as `tool` messages naming the tool (with no error flag: an error result's text
 * starts with "Error: " instead).
 */

/**
 * A tool call as Ollama takes it. Ollama's API docs give a request's tool calls no id (answers
 * carry one from 0.12.10 on) and tool results none either, so none is sent.
 */
interface OllamaToolCall {
  function: { name: string; arguments: Record<string, unknown> };
}

interface OllamaMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  images?: string[];
  thinking?: string;
  tool_calls?: OllamaToolCall[];
  tool_name?: string;
}

/** `think`: on or off, or a level for the models that have levels (gpt-oss). */
type Think = boolean | 'low' | 'medium' | 'high';

type ContentPart = TextPart | ImagePart | DocumentPart;

/** A content part with the request path that names it when it cannot be sent. */
interface Located {
  part: ContentPart;
  param: string;
}

function offeredTools(request: ChatRequest): ToolDefinition[] | undefined {
  const choice = request.toolChoice;
  if (choice?.type === 'none') return undefined;
  if (choice?.type !== 'tool') return request.tools;
  // A name no tool has is the client's mistake, not Ollama's limit: refused as unsupported it
  // sent the request on to the route's next target; Ollama is sent every tool, as it was before.
  const named = (request.tools ?? []).filter((tool) => tool.name === choice.name);
  return named.length === 0 ? request.tools : named;
}

/** Separate parts become one string; a blank line keeps them apart. */
const joinParts = (texts: string[]): string => texts.join('\n\n');

/**
 * The request body for `/api/chat`. `stream` is always sent because Ollama streams unless told
 * otherwise. Ollama has no tool choice: `none` leaves the tools out, a named tool is sent alone (the
 * model can call no other, as Gemini's `allowedFunctionNames` narrows them), so are allowed tools,
 * and `auto` and `required` send them all and leave the decision to the model.
 */
export function encodeOllamaRequest(asked: ChatRequest): Record<string, unknown> {
  const request = offerAllowedOnly(asked);
  refuseLogprobs(request, 'Ollama');
  const tools = offeredTools(request);
  refuseStrictTools(request, tools);
  const format = encodeFormat(request.responseFormat);
  const options = encodeOptions(request);
  const think = encodeThink(request.thinking);
  return {
    model: request.model,
    messages: encodeMessages(request),
    ...(tools && tools.length > 0 && { tools: tools.map(encodeTool) }),
    ...(format !== undefined && { format }),
    ...(options && { options }),
    ...(think !== undefined && { think }),
    stream: request.stream,
  };
}

function encodeMessages(request: ChatRequest): OllamaMessage[] {
  const messages: OllamaMessage[] = [];
  if (request.system.length > 0) {
    messages.push({ role: 'system', content: joinParts(request.system.map((part) => part.text)) });
  }
  // Tool results name their tool; a result without a name takes it from the call it answers.
  const toolNames = new Map<string, string>();
  request.messages.forEach((message, i) => {
    const path = `messages[${i}]`;
    if (message.role === 'system') {
      messages.push({ role: 'system', content: joinParts(message.content.map((part) => part.text)) });
    } else if (message.role === 'assistant') messages.push(encodeAssistant(message.content, path, toolNames));
    else messages.push(...encodeUser(message.content, path, toolNames));
  });
  return messages;
}

/** A user turn: its text and images as user messages, each tool result as a `tool` message, in order. */
function encodeUser(parts: UserPart[], path: string, toolNames: Map<string, string>): OllamaMessage[] {
  const messages: OllamaMessage[] = [];
  let run: Located[] = [];
  const flush = () => {
    if (run.length > 0) messages.push({ role: 'user', ...encodeContent(run) });
    run = [];
  };
  parts.forEach((part, j) => {
    const param = `${path}.content[${j}]`;
    if (part.type === 'audio' || part.type === 'video') refuseAudioVideo(part, 'Ollama', param);
    if (part.type !== 'tool_result') {
      run.push({ part, param });
      return;
    }
    flush();
    const name = part.name ?? toolNames.get(part.toolCallId);
    const content = encodeContent(
      part.content.map((inner, k) => ({ part: inner, param: `${param}.content[${k}]` })),
    );
    // Ollama has no error flag on a tool result: the text says it instead, as in OpenAI's format.
    if (part.isError) content.content = `Error: ${content.content}`;
    messages.push({ role: 'tool', ...content, ...(name !== undefined && { tool_name: name }) });
  });
  flush();
  return messages.length > 0 ? messages : [{ role: 'user', content: '' }];
}

function encodeContent(parts: Located[]): Pick<OllamaMessage, 'content' | 'images'> {
  const texts: string[] = [];
  const images: string[] = [];
  for (const { part, param } of parts) {
    if (part.type === 'text') texts.push(part.text);
    else if (part.type === 'image') images.push(imageData(part, param));
    else texts.push(namedText(documentDataText(part, param), part.filename));
  }
  return { content: joinParts(texts), ...(images.length > 0 && { images }) };
}

/** Ollama takes no document: a text document goes as its text, any other is refused. */
function documentDataText(part: DocumentPart, param: string): string {
  const text = documentText(part, `${param}.source`);
  if (text === undefined) throw new UnsupportedFeature('Ollama takes documents only as text', param);
  return text;
}

/** Ollama takes image bytes only; the gateway never fetches a URL for it. */
function imageData(part: ImagePart, param: string): string {
  const { source } = part;
  if (source.kind === 'base64') return source.data;
  const given = source.kind === 'url' ? 'an image URL' : 'a file reference';
  throw new UnsupportedFeature(
    `Ollama needs image data inline (base64); ${given} cannot be sent to it`,
    `${param}.source`,
  );
}

function encodeAssistant(
  parts: AssistantPart[],
  path: string,
  toolNames: Map<string, string>,
): OllamaMessage {
  const texts: string[] = [];
  const thinking: string[] = [];
  const toolCalls: OllamaToolCall[] = [];
  parts.forEach((part, j) => {
    switch (part.type) {
      case 'text':
        texts.push(part.text);
        break;
      // Signatures belong to other providers; Ollama takes the reasoning as plain text.
      case 'thinking':
        thinking.push(part.text);
        break;
      case 'tool_call':
        toolNames.set(part.id, part.name);
        toolCalls.push({
          function: {
            name: part.name,
            arguments: argumentsObject(functionArguments(part), 'Ollama', `${path}.content[${j}].arguments`),
          },
        });
        break;
      // Another provider's encrypted reasoning: nothing Ollama can read.
      case 'redacted_thinking':
        break;
    }
  });
  return {
    role: 'assistant',
    content: joinParts(texts),
    ...(thinking.length > 0 && { thinking: joinParts(thinking) }),
    ...(toolCalls.length > 0 && { tool_calls: toolCalls }),
  };
}

/**
 * Ollama cannot hold a model's tool calls to their schema, which a strict tool asks for: refused
 * rather than sent without the guarantee (the client may rely on it and not validate the call).
 */
function refuseStrictTools(request: ChatRequest, offered: ToolDefinition[] | undefined): void {
  const strict = offered?.find((tool) => tool.strict === true);
  if (strict === undefined) return;
  throw new UnsupportedFeature(
    `The strict tool '${strict.name}' needs its calls held to its schema, which Ollama cannot do. ` +
      'Send it without strict, or to a provider that can',
    `tools[${request.tools!.indexOf(strict)}].function.strict`,
  );
}

function encodeTool(tool: ToolDefinition): Record<string, unknown> {
  return {
    type: 'function',
    function: {
      name: tool.name,
      ...(tool.description !== undefined && { description: tool.description }),
      parameters: tool.parameters,
    },
  };
}

/** `format` is `json` for any JSON, or the schema the answer must follow. */
function encodeFormat(format: ResponseFormat | undefined): 'json' | Record<string, unknown> | undefined {
  if (format?.type === 'json_object') return 'json';
  if (format?.type === 'json_schema') return format.schema ?? 'json';
  return undefined;
}

/** Sampling and limits, in a fixed order: num_predict, temperature, top_p, top_k, seed, penalties, stop. */
function encodeOptions(request: ChatRequest): Record<string, unknown> | undefined {
  const options = {
    ...(request.maxTokens !== undefined && { num_predict: request.maxTokens }),
    ...(request.temperature !== undefined && { temperature: request.temperature }),
    ...(request.topP !== undefined && { top_p: request.topP }),
    ...(request.topK !== undefined && { top_k: request.topK }),
    ...(request.seed !== undefined && { seed: request.seed }),
    ...(request.frequencyPenalty !== undefined && { frequency_penalty: request.frequencyPenalty }),
    ...(request.presencePenalty !== undefined && { presence_penalty: request.presencePenalty }),
    ...(request.stop && request.stop.length > 0 && { stop: request.stop }),
  };
  return Object.keys(options).length > 0 ? options : undefined;
}

/**
 * An effort becomes Ollama's nearest level; levels steer the models that have them (gpt-oss)
 * and switch thinking on for the others. Ollama has no token budget, so a budget alone is `true`.
 */
function encodeThink(thinking: ChatRequest['thinking']): Think | undefined {
  if (!thinking) return undefined;
  if (!thinking.enabled) return false;
  switch (thinking.effort) {
    case 'none':
      return false;
    case 'minimal':
    case 'low':
      return 'low';
    case 'medium':
      return 'medium';
    case 'high':
    case 'xhigh':
    case 'max':
      return 'high';
    default:
      return true;
  }
}

/**
 * A non-streamed answer. Ollama gives the answer no id (surfaces make their own); its tool calls
 * carry one from Ollama 0.12.10 on, and get a fresh one from older versions.
 */
export function decodeOllamaResponse(payload: unknown): ChatResponse {
  if (!isRecord(payload) || !isRecord(payload.message)) throw new Error('not an Ollama chat answer');
  const { message } = payload;
  const content: AssistantPart[] = [];
  if (typeof message.thinking === 'string' && message.thinking !== '') {
    content.push({ type: 'thinking', text: message.thinking });
  }
  if (typeof message.content === 'string' && message.content !== '') {
    content.push({ type: 'text', text: message.content });
  }
  const calls = decodeToolCalls(message.tool_calls);
  content.push(...calls);
  return {
    id: '',
    model: typeof payload.model === 'string' ? payload.model : '',
    content,
    stopReason: ollamaStopReason(payload.done_reason, calls.length > 0),
    usage: ollamaUsage(payload),
  };
}

/**
 * Tool calls of one message or stream line, each with its arguments as JSON text and Ollama's id
 * (`call_…`, sent from Ollama 0.12.10 on), or a generated one where Ollama gave none.
 */
export function decodeToolCalls(value: unknown): ToolCallPart[] {
  if (!Array.isArray(value)) return [];
  return value.map((call: unknown): ToolCallPart => {
    const fn = isRecord(call) ? call.function : undefined;
    if (!isRecord(call) || !isRecord(fn) || typeof fn.name !== 'string') {
      throw new Error('an Ollama tool call without a name');
    }
    const id = typeof call.id === 'string' && call.id !== '' ? call.id : undefined;
    return {
      type: 'tool_call',
      id: id ?? generatedCallId(),
      name: fn.name,
      arguments: JSON.stringify(isRecord(fn.arguments) ? fn.arguments : {}),
    };
  });
}

/** `done_reason`: `length` is the token limit; anything else ends the turn, or calls tools. */
export function ollamaStopReason(doneReason: unknown, toolCalls: boolean): StopReason {
  if (doneReason === 'length') return 'max_tokens';
  return toolCalls ? 'tool_use' : 'end_turn';
}

/**
 * Every prompt token is input, every generated one (thinking included) output. Recent Ollama
 * versions also say how many of the prompt tokens came from its KV cache
 * (`prompt_eval_cached_count`, part of `prompt_eval_count`); older ones leave it out. An answer
 * with neither count is marked unreported, so that it is charged its reservation.
 */
export function ollamaUsage(payload: Record<string, unknown>): ChatUsage {
  if (typeof payload.prompt_eval_count !== 'number' && typeof payload.eval_count !== 'number')
    return unreportedUsage();
  const cached = count(payload.prompt_eval_cached_count);
  return {
    inputTokens: count(payload.prompt_eval_count),
    outputTokens: count(payload.eval_count),
    ...(cached > 0 && { cachedTokens: cached }),
  };
}

/**
 * Token counts from a chat answer's final object, or from an embeddings answer, which comes from
 * Ollama's OpenAI-compatible endpoint in OpenAI's format.
 */
export function readOllamaUsage(payload: unknown): Usage | undefined {
  if (
    isRecord(payload) &&
    (typeof payload.prompt_eval_count === 'number' || typeof payload.eval_count === 'number')
  ) {
    return ollamaUsage(payload);
  }
  return readOpenAIUsage(payload);
}
