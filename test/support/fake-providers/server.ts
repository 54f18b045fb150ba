import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  pieces,
  type Script,
  type ScriptBlock,
  type ToolCallBlock,
  textOf,
  thinkingOf,
  toolCallsOf,
} from './script.js';

/**
 * Fake AI providers: real HTTP servers on loopback that speak the OpenAI, Anthropic, Gemini and
 * Ollama wire formats as the real services do (credentials, status codes, error envelopes, SSE and
 * NDJSON framing, event sequences, usage), playing scripted answers and failures.
 */

export type FakeFormat = 'openai' | 'anthropic' | 'gemini' | 'ollama';

export interface RecordedRequest {
  method: string;
  /** The request target as sent: path and query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  body: unknown;
  raw: string;
}

export type ScriptSource = Script | ((request: RecordedRequest) => Script);

export interface FakeProvider {
  /** The origin, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** What a client or gateway configuration uses as the provider's base URL. */
  baseUrl: string;
  /** Every request received, rejected ones included. */
  requests: RecordedRequest[];
  /** The next answers, in order; the last one repeats. A function gets the parsed request. */
  script(...scripts: ScriptSource[]): void;
  close(): Promise<void>;
}

export interface FakeProviderOptions {
  /** The keys the fake accepts; without them any credential (or none) is accepted. */
  keys?: string[];
}

type Json = Record<string, unknown>;

/** One request, as a format's handler sees it. */
interface Exchange {
  request: RecordedRequest;
  url: URL;
  /** The body when it is a JSON object. */
  body: Json | undefined;
  res: ServerResponse;
  keys: ReadonlySet<string> | undefined;
  /** The script for this request; taking it consumes it from the queue. */
  next(): Script;
}

/** What a fake answers before any test scripted it. */
const DEFAULT_SCRIPT: Script = {
  blocks: [{ type: 'text', text: 'Hello from the fake provider.' }],
  stop: 'end',
  usage: { input: 8, output: 7 },
};

const BASE_PATHS: Record<FakeFormat, string> = {
  openai: '/v1',
  anthropic: '/v1',
  gemini: '/v1beta',
  ollama: '',
};
const HANDLERS: Record<FakeFormat, (exchange: Exchange) => Promise<void>> = {
  openai: handleOpenAI,
  anthropic: handleAnthropic,
  gemini: handleGemini,
  ollama: handleOllama,
};

