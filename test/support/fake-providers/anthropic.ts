/**
 * Imitates the Anthropic Messages API: `POST /v1/messages` (whole or as the SSE event sequence
 * message_start … message_stop) and `POST /v1/messages/count_tokens`, with keys in x-api-key or as
 * a bearer token, the required anthropic-version header, Anthropic's error envelope and the
 * request-id / retry-after headers.
 */

import type { ServerResponse } from 'node:http';
import {
  bearer,
  type Exchange,
  type FormatHandler,
  headerValue,
  isJson,
  type Json,
  play,
  randomId,
  refused,
  retryAfter,
  SSE_HEADERS,
  sendJson,
  sseEvent,
} from './http.js';
import { anthropicModelList } from './model-lists.js';
import { pieces, type Script, type ScriptBlock } from './script.js';
import { foreign, played } from './signatures.js';

const ANTHROPIC_ERRORS: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  402: { type: 'billing_error', message: 'There was an issue with billing or payment for your account.' },
  403: {
    type: 'permission_error',
    message: 'Your API key does not have permission to use the specified resource.',
  },
  404: { type: 'not_found_error', message: 'Not found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit.' },
  500: { type: 'api_error', message: 'Internal server error' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

function anthropicError(status: number, message?: string): { type: string; message: string } {
  const known = ANTHROPIC_ERRORS[status] ?? {
    type: status >= 500 ? 'api_error' : 'invalid_request_error',
    message: 'The request failed.',
  };
  return { type: known.type, message: message ?? known.message };
}

const CREDIT_BALANCE_TOO_LOW =
  'Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.';

const anthropicRequestId = (): string => `req_011C${randomId(20)}`;

function sendAnthropicError(
  res: ServerResponse,
  status: number,
  message?: string,
  retryAfterSeconds?: number,
): void {
  const requestId = anthropicRequestId();
  sendJson(
    res,
    status,
    { type: 'error', error: anthropicError(status, message), request_id: requestId },
    { 'request-id': requestId, ...retryAfter(retryAfterSeconds) },
  );
}

async function handleAnthropic(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  // API keys come in x-api-key, or (as the current SDKs send them) as a bearer token.
  const key = headerValue(request.headers, 'x-api-key') ?? bearer(request.headers);
  if (refused(ex.keys, key)) {
    return sendAnthropicError(
      res,
      401,
      key === undefined ? 'x-api-key header is required' : 'invalid x-api-key',
    );
  }
  if (headerValue(request.headers, 'anthropic-version') === undefined) {
    return sendAnthropicError(res, 400, 'anthropic-version: header is required');
  }
  const route = `${request.method} ${url.pathname}`;
  if (route === 'GET /v1/models') return anthropicModelList(res, ex.models, url);
  if (route !== 'POST /v1/messages' && route !== 'POST /v1/messages/count_tokens') {
    return sendAnthropicError(res, 404, 'Not Found');
  }
  if (!body) return sendAnthropicError(res, 400, 'There was an issue with your request body: invalid JSON.');
  const counting = route === 'POST /v1/messages/count_tokens';
  const required = counting ? ['model', 'messages'] : ['model', 'max_tokens', 'messages'];
  const missing = required.find((field) => body[field] === undefined);
  if (missing) return sendAnthropicError(res, 400, `${missing}: Field required`);
  if (typeof body.model === 'string' && ex.forbidden.has(body.model)) return sendAnthropicError(res, 403);
  const invalid =
    foreignThinking(body.messages) ??
    uncalledResult(body.messages) ??
    unconstrainableSchema(body) ??
    samplingWhileThinking(body);
  if (invalid) return sendAnthropicError(res, 400, invalid);
  // An account with no credit left: Anthropic answers a request for a model with this 400, in the
  // words its API uses (the model list and token counting, which cost nothing, still answer).
  if (!counting && key !== undefined && ex.outOfCredit.has(key)) {
    return sendAnthropicError(res, 400, CREDIT_BALANCE_TOO_LOW);
  }

  const script = ex.next();
  for (const block of script.blocks) {
    if (block.type !== 'thinking') continue;
    played('anthropic', block.signature);
    thoughts.set(block.signature, block.text);
  }
  const headers = { 'request-id': anthropicRequestId() };
  const worded = script.fault?.kind === 'status' ? script.fault.message : undefined;
  const fail = (status: number, retryAfterSeconds?: number) =>
    sendAnthropicError(res, status, worded, retryAfterSeconds);
  if (counting) {
    return play(res, script, {
      headers,
      whole: () => ({ input_tokens: script.usage.input }),
      stream: undefined,
      fail,
    });
  }
  const message = {
    id: script.id ?? `msg_01${randomId(22)}`,
    model: script.model ?? body.model,
  };
  await play(res, script, {
    headers,
    whole: () => anthropicMessage(script, message),
    stream:
      body.stream === true
        ? {
            headers: { ...headers, ...SSE_HEADERS },
            frames: (terminal) => anthropicEvents(script, message, terminal),
            errorFrame: (status) => anthropicEvent('error', { type: 'error', error: anthropicError(status) }),
          }
        : undefined,
    fail,
  });
}

export const anthropic: FormatHandler = { basePath: '/v1', handle: handleAnthropic };

/** The thinking this fake signed, by signature: Anthropic refuses a signed block whose text changed. */
const thoughts = new Map<string, string>();

/**
 * Anthropic's words for thinking another provider signed (signatures.ts), or thinking of its own
 * sent back with other text than it signed, or undefined.
 */
function foreignThinking(messages: unknown): string | undefined {
  if (!Array.isArray(messages)) return undefined;
  for (const [i, message] of messages.entries()) {
    const content = isJson(message) && Array.isArray(message.content) ? message.content : [];
    for (const [j, block] of content.entries()) {
      if (!isJson(block)) continue;
      const signed = block.type === 'thinking' ? thoughts.get(String(block.signature)) : undefined;
      if (
        block.type === 'thinking' &&
        (foreign('anthropic', block.signature) || (signed ?? block.thinking) !== block.thinking)
      )
        return `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`;
      if (block.type === 'redacted_thinking' && foreign('anthropic', block.data))
        return `messages.${i}.content.${j}: Invalid \`data\` in \`redacted_thinking\` block`;
    }
  }
  return undefined;
}

/** Anthropic's words for a `tool_result` whose `tool_use` is not in the message before, or undefined. */
function uncalledResult(messages: unknown): string | undefined {
  if (!Array.isArray(messages)) return undefined;
  const blocks = (message: unknown): Json[] =>
    isJson(message) && Array.isArray(message.content) ? message.content.filter(isJson) : [];
  for (const [i, message] of messages.entries()) {
    const called = new Set(i === 0 ? [] : blocks(messages[i - 1]).map((block) => block.id));
    for (const [j, block] of blocks(message).entries())
      if (block.type === 'tool_result' && !called.has(block.tool_use_id))
        return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
  }
  return undefined;
}

/** Anthropic's words for a sampling setting it refuses while the model thinks, or undefined. */
function samplingWhileThinking(body: Json): string | undefined {
  if (!isJson(body.thinking) || body.thinking.type !== 'enabled') return undefined;
  if (body.temperature !== undefined && body.temperature !== 1)
    return '`temperature` may only be set to 1 when thinking is enabled.';
  if (body.top_k !== undefined) return '`top_k` is not supported when thinking is enabled.';
  if (typeof body.top_p === 'number' && body.top_p < 0.95)
    return '`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled.';
  return undefined;
}

/** Keywords Anthropic's constrained decoding refuses, by the types they belong to. */
const REFUSED_KEYWORDS: Record<string, string[]> = {
  integer: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  string: ['minLength', 'maxLength'],
  array: ['maxItems', 'uniqueItems'],
};
const STRING_FORMATS = new Set([
  'date-time',
  'time',
  'date',
  'duration',
  'email',
  'hostname',
  'uri',
  'ipv4',
  'ipv6',
  'uuid',
]);

/**
 * Anthropic's words for a structured output's schema (`output_config.format`) or a strict tool's
 * that its constrained decoding cannot take (an open object, numeric or length bounds, a string
 * format or `minItems` it lacks), or undefined.
 */
function unconstrainableSchema(body: Json): string | undefined {
  const format = isJson(body.output_config) ? body.output_config.format : undefined;
  if (isJson(format) && format.type === 'json_schema') {
    const refused = schemaFault(format.schema);
    if (refused) return `output_config.format.schema: ${refused}`;
  }
  const tools = Array.isArray(body.tools) ? body.tools : [];
  for (const [i, tool] of tools.entries()) {
    const refused = isJson(tool) && tool.strict === true ? schemaFault(tool.input_schema) : undefined;
    if (refused) return `tools.${i}.custom.input_schema: ${refused}`;
  }
  return undefined;
}

function schemaFault(schema: unknown): string | undefined {
  for (const node of schemaNodes(schema)) {
    const types = Array.isArray(node.type) ? node.type : [node.type];
    for (const type of types) {
      if (type === 'object' && node.additionalProperties !== false)
        return "For 'object' type, 'additionalProperties' must be explicitly set to false";
      const keyword = (REFUSED_KEYWORDS[String(type)] ?? []).find((key) => node[key] !== undefined);
      if (keyword) return `For '${String(type)}' type, property '${keyword}' is not supported`;
      if (type === 'string' && typeof node.format === 'string' && !STRING_FORMATS.has(node.format))
        return `For 'string' type, format '${node.format}' is not supported`;
      if (type === 'array' && node.minItems !== undefined && node.minItems !== 0 && node.minItems !== 1)
        return "For 'array' type, 'minItems' values other than 0 or 1 are not supported";
    }
  }
  return undefined;
}

/** Every schema inside `schema` (its properties, definitions, variants and items), itself first. */
export function schemaNodes(schema: unknown): Json[] {
  if (!isJson(schema)) return [];
  const children = [
    ...Object.values(isJson(schema.properties) ? schema.properties : {}),
    ...Object.values(isJson(schema.$defs) ? schema.$defs : {}),
    ...Object.values(isJson(schema.definitions) ? schema.definitions : {}),
    ...(Array.isArray(schema.anyOf) ? schema.anyOf : []),
    ...(Array.isArray(schema.allOf) ? schema.allOf : []),
    schema.items,
  ];
  return [schema, ...children.flatMap(schemaNodes)];
}

// ---------------------------------------------------------------------------------------------
// Rendering a script

const ANTHROPIC_STOP: Record<Script['stop'], string> = {
  end: 'end_turn',
  max_tokens: 'max_tokens',
  tool_use: 'tool_use',
  stop_sequence: 'stop_sequence',
  refusal: 'refusal',
};

/** Anthropic's input_tokens leaves out cache reads and writes, which have their own counts. */
function anthropicUsage(script: Script, outputTokens: number): Json {
  const cached = script.usage.cached ?? 0;
  const written = script.usage.cacheWrite ?? 0;
  const hour = script.usage.cacheWrite1h ?? 0;
  return {
    input_tokens: script.usage.input - cached - written,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
    cache_creation: { ephemeral_5m_input_tokens: written - hour, ephemeral_1h_input_tokens: hour },
    output_tokens: outputTokens,
    service_tier: 'standard',
    ...searchUsage(script),
  };
}

/** The server tools' counts, as Anthropic reports them once its web search tool ran. */
function searchUsage(script: Script): Json {
  const searches = script.usage.webSearches;
  return searches === undefined
    ? {}
    : { server_tool_use: { web_search_requests: searches, web_fetch_requests: 0 } };
}

function anthropicBlock(block: ScriptBlock): Json {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text };
    case 'thinking':
      return { type: 'thinking', thinking: block.text, signature: block.signature };
    case 'tool_call':
      return { type: 'tool_use', id: block.id, name: block.name, input: block.arguments };
  }
}

