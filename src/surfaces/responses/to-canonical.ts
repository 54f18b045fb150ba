import { customToolDefinition } from '../../canonical/custom-tools.js';
import { fileReference } from '../../canonical/file-reference.js';
import {
  type AssistantPart,
  asAudioVideo,
  type CacheBreakpoint,
  type ChatRequest,
  type DocumentPart,
  type ImagePart,
  type MediaSource,
  type Message,
  type OpenAIOptions,
  type ResponseFormat,
  type TextPart,
  type ToolChoice,
  type ToolDefinition,
  UnsupportedFeature,
  type UserPart,
} from '../../canonical/model.js';
import { badRequest } from '../../errors/gateway-error.js';
import { allowedToolsChoice } from '../allowed-tools.js';
import { parseDataUrl } from '../openai/canonical.js';
import { traced, tracedAll } from '../part-origins.js';
import { LOGPROBS_INCLUDE, showsLogprobs } from './from-canonical.js';
import type { InputContent, Item, OutputContent } from './items.js';
import { decodeReasoning, rawReasoningSigner } from './reasoning-envelope.js';
import type { AllowedToolsChoice, CustomTool, ResponsesRequest } from './schema.js';

/**
 * A Responses request, with the history Keyward replays in front of it, as a canonical chat
 * request. Items become canonical turns: system and developer messages join the system prompt,
 * consecutive assistant items (reasoning, messages, function calls) one assistant turn, and
 * function call outputs with user messages one user turn, as the providers that carry tool
 * results inside user turns need.
 */

const notSupported = (what: string): string => `The model's provider does not support ${what}`;
const DATA_URL_FORM = 'data:<media type>;base64,<data>';
const text = (value: string): TextPart => ({ type: 'text', text: value });

/** Where an item came from, for errors: `input[3]`, or the earlier turn it was replayed from. */
export type ItemOrigin = (index: number) => string;

export function requestToCanonical(
  body: ResponsesRequest,
  items: readonly Item[],
  origin: ItemOrigin,
): ChatRequest {
  const { system, messages } = itemsToMessages(items, origin);
  if (body.instructions) system.unshift(text(body.instructions));
  const tools = convertTools(body.tools);
  const toolChoice = convertToolChoice(body.tool_choice, tools);
  const responseFormat = convertFormat(body.text?.format);
  const effort = body.reasoning?.effort;
  const user = body.safety_identifier ?? body.user;
  const openai = openAIOptions(body);
  return {
    model: body.model,
    system,
    messages,
    ...(tools.length > 0 && { tools }),
    ...(toolChoice && { toolChoice }),
    ...(body.parallel_tool_calls != null && { parallelToolCalls: body.parallel_tool_calls }),
    ...(body.max_output_tokens != null && { maxTokens: body.max_output_tokens }),
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.top_p != null && { topP: body.top_p }),
    ...(responseFormat && { responseFormat }),
    ...(effort != null && { thinking: { enabled: effort !== 'none', effort } }),
    ...(user !== undefined && { user }),
    ...(openai && { openai }),
    ...(asksLogprobs(body) && { logprobs: { top: body.top_logprobs ?? 0 } }),
    stream: body.stream === true,
  };
}

/**
 * Whether log probabilities are asked of the provider: shown, or `top_logprobs` asked for without
 * `include`, which OpenAI answers with none. Either way a provider that gives none refuses it,
 * rather than quietly answering a request that meant to read them.
 */
const asksLogprobs = (body: ResponsesRequest): boolean => showsLogprobs(body) || (body.top_logprobs ?? 0) > 0;

/** The field a provider's refusal of log probabilities names: the `include` value, else `top_logprobs`. */
export function logprobsParam(body: ResponsesRequest): string {
  const at = body.include?.indexOf(LOGPROBS_INCLUDE) ?? -1;
  return at >= 0 ? `include[${at}]` : 'top_logprobs';
}

/**
 * The service tiers sent on: all but `ultrafast`, which is refused before this. `priority` and
 * `fast` reach OpenAI-format providers only (the only ones sent these options), which bill them
 * at a multiple of the model's rates: the binding's `asksFast` has them priced as such.
 */
const CARRIED_TIERS = ['auto', 'default', 'flex', 'scale', 'priority', 'fast'] as const;
type CarriedTier = (typeof CARRIED_TIERS)[number];
const carried = (tier: ResponsesRequest['service_tier']): tier is CarriedTier =>
  (CARRIED_TIERS as readonly unknown[]).includes(tier);