export async function startFakeProvider(
  format: FakeFormat,
  options: FakeProviderOptions = {},
): Promise<FakeProvider> {
  const keys = options.keys ? new Set(options.keys) : undefined;
  const requests: RecordedRequest[] = [];
  let queue: ScriptSource[] = [];
  const sockets = new Set<Socket>();

  const next = (request: RecordedRequest): Script => {
    const source = (queue.length > 1 ? queue.shift() : queue[0]) ?? DEFAULT_SCRIPT;
    return typeof source === 'function' ? source(request) : source;
  };

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const request = await receive(req);
    requests.push(request);
    const url = new URL(request.path, 'http://fake');
    const body = isJson(request.body) ? request.body : undefined;
    await HANDLERS[format]({ request, url, body, res, keys, next: () => next(request) });
  };
  // A client that goes away mid-answer makes writes fail; that ends the exchange, nothing more.
  const server = createServer((req, res) => {
    serve(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseUrl: url + BASE_PATHS[format],
    requests,
    script(...scripts) {
      queue = [...scripts];
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function receive(req: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = raw ? JSON.parse(raw) : undefined;
  } catch {
    body = undefined;
  }
  return { method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body, raw };
}

// ---------------------------------------------------------------------------------------------
// Shared plumbing

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function randomId(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function write(res: ServerResponse, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => res.write(chunk, (error) => (error ? reject(error) : resolve())));
}

/** A non-streaming answer whose connection drops halfway through the body. */
async function sendCutBody(res: ServerResponse, body: unknown, headers: OutgoingHttpHeaders): Promise<void> {
  const text = JSON.stringify(body);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  await write(res, text.slice(0, Math.floor(text.length / 2)));
  res.destroy();
}

interface StreamShape {
  headers: OutgoingHttpHeaders;
  /** The whole stream, each element one event (SSE) or line (NDJSON). */
  frames(terminal: boolean): string[];
  /** The format's in-stream error. */
  errorFrame(status: number): string;
}

/** Plays a stream with the script's fault: a cut, an in-stream error, or a missing terminal event. */
async function sendStream(res: ServerResponse, shape: StreamShape, script: Script): Promise<void> {
  const fault = script.fault;
  const frames = shape.frames(fault?.kind !== 'no_terminal');
  const limit = fault?.kind === 'cut' || fault?.kind === 'error_event' ? fault.afterEvents : frames.length;
  res.writeHead(200, shape.headers);
  res.flushHeaders();
  for (const frame of frames.slice(0, limit)) await write(res, frame);
  if (fault?.kind === 'cut') {
    res.destroy();
    return;
  }
  if (fault?.kind === 'error_event') await write(res, shape.errorFrame(fault.status ?? 500));
  res.end();
}

/** How each format plays a script: its whole answer, its stream, and its error answer. */
interface Rendering {
  headers: OutgoingHttpHeaders;
  whole(): unknown;
  stream: StreamShape | undefined;
  fail(status: number, retryAfterSeconds?: number): void;
}

async function play(res: ServerResponse, script: Script, rendering: Rendering): Promise<void> {
  const fault = script.fault;
  if (fault?.kind === 'status') return rendering.fail(fault.status, fault.retryAfterSeconds);
  if (rendering.stream) return sendStream(res, rendering.stream, script);
  if (fault?.kind === 'error_event') return rendering.fail(fault.status ?? 500);
  if (fault?.kind === 'cut') return sendCutBody(res, rendering.whole(), rendering.headers);
  sendJson(res, 200, rendering.whole(), rendering.headers);
}

const sseData = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`;

function bearer(headers: IncomingHttpHeaders): string | undefined {
  return /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The same small vector for every input, exact in float32 so that base64 round-trips. */
const EMBEDDING = [0.125, -0.25, 0.5, 1];

/** An OpenAI-format embeddings answer (Ollama serves the same one on its compatible endpoint). */
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

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions

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
      type: known.type,
      param,
      code: code === undefined ? known.code : code,
    },
  };
}

function openAIHeaders(): OutgoingHttpHeaders {
  return { 'x-request-id': `req_${randomBytes(16).toString('hex')}` };
}

function sendOpenAIError(res: ServerResponse, status: number, retryAfterSeconds?: number): void {
  sendJson(res, status, openAIErrorBody(status), {
    ...openAIHeaders(),
    ...(retryAfterSeconds !== undefined && { 'retry-after': String(retryAfterSeconds) }),
  });
}

async function handleOpenAI(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  const key = bearer(request.headers);
  if (ex.keys && (key === undefined || !ex.keys.has(key))) {
    const message = key === undefined ? "You didn't provide an API key." : 'Incorrect API key provided.';
    return sendJson(
      res,
      401,
      openAIErrorBody(401, message, null, key === undefined ? null : 'invalid_api_key'),
    );
  }
  const route = `${request.method} ${url.pathname}`;
  if (route === 'POST /v1/embeddings') return embeddings(res, body);
  if (route !== 'POST /v1/chat/completions') {
    return sendJson(res, 404, openAIErrorBody(404, `Invalid URL (${route})`, null, null));
  }
  if (!body)
    return sendJson(res, 400, openAIErrorBody(400, 'We could not parse the JSON body of your request.'));
  if (typeof body.model !== 'string') {
    return sendJson(res, 400, openAIErrorBody(400, 'you must provide a model parameter'));
  }
  if (!Array.isArray(body.messages)) {
    const message = "Missing required parameter: 'messages'.";
    return sendJson(res, 400, openAIErrorBody(400, message, 'messages', 'missing_required_parameter'));
  }
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
            headers: {
              ...headers,
              'content-type': 'text/event-stream; charset=utf-8',
              'cache-control': 'no-cache',
            },
            frames: (terminal) =>
              openAIChunks(script, answer, streamOptions.include_usage === true, terminal),
            errorFrame: (status) => sseData(openAIErrorBody(status)),
          }
        : undefined,
    fail: (status, retryAfter) => sendOpenAIError(res, status, retryAfter),
  });
}

/** Ollama's OpenAI-compatible endpoint answers embeddings exactly like OpenAI. */
function embeddings(res: ServerResponse, body: Json | undefined): void {
  if (!body || body.input === undefined) {
    sendJson(res, 400, openAIErrorBody(400, "'input' is a required property", 'input'));
  } else {
    sendJson(res, 200, embeddingsBody(body, String(body.model ?? '')));
  }
}

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
};

function openAIUsage(script: Script): Json {
  const { input, output, cached = 0, reasoning = 0 } = script.usage;
  return {
    prompt_tokens: input,
    completion_tokens: output,
    total_tokens: input + output,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: reasoning,
      audio_tokens: 0,
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
    content: text || (calls.length > 0 ? null : ''),
    // Thinking goes where OpenAI-compatible reasoning servers (vLLM, DeepSeek) put it.
    ...(reasoning && { reasoning_content: reasoning }),
    ...(calls.length > 0 && {
      tool_calls: calls.map((call) => ({
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: JSON.stringify(call.arguments) },
      })),
    }),
    refusal: null,
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
  chunks.push(chunk({}, OPENAI_FINISH[script.stop]));
  if (includeUsage) chunks.push({ ...base, choices: [], usage: openAIUsage(script) });
  const frames = chunks.map(sseData);
  if (terminal) frames.push('data: [DONE]\n\n');
  return frames;
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages

const ANTHROPIC_ERRORS: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
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

function sendAnthropicError(
  res: ServerResponse,
  status: number,
  message?: string,
  retryAfterSeconds?: number,
): void {
  const requestId = `req_011C${randomId(20)}`;
  sendJson(
    res,
    status,
    { type: 'error', error: anthropicError(status, message), request_id: requestId },
    {
      'request-id': requestId,
      ...(retryAfterSeconds !== undefined && { 'retry-after': String(retryAfterSeconds) }),
    },
  );
}

async function handleAnthropic(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  // API keys come in x-api-key, or (as the current SDKs send them) as a bearer token.
  const key = headerValue(request.headers, 'x-api-key') ?? bearer(request.headers);
  if (ex.keys && (key === undefined || !ex.keys.has(key))) {
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
  if (route !== 'POST /v1/messages' && route !== 'POST /v1/messages/count_tokens') {
    return sendAnthropicError(res, 404, 'Not Found');
  }
  if (!body) return sendAnthropicError(res, 400, 'There was an issue with your request body: invalid JSON.');
  const counting = route === 'POST /v1/messages/count_tokens';
  const required = counting ? ['model', 'messages'] : ['model', 'max_tokens', 'messages'];
  const missing = required.find((field) => body[field] === undefined);
  if (missing) return sendAnthropicError(res, 400, `${missing}: Field required`);

  const script = ex.next();
  const requestId = `req_011C${randomId(20)}`;
  const headers = { 'request-id': requestId };
  const fail = (status: number, retryAfter?: number) =>
    sendAnthropicError(res, status, undefined, retryAfter);
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
            headers: {
              ...headers,
              'content-type': 'text/event-stream; charset=utf-8',
              'cache-control': 'no-cache',
            },
            frames: (terminal) => anthropicEvents(script, message, terminal),
            errorFrame: (status) => anthropicEvent('error', { type: 'error', error: anthropicError(status) }),
          }
        : undefined,
    fail,
  });
}

const ANTHROPIC_STOP: Record<Script['stop'], string> = {
  end: 'end_turn',
  max_tokens: 'max_tokens',
  tool_use: 'tool_use',
  stop_sequence: 'stop_sequence',
};

/** Anthropic's input_tokens leaves out cache reads and writes, which have their own counts. */
function anthropicUsage(script: Script, outputTokens: number): Json {
  const cached = script.usage.cached ?? 0;
  return {
    input_tokens: script.usage.input - cached,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
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
    usage: anthropicUsage(script, script.usage.output),
  };
}

const anthropicEvent = (type: string, payload: unknown): string =>
  `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`;

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
        // The real API reports a token or so of output at the start and the total at the end.
        usage: anthropicUsage(script, 1),
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
      usage: { output_tokens: script.usage.output },
    }),
  );
  if (terminal) events.push(anthropicEvent('message_stop', { type: 'message_stop' }));
  return events;
}

// ---------------------------------------------------------------------------------------------
// Gemini generateContent

const GEMINI_STATUS: Record<number, { status: string; message: string }> = {
  400: { status: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.' },
  401: { status: 'UNAUTHENTICATED', message: 'Request had invalid authentication credentials.' },
  403: { status: 'PERMISSION_DENIED', message: 'The caller does not have permission.' },
  404: { status: 'NOT_FOUND', message: 'Requested entity was not found.' },
  429: { status: 'RESOURCE_EXHAUSTED', message: 'Resource has been exhausted (e.g. check quota).' },
  500: { status: 'INTERNAL', message: 'An internal error has occurred.' },
  503: { status: 'UNAVAILABLE', message: 'The model is overloaded. Please try again later.' },
  504: { status: 'DEADLINE_EXCEEDED', message: 'The request timed out.' },
};

function geminiErrorBody(code: number, message?: string, details?: Json[]): Json {
  const known = GEMINI_STATUS[code] ?? { status: 'UNKNOWN', message: 'The request failed.' };
  return {
    error: { code, message: message ?? known.message, status: known.status, ...(details && { details }) },
  };
}

/** Google reports how long to back off in the body (RetryInfo), not in a Retry-After header. */
function sendGeminiError(
  res: ServerResponse,
  code: number,
  message?: string,
  retryAfterSeconds?: number,
): void {
  const details =
    retryAfterSeconds === undefined
      ? undefined
      : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retryAfterSeconds}s` }];
  sendJson(res, code, geminiErrorBody(code, message, details), {
    'content-type': 'application/json; charset=UTF-8',
  });
}

