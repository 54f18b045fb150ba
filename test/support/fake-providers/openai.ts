/**
 * Imitates the OpenAI API: Chat Completions (`POST /v1/chat/completions`, whole or SSE with
 * `data: [DONE]`) and Embeddings (`POST /v1/embeddings`), with bearer-token keys, OpenAI's error
 * envelope and x-request-id / retry-after headers. The embeddings answer is shared with Ollama's
 * OpenAI-compatible endpoint.
 */

import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import {
  bearer,
  type Exchange,
  type FormatHandler,
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
import { openAIModelList } from './model-lists.js';
import { pieces, type Script, textOf, thinkingOf, toolCallsOf } from './script.js';

const OPENAI_ERRORS: Record<number, { message: string; type: string; code: string | null }> = {
  400: { message: 'Invalid request.', type: 'invalid_request_error', code: null },
  401: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' },
  403: {
    message: 'You are not allowed to sample from this model.',
    type: 'invalid_request_error',
    code: null,
  },
  404: { message: 'The model does not exist.', type: 'invalid_request_error', code: 'model_not_found' },
  429: { message: 'Rate limit reached for requests.', type: 'requests', code: 'rate_limit_exceeded' },
  500: {
    message: 'The server had an error while processing your request.',
    type: 'server_error',
    code: null,
  },
  503: { message: 'The engine is currently overloaded.', type: 'server_error', code: null },
};

function openAIErrorBody(
  status: number,
  message?: string,
  param: string | null = null,
  code?: string | null,
): Json {
  const known = OPENAI_ERRORS[status] ?? {
    message: 'The request failed.',
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
  };
  return {
    error: {
      message: message ?? known.message,
      // OpenAI's 429 for an account out of credit names its own type, not the rate limit's.
      type: code === 'insufficient_quota' ? code : known.type,
      param,
      code: code === undefined ? known.code : code,
    },
  };
}

function openAIHeaders(): OutgoingHttpHeaders {
  return { 'x-request-id': `req_${randomBytes(16).toString('hex')}` };
}

function sendOpenAIError(
  res: ServerResponse,
  status: number,
  retryAfterSeconds?: number,
  worded?: { message?: string; code?: string; param?: string },
): void {
  sendJson(res, status, openAIErrorBody(status, worded?.message, worded?.param ?? null, worded?.code), {
    ...openAIHeaders(),
    ...retryAfter(retryAfterSeconds),
  });
}

async function handleOpenAI(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  const key = bearer(request.headers);
  if (refused(ex.keys, key)) {
    const message = key === undefined ? "You didn't provide an API key." : 'Incorrect API key provided.';
    return sendJson(
      res,
      401,
      openAIErrorBody(401, message, null, key === undefined ? null : 'invalid_api_key'),
    );
  }
  const route = `${request.method} ${url.pathname}`;
  if (route === 'POST /v1/embeddings') return embeddings(res, body);
  if (route === 'GET /v1/models') return openAIModelList(res, ex.models);
  if (route !== 'POST /v1/chat/completions') {
    return sendJson(res, 404, openAIErrorBody(404, `Invalid URL (${route})`, null, null));
  }
  if (!body)
    return sendJson(res, 400, openAIErrorBody(400, 'We could not parse the JSON body of your request.'));
  if (typeof body.model !== 'string') {
    return sendJson(res, 400, openAIErrorBody(400, 'you must provide a model parameter'));
  }
  if (ex.forbidden.has(body.model)) {
    const message = `Project \`proj_fake0000\` does not have access to model \`${body.model}\``;
    return sendJson(res, 403, openAIErrorBody(403, message, null, 'model_not_found'), openAIHeaders());
  }
  if (!Array.isArray(body.messages)) {
    const message = "Missing required parameter: 'messages'.";
    return sendJson(res, 400, openAIErrorBody(400, message, 'messages', 'missing_required_parameter'));
  }
  const sampling = untakenTemperature(body);
  if (sampling)
    return sendJson(
      res,
      400,
      openAIErrorBody(400, sampling, 'temperature', 'unsupported_value'),
      openAIHeaders(),
    );
  const unstrict = strictSchemaFault(body);
  if (unstrict)
    return sendJson(
      res,
      400,
      openAIErrorBody(400, unstrict.message, unstrict.param, unstrict.code),
      openAIHeaders(),
    );
  const unanswered = toolOrder(body.messages);
  if (unanswered)
    return sendJson(res, 400, openAIErrorBody(400, unanswered.message, unanswered.param), openAIHeaders());
  const script = ex.next();
  const headers = openAIHeaders();
  const answer = {
    id: script.id ?? `chatcmpl-${randomId(29)}`,
    created: Math.floor(Date.now() / 1000),
    model: script.model ?? body.model,
    service_tier: 'default',
    system_fingerprint: 'fp_f4ke0001',
  };
  const streamOptions = isJson(body.stream_options) ? body.stream_options : {};
  await play(res, script, {
    headers,
    whole: () => openAICompletion(script, answer),
    stream:
      body.stream === true
        ? {
            headers: { ...headers, ...SSE_HEADERS },
            frames: (terminal) =>
              openAIChunks(script, answer, streamOptions.include_usage === true, terminal),
            errorFrame: (status, worded) =>
              sseEvent(openAIErrorBody(status, worded?.message, worded?.param ?? null, worded?.code)),
          }
        : undefined,
    fail: (status, retryAfterSeconds) =>
      sendOpenAIError(
        res,
        status,
        retryAfterSeconds,
        script.fault?.kind === 'status' ? script.fault : undefined,
      ),
  });
}

/**
 * OpenAI's words for a temperature its reasoning models refuse (the o-series and gpt-5 on, but
 * the `-chat` models), or undefined: any but 1, their default, unless gpt-5.1 or later reasons
 * not at all (`reasoning_effort: none`).
 */
function untakenTemperature(body: Json): string | undefined {
  const { model, temperature } = body;
  if (typeof model !== 'string' || !/^(o\d|gpt-5)/.test(model) || model.includes('-chat')) return undefined;
  if (temperature === undefined || temperature === null || temperature === 1) return undefined;
  if (/^gpt-5\.\d/.test(model) && body.reasoning_effort === 'none') return undefined;
  return `Unsupported value: 'temperature' does not support ${String(temperature)} with this model. Only the default (1) value is supported.`;
}

/**
 * OpenAI's check of a tool loop: an assistant message's tool calls are answered by the tool
 * messages right after it, one per call, and a tool message answers only such a call.
 */
function toolOrder(messages: unknown[]): { message: string; param: string } | undefined {
  let waiting: string[] = [];
  let caller = 0;
  for (const [i, message] of messages.entries()) {
    if (!isJson(message)) continue;
    if (message.role === 'tool') {
      const at = waiting.indexOf(String(message.tool_call_id));
      if (at === -1)
        return {
          message:
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          param: `messages.[${i}].role`,
        };
      waiting.splice(at, 1);
      continue;
    }
    if (waiting.length > 0)
      return {
        message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${waiting.join(', ')}`,
        param: `messages.[${caller}].role`,
      };
    const calls = message.role === 'assistant' && Array.isArray(message.tool_calls) ? message.tool_calls : [];
    waiting = calls.flatMap((call) => (isJson(call) ? [String(call.id)] : []));
    caller = i;
  }
  return undefined;
}

/** Keywords OpenAI's strict mode refuses ("'uniqueItems' is not permitted"). */
const NOT_PERMITTED = [
  'allOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'patternProperties',
  'propertyNames',
  'minProperties',
  'maxProperties',
  'uniqueItems',
  'contains',
  'default',
];

/**
 * OpenAI's refusal of a strict response format's or function's schema outside its strict subset:
 * an object not closed or with a property not required, or a keyword it lacks.
 */
function strictSchemaFault(body: Json): { message: string; param: string; code: string } | undefined {
  const format = isJson(body.response_format) ? body.response_format.json_schema : undefined;
  if (isJson(format) && format.strict === true) {
    const fault = strictFault(format.schema, []);
    if (fault)
      return {
        message: `Invalid schema for response_format '${String(format.name)}': ${fault}`,
        param: 'response_format',
        code: 'invalid_json_schema',
      };
  }
  const tools = Array.isArray(body.tools) ? body.tools : [];
  for (const [i, tool] of tools.entries()) {
    const fn = isJson(tool) && isJson(tool.function) ? tool.function : undefined;
    const fault = fn?.strict === true ? strictFault(fn.parameters, []) : undefined;
    if (fault)
      return {
        message: `Invalid schema for function '${String(fn!.name)}': ${fault}`,
        param: `tools[${i}].function.parameters`,
        code: 'invalid_function_parameters',
      };
  }
  return undefined;
}

function strictFault(schema: unknown, context: string[]): string | undefined {
  if (!isJson(schema)) return undefined;
  const where = `In context=(${context.map((step) => `'${step}'`).join(', ')}${context.length === 1 ? ',' : ''})`;
  const keyword = NOT_PERMITTED.find((key) => schema[key] !== undefined);
  if (keyword) return `${where}, '${keyword}' is not permitted.`;
  const properties = isJson(schema.properties) ? schema.properties : undefined;
  if ([schema.type].flat().includes('object') || properties) {
    if (schema.additionalProperties !== false)
      return `${where}, 'additionalProperties' is required to be supplied and to be false.`;
    const required = Array.isArray(schema.required) ? schema.required : undefined;
    const missing = Object.keys(properties ?? {}).find((name) => !required?.includes(name));
    if (missing !== undefined)
      return `${where}, 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing}'.`;
  }
  const children: Array<[string[], unknown]> = [
    ...['properties', '$defs', 'definitions'].flatMap((key) =>
      Object.entries(isJson(schema[key]) ? schema[key] : {}).map(([name, child]): [string[], unknown] => [
        [...context, key, name],
        child,
      ]),
    ),
    ...(Array.isArray(schema.anyOf) ? schema.anyOf : []).map((child, i): [string[], unknown] => [
      [...context, 'anyOf', String(i)],
      child,
    ]),
    [[...context, 'items'], schema.items],
  ];
  for (const [at, child] of children) {
    const fault = strictFault(child, at);
    if (fault) return fault;
  }
  return undefined;
}

export const openai: FormatHandler = { basePath: '/v1', handle: handleOpenAI };

// ---------------------------------------------------------------------------------------------
// Embeddings

/** The same small vector for every input, exact in float32 so that base64 round-trips. */
const EMBEDDING = [0.125, -0.25, 0.5, 1];

function embeddingsBody(body: Json, model: string): Json {
  const input = body.input;
  const inputs: unknown[] =
    Array.isArray(input) && input.length > 0 && typeof input[0] !== 'number' ? input : [input];
  const tokens = inputs.reduce<number>(
    (sum, item) =>
      sum + (Array.isArray(item) ? item.length : Math.max(1, Math.ceil(String(item).length / 4))),
    0,
  );
  const base64 = body.encoding_format === 'base64';
  return {
    object: 'list',
    data: inputs.map((_, index) => ({
      object: 'embedding',
      index,
      embedding: base64 ? Buffer.from(new Float32Array(EMBEDDING).buffer).toString('base64') : [...EMBEDDING],
    })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

/** `POST /v1/embeddings`; Ollama's OpenAI-compatible endpoint answers exactly like OpenAI. */
export function embeddings(res: ServerResponse, body: Json | undefined): void {
  if (!body || body.input === undefined) {
    sendJson(res, 400, openAIErrorBody(400, "'input' is a required property", 'input'));
  } else {
    sendJson(res, 200, embeddingsBody(body, String(body.model ?? '')));
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering a script

interface OpenAIAnswer {
  id: string;
  created: number;
  model: unknown;
  service_tier: string;
  system_fingerprint: string;
}

const OPENAI_FINISH: Record<Script['stop'], string> = {
  end: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  stop_sequence: 'stop',
  refusal: 'content_filter',
};

function openAIUsage(script: Script): Json {
  const { input, output, cached = 0, audio = 0, audioOutput = 0, reasoning = 0 } = script.usage;
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: input + output,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: audio },
    completion_tokens_details: {
      reasoning_tokens: reasoning,
      audio_tokens: audioOutput,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function openAICompletion(script: Script, answer: OpenAIAnswer): Json {
  const text = textOf(script);
  const reasoning = thinkingOf(script);
  const calls = toolCallsOf(script);
  const message = {
    role: 'assistant',
    content: text || (calls.length > 0 || script.refusal !== undefined ? null : ''),
    // Thinking goes where OpenAI-compatible reasoning servers (vLLM, DeepSeek) put it.
    ...(reasoning && { reasoning_content: reasoning }),
    ...(calls.length > 0 && {
      tool_calls: calls.map((call) =>
        call.custom !== undefined
          ? { id: call.id, type: 'custom', custom: { name: call.name, input: call.custom } }
          : {
              id: call.id,
              type: 'function',
              function: { name: call.name, arguments: JSON.stringify(call.arguments) },
            },
      ),
    }),
    refusal: script.refusal ?? null,
    annotations: [],
  };
  const { id, created, model, service_tier, system_fingerprint } = answer;
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: OPENAI_FINISH[script.stop] }],
    usage: openAIUsage(script),
    service_tier,
    system_fingerprint,
  };
}

function openAIChunks(
  script: Script,
  answer: OpenAIAnswer,
  includeUsage: boolean,
  terminal: boolean,
): string[] {
  const base = { ...answer, object: 'chat.completion.chunk' };
  // As OpenAI does: with include_usage, every chunk carries `usage: null` until the usage chunk.
  const chunk = (delta: Json, finish: string | null = null): Json => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage && { usage: null }),
  });
  const chunks = [chunk({ role: 'assistant', content: '', refusal: null })];
  let toolIndex = 0;
  for (const block of script.blocks) {
    if (block.type === 'text') {
      for (const piece of pieces(block.text, script)) chunks.push(chunk({ content: piece }));
    } else if (block.type === 'thinking') {
      for (const piece of pieces(block.text, script)) chunks.push(chunk({ reasoning_content: piece }));
    } else if (block.custom !== undefined) {
      // As reported of OpenAI (openai/openai-openapi#576): the call's shape, its input in pieces.
      const index = toolIndex++;
      const [first = '', ...rest] = pieces(block.custom, script);
      chunks.push(
        chunk({
          tool_calls: [{ index, id: block.id, type: 'custom', custom: { name: block.name, input: first } }],
        }),
      );
      for (const piece of rest) chunks.push(chunk({ tool_calls: [{ index, custom: { input: piece } }] }));
    } else {
      const index = toolIndex++;
      chunks.push(
        chunk({
          tool_calls: [
            { index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } },
          ],
        }),
      );
      for (const piece of pieces(JSON.stringify(block.arguments), script)) {
        chunks.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
      }
    }
  }
  for (const piece of script.refusal === undefined ? [] : pieces(script.refusal, script))
    chunks.push(chunk({ refusal: piece }));
  chunks.push(chunk({}, OPENAI_FINISH[script.stop]));
  if (includeUsage) chunks.push({ ...base, choices: [], usage: openAIUsage(script) });
  const frames = chunks.map((payload) => sseEvent(payload));
  if (terminal) frames.push('data: [DONE]\n\n');
  return frames;
}