/** What only OpenAI's formats take, for OpenAI-format providers. */
function openAIOptions(body: ResponsesRequest): OpenAIOptions | undefined {
  const tier = body.service_tier;
  const options: OpenAIOptions = {
    ...(body.text?.verbosity != null && { verbosity: body.text.verbosity }),
    ...(carried(tier) && { serviceTier: tier }),
    ...(body.prompt_cache_key != null && { promptCacheKey: body.prompt_cache_key }),
    ...(body.prompt_cache_retention != null && { promptCacheRetention: body.prompt_cache_retention }),
    ...(body.prompt_cache_options !== undefined && { promptCacheOptions: body.prompt_cache_options }),
    ...(body.safety_identifier != null && { safetyIdentifier: body.safety_identifier }),
    ...(body.user !== undefined && { user: body.user }),
  };
  return Object.keys(options).length > 0 ? options : undefined;
}

export function itemsToMessages(
  items: readonly Item[],
  origin: ItemOrigin,
): { system: TextPart[]; messages: Message[] } {
  const system: TextPart[] = [];
  const messages: Message[] = [];
  const toolNames = new Map<string, string>();
  const turn = (role: 'user' | 'assistant') => {
    const last = messages.at(-1);
    if (last?.role === role) return last.content as Array<UserPart | AssistantPart>;
    const fresh = { role, content: [] } as Message;
    messages.push(fresh);
    return fresh.content as Array<UserPart | AssistantPart>;
  };
  /** Parts added to the turn of `role`, each traced to the item it came from (`clientParam`). */
  const add = (role: 'user' | 'assistant', origin: string, ...parts: Array<UserPart | AssistantPart>) =>
    turn(role).push(...tracedAll(parts, origin));
  items.forEach((item, i) => {
    const at = origin(i);
    switch (item.type) {
      case 'message':
        if (item.role === 'system' || item.role === 'developer')
          system.push(...systemParts(item.content, at));
        else if (item.role === 'assistant') add('assistant', at, ...assistantText(item.content));
        else
          turn('user').push(
            ...item.content.map((part, j) =>
              traced(userPart(part, `${at}.content[${j}]`), `${at}.content[${j}]`),
            ),
          );
        break;
      case 'function_call':
        toolNames.set(item.call_id, item.name);
        add('assistant', at, {
          type: 'tool_call',
          id: item.call_id,
          name: item.name,
          arguments: item.arguments,
        });
        break;
      case 'custom_tool_call':
        toolNames.set(item.call_id, item.name);
        add('assistant', at, {
          type: 'tool_call',
          id: item.call_id,
          name: item.name,
          arguments: item.input,
          custom: true,
        });
        break;
      case 'function_call_output':
      case 'custom_tool_call_output':
        add('user', at, {
          type: 'tool_result',
          toolCallId: item.call_id,
          ...(toolNames.has(item.call_id) && { name: toolNames.get(item.call_id) }),
          content:
            typeof item.output === 'string'
              ? [text(item.output)]
              : item.output.map((part, j) => resultPart(part, `${at}.output[${j}]`)),
        });
        break;
      case 'reasoning': {
        const sealed = item.encrypted_content
          ? decodeReasoning(item.encrypted_content, `${at}.encrypted_content`)
          : undefined;
        if (sealed) {
          add('assistant', at, sealed);
          break;
        }
        const thought = (item.content ?? item.summary).map((part) => part.text).join('');
        const signature = item.encrypted_content ?? undefined;
        const signedBy = signature ? rawReasoningSigner(signature) : undefined;
        const signer = signedBy !== undefined ? { signedBy } : {};
        if (thought)
          add('assistant', at, {
            type: 'thinking',
            text: thought,
            ...(signature && { signature }),
            ...signer,
          });
        else if (signature) add('assistant', at, { type: 'redacted_thinking', data: signature, ...signer });
        break;
      }
    }
  });
  return { system, messages };
}

/** Traced, so that a provider's refusal of a part (its cache breakpoint) names the client's. */
function systemParts(content: ReadonlyArray<InputContent | OutputContent>, at: string): TextPart[] {
  return content.map((part, j) => {
    if (part.type === 'input_text') return traced(marked(text(part.text), part), `${at}.content[${j}]`);
    if (part.type === 'output_text') return text(part.text);
    throw new UnsupportedFeature('System and developer messages take text only', `${at}.content[${j}]`);
  });
}

/** A part with the explicit prompt-cache breakpoint its input content holds. */
const marked = <T extends CacheBreakpoint>(made: T, part: InputContent): T =>
  part.prompt_cache_breakpoint ? { ...made, cacheBreakpoint: true } : made;

function assistantText(content: ReadonlyArray<InputContent | OutputContent>): AssistantPart[] {
  return content.flatMap((part) => {
    if (part.type === 'output_text' || part.type === 'input_text') return [text(part.text)];
    if (part.type === 'refusal') return [text(part.refusal)];
    return [];
  });
}

function userPart(part: InputContent | OutputContent, param: string): UserPart {
  if (part.type === 'output_text' || part.type === 'refusal')
    throw badRequest(`'${part.type}' content belongs to assistant messages`, {
      param,
      code: 'invalid_value',
    });
  const made = resultPart(part, param);
  // A file of audio or video (a Gemini client's, stored with its type) goes as what it is.
  return made.type === 'document' ? asAudioVideo(made) : made;
}