const GEMINI_ROUTE = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/;

async function handleGemini(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  const route = request.method === 'POST' ? GEMINI_ROUTE.exec(url.pathname) : null;
  if (!route) return sendGeminiError(res, 404, `Path ${url.pathname} was not found.`);
  const model = decodeURIComponent(route[1] ?? '');
  const method = route[2];
  const streaming = method === 'streamGenerateContent';
  // The key travels in x-goog-api-key only: a key in the URL would end up in access logs.
  if (url.searchParams.has('key')) {
    return sendGeminiError(res, 400, 'API keys must be sent in the x-goog-api-key header, not the URL.');
  }
  if (url.search !== (streaming ? '?alt=sse' : '')) {
    return sendGeminiError(res, 400, `Unexpected query string "${url.search}".`);
  }
  const key = headerValue(request.headers, 'x-goog-api-key');
  if (ex.keys && key === undefined) {
    return sendGeminiError(
      res,
      403,
      "Method doesn't allow unregistered callers. Please use an API key or another form of API consumer identity.",
    );
  }
  if (ex.keys && key !== undefined && !ex.keys.has(key)) {
    return sendJson(
      res,
      400,
      geminiErrorBody(400, 'API key not valid. Please pass a valid API key.', [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'API_KEY_INVALID',
          domain: 'googleapis.com',
          metadata: { service: 'generativelanguage.googleapis.com' },
        },
      ]),
    );
  }
  if (!body) return sendGeminiError(res, 400, 'Invalid JSON payload received.');
  const counting = method === 'countTokens';
  if (!Array.isArray(body.contents) && !(counting && isJson(body.generateContentRequest))) {
    return sendGeminiError(res, 400, '* GenerateContentRequest.contents: contents is not specified');
  }

  const script = ex.next();
  const headers = { 'content-type': 'application/json; charset=UTF-8' };
  const fail = (status: number, retryAfter?: number) => sendGeminiError(res, status, undefined, retryAfter);
  if (counting) {
    const whole = () => ({
      totalTokens: script.usage.input,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: script.usage.input }],
    });
    return play(res, script, { headers, whole, stream: undefined, fail });
  }
  const answer = { responseId: script.id ?? randomId(22), modelVersion: script.model ?? model };
  await play(res, script, {
    headers,
    whole: () => geminiResponse(script, geminiParts(script, false), true, answer),
    stream: streaming
      ? {
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
          frames: (terminal) => geminiChunks(script, answer, terminal),
          errorFrame: (status) => geminiFrame(geminiErrorBody(status)),
        }
      : undefined,
    fail,
  });
}