function anthropicMessage(script: Script, message: { id: string; model: unknown }): Json {
  return {
    id: message.id,
    type: 'message',
    role: 'assistant',
    model: message.model,
    content: script.blocks.map(anthropicBlock),
    stop_reason: ANTHROPIC_STOP[script.stop],
    stop_sequence: script.stop === 'stop_sequence' ? (script.stopSequence ?? null) : null,
    ...(!script.countsOmitted && { usage: anthropicUsage(script, script.usage.output) }),
  };
}

const anthropicEvent = (type: string, payload: unknown): string => sseEvent(payload, { event: type });

function anthropicEvents(
  script: Script,
  message: { id: string; model: unknown },
  terminal: boolean,
): string[] {
  const events = [
    anthropicEvent('message_start', {
      type: 'message_start',
      message: {
        ...anthropicMessage(script, message),
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // The real API reports a token or so of output at the start and the total at the end, and
        // no search yet.
        ...(!script.countsOmitted && {
          usage: anthropicUsage(
            { ...script, usage: { ...script.usage, webSearches: script.usage.webSearches && 0 } },
            1,
          ),
        }),
      },
    }),
    anthropicEvent('ping', { type: 'ping' }),
  ];
  script.blocks.forEach((block, index) => {
    const delta = (payload: Json) =>
      anthropicEvent('content_block_delta', { type: 'content_block_delta', index, delta: payload });
    const start = { ...anthropicBlock(block) };
    if (block.type === 'text') start.text = '';
    if (block.type === 'thinking') Object.assign(start, { thinking: '', signature: '' });
    if (block.type === 'tool_call') start.input = {};
    events.push(
      anthropicEvent('content_block_start', { type: 'content_block_start', index, content_block: start }),
    );
    if (block.type === 'text') {
      for (const piece of pieces(block.text, script)) events.push(delta({ type: 'text_delta', text: piece }));
    } else if (block.type === 'thinking') {
      for (const piece of pieces(block.text, script))
        events.push(delta({ type: 'thinking_delta', thinking: piece }));
      events.push(delta({ type: 'signature_delta', signature: block.signature }));
    } else {
      // The real API opens every tool_use block with an empty partial_json.
      events.push(delta({ type: 'input_json_delta', partial_json: '' }));
      for (const piece of pieces(JSON.stringify(block.arguments), script)) {
        events.push(delta({ type: 'input_json_delta', partial_json: piece }));
      }
    }
    events.push(anthropicEvent('content_block_stop', { type: 'content_block_stop', index }));
  });
  const final = anthropicMessage(script, message);
  events.push(
    anthropicEvent('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: final.stop_reason, stop_sequence: final.stop_sequence },
      ...(!script.countsOmitted && { usage: { output_tokens: script.usage.output, ...searchUsage(script) } }),
    }),
  );
  if (terminal) events.push(anthropicEvent('message_stop', { type: 'message_stop' }));
  return events;
}