function resultPart(part: InputContent, param: string): TextPart | ImagePart | DocumentPart {
  return marked(contentPart(part, param), part);
}

function contentPart(part: InputContent, param: string): TextPart | ImagePart | DocumentPart {
  switch (part.type) {
    case 'input_text':
      return text(part.text);
    case 'input_image': {
      const source = part.file_id
        ? fileReference(part.file_id, 'openai')
        : mediaSource(part.image_url ?? '', `${param}.image_url`, 'image_url');
      return {
        type: 'image',
        source: typed(source, part.mime_type),
        detail: part.detail === 'original' ? 'high' : part.detail,
      };
    }
    case 'input_file': {
      const given = [part.file_data, part.file_id, part.file_url].filter((value) => value != null);
      if (given.length !== 1)
        throw badRequest('An input_file needs exactly one of file_data, file_id and file_url', {
          param,
          code: 'invalid_value',
        });
      const source: MediaSource = part.file_id
        ? fileReference(part.file_id, 'openai')
        : part.file_url
          ? mediaSource(part.file_url, `${param}.file_url`, 'file_url')
          : mediaSource(part.file_data!, `${param}.file_data`, 'file_data');
      return {
        type: 'document',
        source: typed(source, part.mime_type),
        ...(part.filename !== undefined && { filename: part.filename }),
      };
    }
  }
}

/** A URL or file reference with the type its item states (`mime_type`); a data URL says its own. */
function typed(source: MediaSource, mediaType: string | undefined): MediaSource {
  return mediaType === undefined || source.kind === 'base64' ? source : { ...source, mediaType };
}

/** A URL is passed on as a URL, for providers that fetch it themselves: the gateway never does. */
function mediaSource(url: string, param: string, field: string): MediaSource {
  if (/^https?:\/\//i.test(url)) return { kind: 'url', url };
  const source = parseDataUrl(url);
  if (!source)
    throw badRequest(`${field} must be an http(s) URL or a base64 data URL (${DATA_URL_FORM})`, {
      param,
      code: 'invalid_value',
    });
  return source;
}

/** Tools the gateway cannot run itself and no canonical provider offers. */
function convertTools(tools: ResponsesRequest['tools']): ToolDefinition[] {
  return (tools ?? []).map((tool, i) => {
    if (tool.type === 'custom' && 'name' in tool) {
      const custom = tool as CustomTool;
      return customToolDefinition(custom.name, custom.description, custom.format);
    }
    if (tool.type !== 'function' || !('name' in tool))
      throw new UnsupportedFeature(
        `The hosted tool '${tool.type}' is not available for this model: only function and custom tools are`,
        `tools[${i}]`,
      );
    const fn = tool as Extract<typeof tool, { name: string }>;
    return traced(
      {
        name: fn.name,
        ...(fn.description != null && { description: fn.description }),
        parameters: fn.parameters
          ? traced(fn.parameters, `tools[${i}].parameters`)
          : { type: 'object', properties: {} },
        // Without strict, OpenAI makes the function strict where it can (its function calling guide).
        ...(fn.strict == null ? { constrained: true } : { strict: fn.strict }),
      },
      `tools[${i}]`,
    );
  });
}

/** A custom tool is named as a function is: the encoder knows which of its tools are custom. */
function convertToolChoice(
  choice: ResponsesRequest['tool_choice'],
  tools: readonly ToolDefinition[],
): ToolChoice | undefined {
  if (choice === undefined) return undefined;
  if (typeof choice === 'string') return { type: choice };
  if ((choice.type === 'function' || choice.type === 'custom') && typeof choice.name === 'string')
    return { type: 'tool', name: choice.name };
  if (choice.type === 'allowed_tools') {
    // The schema takes `allowed_tools` only in its own shape.
    const { mode, tools: allowed } = choice as AllowedToolsChoice;
    return allowedToolsChoice(
      mode,
      allowed.map((tool, i) => ({
        // A hosted tool names no function.
        name:
          (tool.type === 'function' || tool.type === 'custom') && typeof tool.name === 'string'
            ? tool.name
            : undefined,
        param: `tool_choice.tools[${i}]`,
      })),
      tools,
      'tool_choice.tools',
    );
  }
  throw new UnsupportedFeature(notSupported(`the tool choice '${choice.type}'`), 'tool_choice');
}

function convertFormat(format: NonNullable<ResponsesRequest['text']>['format']): ResponseFormat | undefined {
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  return {
    type: 'json_schema',
    name: format.name,
    schema: traced(format.schema, 'text.format.schema'),
    ...(format.strict != null && { strict: format.strict }),
    ...(format.description !== undefined && { description: format.description }),
  };
}