const GEMINI_FINISH: Record<Script['stop'], string> = {
  end: 'STOP',
  max_tokens: 'MAX_TOKENS',
  tool_use: 'STOP',
  stop_sequence: 'STOP',
};

/** Gemini's prompt count includes cached tokens; its candidates count excludes thoughts. */
function geminiUsage(script: Script): Json {
  const { input, output, cached = 0, reasoning = 0 } = script.usage;
  return {
    promptTokenCount: input,
    candidatesTokenCount: output - reasoning,
    totalTokenCount: input + output,
    ...(cached > 0 && { cachedContentTokenCount: cached }),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: input }],
    ...(reasoning > 0 && { thoughtsTokenCount: reasoning }),
  };
}

/**
 * The script as Gemini parts. Thoughts carry their signature; like Gemini 3, the first function
 * call after a thought carries that thought's signature too, which the caller must send back.
 * Streaming splits text and thoughts into pieces (the signature on a thought's last piece).
 */
function geminiParts(script: Script, split: boolean): Json[] {
  const parts: Json[] = [];
  let signature: string | undefined;
  let callSigned = false;
  for (const block of script.blocks) {
    if (block.type === 'tool_call') {
      const signed: boolean = signature !== undefined && !callSigned;
      parts.push({
        functionCall: { id: block.id, name: block.name, args: block.arguments },
        ...(signed && { thoughtSignature: signature }),
      });
      callSigned ||= signed;
      continue;
    }
    const texts = split ? pieces(block.text, script) : [block.text];
    if (block.type === 'text') {
      for (const text of texts) parts.push({ text });
      continue;
    }
    signature = block.signature;
    texts.forEach((text, index) => {
      parts.push({
        text,
        thought: true,
        ...(index === texts.length - 1 && { thoughtSignature: block.signature }),
      });
    });
  }
  return parts;
}

function geminiResponse(
  script: Script,
  parts: Json[],
  last: boolean,
  answer: { responseId: string; modelVersion: string },
): Json {
  return {
    candidates: [
      {
        content: { parts, role: 'model' },
        ...(last && { finishReason: GEMINI_FINISH[script.stop] }),
        index: 0,
      },
    ],
    ...(last && { usageMetadata: geminiUsage(script) }),
    modelVersion: answer.modelVersion,
    responseId: answer.responseId,
  };
}

/** The real API separates SSE events with CRLF pairs. */
const geminiFrame = (payload: unknown): string => `data: ${JSON.stringify(payload)}\r\n\r\n`;

/** One part per chunk; the last chunk carries finishReason and usage, which is the end marker. */
function geminiChunks(
  script: Script,
  answer: { responseId: string; modelVersion: string },
  terminal: boolean,
): string[] {
  const parts = geminiParts(script, true);
  if (parts.length === 0) parts.push({ text: '' });
  return parts.map((part, index) =>
    geminiFrame(geminiResponse(script, [part], terminal && index === parts.length - 1, answer)),
  );
}

// ---------------------------------------------------------------------------------------------
// Ollama /api/chat

const ollamaFailure = (status: number): string =>
  status >= 500 ? 'model runner has unexpectedly stopped' : 'request failed';

function sendOllamaError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

async function handleOllama(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  // Ollama itself takes no credential; ollama.com and authenticating proxies take a bearer token.
  const key = bearer(request.headers);
  if (ex.keys && (key === undefined || !ex.keys.has(key))) return sendOllamaError(res, 401, 'unauthorized');
  const route = `${request.method} ${url.pathname}`;
  if (route === 'POST /v1/embeddings') return embeddings(res, body);
  if (route !== 'POST /api/chat') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 page not found');
    return;
  }
  if (!body) return sendOllamaError(res, 400, 'invalid character in request body');
  if (typeof body.model !== 'string' || body.model === '')
    return sendOllamaError(res, 400, 'model is required');

  const script = ex.next();
  const model = script.model ?? body.model;
  const fail = (status: number) => sendOllamaError(res, status, ollamaFailure(status));
  await play(res, script, {
    headers: { 'content-type': 'application/json; charset=utf-8' },
    whole: () => ollamaFinal(script, model, ollamaMessage(script)),
    // Ollama streams unless told not to.
    stream:
      body.stream !== false
        ? {
            headers: { 'content-type': 'application/x-ndjson' },
            frames: (terminal) => ollamaLines(script, model, terminal),
            errorFrame: (status) => `${JSON.stringify({ error: ollamaFailure(status) })}\n`,
          }
        : undefined,
    fail,
  });
}

const OLLAMA_DONE: Record<Script['stop'], string> = {
  end: 'stop',
  max_tokens: 'length',
  tool_use: 'stop',
  stop_sequence: 'stop',
};

function ollamaMessage(script: Script): Json {
  const thinking = thinkingOf(script);
  const calls = toolCallsOf(script);
  return {
    role: 'assistant',
    content: textOf(script),
    ...(thinking && { thinking }),
    ...(calls.length > 0 && { tool_calls: calls.map(ollamaToolCall) }),
  };
}

/** Ollama tool calls carry no id, and their arguments as an object. */
function ollamaToolCall(call: ToolCallBlock, index: number): Json {
  return { function: { index, name: call.name, arguments: call.arguments } };
}

/** The closing object: done, why, and the counts and timings (nanoseconds) Ollama reports. */
function ollamaFinal(script: Script, model: string, message: Json): Json {
  const { input, output } = script.usage;
  const promptEval = input * 100_000;
  const evalDuration = output * 10_000_000;
  return {
    model,
    created_at: new Date().toISOString(),
    message,
    done: true,
    done_reason: OLLAMA_DONE[script.stop],
    total_duration: 1_000_000 + promptEval + evalDuration,
    load_duration: 1_000_000,
    prompt_eval_count: input,
    prompt_eval_duration: promptEval,
    eval_count: output,
    eval_duration: evalDuration,
  };
}

/** NDJSON lines: text and thinking in pieces, consecutive tool calls whole in one line. */
function ollamaLines(script: Script, model: string, terminal: boolean): string[] {
  const line = (message: Json) =>
    `${JSON.stringify({ model, created_at: new Date().toISOString(), message: { role: 'assistant', ...message }, done: false })}\n`;
  const lines: string[] = [];
  let calls: ToolCallBlock[] = [];
  let callIndex = 0;
  const flushCalls = () => {
    if (calls.length === 0) return;
    lines.push(line({ content: '', tool_calls: calls.map((call) => ollamaToolCall(call, callIndex++)) }));
    calls = [];
  };
  for (const block of script.blocks) {
    if (block.type === 'tool_call') {
      calls.push(block);
      continue;
    }
    flushCalls();
    for (const piece of pieces(block.text, script)) {
      lines.push(line(block.type === 'text' ? { content: piece } : { content: '', thinking: piece }));
    }
  }
  flushCalls();
  if (terminal)
    lines.push(`${JSON.stringify(ollamaFinal(script, model, { role: 'assistant', content: '' }))}\n`);
  return lines;
}
