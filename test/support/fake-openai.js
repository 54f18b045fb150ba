// @ts-check
/**
 * A fake OpenAI provider: a real HTTP server on loopback that speaks the OpenAI wire format
 * (Chat Completions JSON and SSE, Embeddings, Models, and the Azure OpenAI deployment paths),
 * checks keys like the real service, and can be scripted to fail in every way a provider does.
 * Shared by the tests and the benchmark.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * @typedef {object} FakeStep  One scripted behaviour, consumed by one request.
 * @property {number} [status]  Answer with this status (and `body`, JSON-encoded unless a string).
 * @property {unknown} [body]
 * @property {Record<string, string>} [headers]
 * @property {number} [delayHeadersMs]  Wait this long before answering normally.
 * @property {boolean} [hang]  Never answer.
 * @property {boolean} [destroy]  Destroy the socket at once (a connection error).
 * @property {number} [cutAfterChunks]  Stream: send N chunks, then destroy the socket.
 * @property {number} [endAfterChunks]  Stream: send N chunks, then end cleanly without [DONE].
 * @property {number} [chunkDelayMs]  Stream: wait this long between chunks.
 */

/**
 * @typedef {object} FakeRequest
 * @property {string} method
 * @property {string} url
 * @property {import('node:http').IncomingHttpHeaders} headers
 * @property {unknown} body  Parsed JSON, or the raw text when it is not JSON.
 * @property {boolean} aborted  True once the client closed the connection before the answer ended.
 */

/**
 * @typedef {object} FakeOpenAI
 * @property {string} url  The origin, e.g. http://127.0.0.1:PORT (the OpenAI base URL is url + '/v1').
 * @property {FakeRequest[]} requests
 * @property {(...steps: FakeStep[]) => void} script
 * @property {(n: number) => Promise<void>} waitForRequests
 * @property {() => void} reset
 * @property {() => Promise<void>} close
 * @property {Set<string>} keys  The keys the fake accepts now; tests add and revoke keys here.
 * @property {(key: string, step: FakeStep | undefined, model?: string) => void} whenKey  Answers
 *   every request made with `key` (for `model` only, when given) with `step` (a 429 for a
 *   rate-limited key, say) until set to undefined. A step for the model wins over one for the key.
 */

/** The reply text: the fixed phrase, then the length of the last user message's text. */
export const REPLY_PREFIX = 'Hello from the fake provider.';

const CREATED = 1_700_000_000;

/** @param {unknown} content */
function textOf(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === 'object' && 'text' in part ? String(part.text) : ''))
      .join('');
  }
  return '';
}

/**
 * @param {any} body
 * @param {boolean} [dense] Count a token a byte of text, as OpenAI's tokenizer nearly counts
 *   combining marks or random characters, instead of one per four characters.
 * @returns {{ text: string, promptTokens: number, toolCall: boolean }}
 */
function plan(body, dense = false) {
  /** @type {any[]} */
  const messages = Array.isArray(body?.messages) ? body.messages : [];
  const lastUser = [...messages].reverse().find((m) => m?.role === 'user');
  const userText = textOf(lastUser?.content);
  const promptTokens =
    messages.reduce((sum, m) => {
      const text = textOf(m?.content);
      return sum + (dense ? Buffer.byteLength(text) : Math.ceil(text.length / 4)) + 3;
    }, 0) || 1;
  const toolCall = Array.isArray(body?.tools) && body.tools.length > 0 && /weather/i.test(userText);
  return { text: `${REPLY_PREFIX} You said ${userText.length} characters.`, promptTokens, toolCall };
}

/** @param {string} text */
const completionTokens = (text) => Math.ceil(text.length / 4);

/** @param {number} prompt @param {number} completion */
function usage(prompt, completion) {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

const TOOL_CALL = {
  id: 'call_fake_weather_1',
  type: 'function',
  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
};

/** The reply's tokens as the fake counts them: a word with the spaces after it. @param {string} text */
const tokensOf = (text) => text.match(/\S+\s*/g) ?? [];

/**
 * A token's log probability as Chat Completions gives it with `logprobs: true`: its bytes, and the
 * `top` likeliest tokens at its place (the token itself first, then made-up rivals).
 * @param {string} token @param {number} at its position in the reply @param {number} top
 */
function tokenLogprob(token, at, top) {
  const logprob = -((at % 7) + 1) / 100;
  const entry = (/** @type {string} */ text, /** @type {number} */ value) => ({
    token: text,
    logprob: value,
    bytes: [...Buffer.from(text, 'utf8')],
  });
  return {
    ...entry(token, logprob),
    top_logprobs: Array.from({ length: top }, (_, k) =>
      k === 0 ? entry(token, logprob) : entry(`${token.trim()}~${k}`, logprob - k),
    ),
  };
}

/**
 * The choice's `logprobs` for `tokens`: null unless the request set `logprobs: true`.
 * @param {any} body @param {string[]} tokens @param {number} [from] the first token's position
 */
function choiceLogprobs(body, tokens, from = 0) {
  if (body?.logprobs !== true) return null;
  const top = Number(body.top_logprobs ?? 0);
  return { content: tokens.map((token, i) => tokenLogprob(token, from + i, top)), refusal: null };
}

/** @param {any} body @param {string} model @param {boolean} [dense] see `plan` */
function completion(body, model, dense = false) {
  const { text, promptTokens, toolCall } = plan(body, dense);
  const message = toolCall
    ? { role: 'assistant', content: null, tool_calls: [TOOL_CALL], refusal: null, annotations: [] }
    : { role: 'assistant', content: text, refusal: null, annotations: [] };
  const logprobs = choiceLogprobs(body, toolCall ? [] : tokensOf(text));
  return {
    id: 'chatcmpl-fake0001',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [{ index: 0, message, logprobs, finish_reason: toolCall ? 'tool_calls' : 'stop' }],
    usage: usage(promptTokens, toolCall ? 12 : completionTokens(text)),
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
}

/** Azure's content filter verdict on a piece of text, as it annotates prompts and choices. */
const AZURE_FILTER_RESULTS = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};

/**
 * An answer as Azure annotates it: the prompt's filter results at the top, each choice's beside it.
 * @param {ReturnType<typeof completion>} answer
 */
function withAzureFilterResults(answer) {
  return {
    ...answer,
    prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER_RESULTS }],
    choices: answer.choices.map((choice) => ({ ...choice, content_filter_results: AZURE_FILTER_RESULTS })),
  };
}

/**
 * Whether an Azure api-version takes a field: `stream_options` and `max_completion_tokens` came
 * with 2024-09-01-preview and, in GA, 2024-10-21; older versions refuse them.
 * @param {string} version
 */
function azureTakesNewFields(version) {
  const match = /^(\d{4}-\d{2}-\d{2})(-preview)?$/.exec(version);
  return !match || String(match[1]) >= (match[2] ? '2024-09-01' : '2024-10-21');
}

/**
 * @param {any} body @param {string} model @param {boolean} [azure] Azure's stream: a first chunk
 *   of prompt filter results without choices, and content filter results on every choice
 * @param {boolean} [dense] see `plan`
 * @returns {string[]} the SSE events, [DONE] included
 */
function streamEvents(body, model, azure = false, dense = false) {
  const { text, promptTokens, toolCall } = plan(body, dense);
  const base = {
    id: 'chatcmpl-fake0001',
    object: 'chat.completion.chunk',
    created: CREATED,
    model,
    service_tier: 'default',
    system_fingerprint: 'fp_fake',
  };
  const withUsage = Boolean(body?.stream_options?.include_usage);
  // As OpenAI does: with include_usage, every chunk carries `usage: null` until the usage chunk.
  /** @param {object} delta @param {string | null} finish @param {object | null} logprobs */
  const chunk = (delta, finish = null, logprobs = null) => ({
    ...base,
    choices: [
      {
        index: 0,
        delta,
        logprobs,
        finish_reason: finish,
        ...(azure && {
          content_filter_results: 'content' in delta && delta.content ? AZURE_FILTER_RESULTS : {},
        }),
      },
    ],
    ...(withUsage && { usage: null }),
  });
  /** @type {object[]} */
  const chunks = [];
  if (azure) {
    chunks.push({
      choices: [],
      created: 0,
      id: '',
      model: '',
      object: '',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_FILTER_RESULTS }],
    });
  }
  if (toolCall) {
    chunks.push(
      chunk({
        role: 'assistant',
        content: null,
        tool_calls: [
          { index: 0, id: TOOL_CALL.id, type: 'function', function: { name: 'get_weather', arguments: '' } },
        ],
        refusal: null,
      }),
    );
    for (const piece of ['{"city', '":"Par', 'is"}'])
      chunks.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
    chunks.push(chunk({}, 'tool_calls'));
  } else {
    chunks.push(chunk({ role: 'assistant', content: '', refusal: null }));
    tokensOf(text).forEach((word, i) => {
      chunks.push(chunk({ content: word }, null, choiceLogprobs(body, [word], i)));
    });
    chunks.push(chunk({}, 'stop'));
  }
  if (withUsage) {
    chunks.push({ ...base, choices: [], usage: usage(promptTokens, toolCall ? 12 : completionTokens(text)) });
  }
  return [...chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`), 'data: [DONE]\n\n'];
}

/** @param {any} body @param {string} model @param {boolean} [dense] see `plan` */
function embeddings(body, model, dense = false) {
  /** @type {unknown[]} */
  const inputs =
    Array.isArray(body?.input) && (body.input.length === 0 || typeof body.input[0] !== 'number')
      ? body.input
      : [body?.input];
  const dims = Number.isInteger(body?.dimensions) ? body.dimensions : 8;
  const data = inputs.map((input, index) => {
    const seed = JSON.stringify(input).length;
    const vector = Array.from({ length: dims }, (_, i) => Math.round(Math.sin(seed + i) * 1e6) / 1e6);
    const embedding =
      body?.encoding_format === 'base64'
        ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
        : vector;
    return { object: 'embedding', index, embedding };
  });
  const tokens = inputs.reduce(
    (/** @type {number} */ sum, input) =>
      sum + (dense ? Buffer.byteLength(String(input)) : Math.ceil(JSON.stringify(input).length / 4)),
    0,
  );
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

/** @param {string} key */
const maskedKey = (key) => `${key.slice(0, 3)}${'*'.repeat(Math.max(0, key.length - 7))}${key.slice(-4)}`;

/**
 * `tokensPerMinute` is each key's TPM limit as OpenAI applies it to a single request: one whose
 * prompt and `max_tokens` together exceed it is refused with OpenAI's "Request too large" 429.
 * `scopes` restricts keys as OpenAI's restricted keys are: a key listed there may list models only
 * with `api.model.read` and call models only with `model.request`; others answer 401 `missing_scope`.
 * `denseTokens` counts a token a byte of the messages' text (see `plan`), and of embeddings' inputs.
 * @param {{ port?: number, host?: string, keys?: string[], requireAuth?: boolean, tokensPerMinute?: number, scopes?: Record<string, string[]>, denseTokens?: boolean }} [options]
 * @returns {Promise<FakeOpenAI>}
 */
export async function startFakeOpenAI(options = {}) {
  const keys = new Set(options.keys ?? []);
  const requireAuth = options.requireAuth ?? keys.size > 0;
  /** @type {FakeStep[]} */
  let steps = [];
  /** @type {Map<string, FakeStep>} */
  const keySteps = new Map();
  /** @type {FakeRequest[]} */
  const requests = [];
  /** @type {Array<() => void>} */
  let waiters = [];
  const sockets = new Set();

  /**
   * @param {import('node:http').ServerResponse} res
   * @param {number} status
   * @param {unknown} body
   * @param {Record<string, string>} [headers]
   */
  const send = (res, status, body, headers = {}) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  /** @param {string} message @param {string} type @param {string | null} code */
  const openAIError = (message, type, code) => ({ error: { message, type, param: null, code } });

  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    /** @type {any} */
    let body = raw;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {}
    /** @type {FakeRequest} */
    const record = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body,
      aborted: false,
    };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    for (const wake of waiters.splice(0)) wake();

    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const asked = body && typeof body === 'object' && 'model' in body ? String(body.model) : undefined;
    const step =
      (bearer !== undefined && (keySteps.get(`${bearer}\n${asked}`) || keySteps.get(bearer))) ||
      steps.shift() ||
      {};
    if (step.destroy) return req.socket.destroy();
    if (step.hang) return;
    if (step.status !== undefined)
      return send(
        res,
        step.status,
        step.body ?? openAIError('scripted failure', 'server_error', null),
        step.headers,
      );
    if (step.delayHeadersMs) {
      await sleep(step.delayHeadersMs);
      if (res.destroyed) return;
    }

    const url = new URL(req.url ?? '/', 'http://fake');
    const azure = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(url.pathname);
    const presentedKey = azure
      ? req.headers['api-key']
      : /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (requireAuth) {
      const presented = presentedKey;
      if (typeof presented !== 'string' || !keys.has(presented)) {
        const message = presented
          ? `Incorrect API key provided: ${maskedKey(String(presented))}. You can find your API key at https://platform.openai.com/account/api-keys.`
          : "You didn't provide an API key.";
        return send(
          res,
          401,
          openAIError(message, 'invalid_request_error', presented ? 'invalid_api_key' : null),
        );
      }
    }
    const granted = typeof presentedKey === 'string' ? options.scopes?.[presentedKey] : undefined;
    const needed = req.method === 'GET' ? 'api.model.read' : 'model.request';
    if (granted && !granted.includes(needed)) {
      const message =
        `You have insufficient permissions for this operation. Missing scopes: ${needed}. Check that you have ` +
        "the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're " +
        'using a restricted API key, that it has the necessary scopes.';
      return send(res, 401, openAIError(message, 'invalid_request_error', 'missing_scope'));
    }
    if (azure && !url.searchParams.get('api-version')) {
      return send(res, 404, { error: { code: '404', message: 'Resource not found' } });
    }
    const version = url.searchParams.get('api-version') ?? '';
    const newField = ['stream_options', 'max_completion_tokens'].find(
      (field) => body && typeof body === 'object' && field in body,
    );
    if (azure && newField && !azureTakesNewFields(version)) {
      return send(
        res,
        400,
        openAIError(`Unrecognized request argument supplied: ${newField}`, 'invalid_request_error', null),
      );
    }
    const operation = azure ? azure[2] : url.pathname.replace(/^\/v1\//, '');
    const model = azure ? decodeURIComponent(azure[1] ?? '') : String(body?.model ?? '');

    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return send(res, 200, {
        object: 'list',
        data: [{ id: 'gpt-4o-mini', object: 'model', created: CREATED, owned_by: 'system' }],
      });
    }
    if (req.method !== 'POST' || typeof body !== 'object' || body === null) {
      return send(
        res,
        404,
        openAIError(`Invalid URL (${req.method} ${url.pathname})`, 'invalid_request_error', null),
      );
    }
    if (operation === 'embeddings') return send(res, 200, embeddings(body, model, options.denseTokens));
    if (operation !== 'chat/completions') {
      return send(
        res,
        404,
        openAIError(`Invalid URL (${req.method} ${url.pathname})`, 'invalid_request_error', null),
      );
    }
    if (body.top_logprobs != null && body.logprobs !== true) {
      return send(
        res,
        400,
        openAIError(
          "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
          'invalid_request_error',
          'invalid_value',
        ),
      );
    }
    const requested =
      plan(body, options.denseTokens).promptTokens +
      Number(body.max_completion_tokens ?? body.max_tokens ?? 0);
    if (options.tokensPerMinute !== undefined && requested > options.tokensPerMinute) {
      const message =
        `Request too large for ${model} in organization org-fake on tokens per min (TPM): ` +
        `Limit ${options.tokensPerMinute}, Requested ${requested}. The input or output tokens must be ` +
        'reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.';
      return send(res, 429, openAIError(message, 'tokens', 'rate_limit_exceeded'), {
        'x-ratelimit-limit-tokens': String(options.tokensPerMinute),
        'x-ratelimit-remaining-tokens': String(options.tokensPerMinute),
      });
    }
    if (!body.stream) {
      const answer = completion(body, model, options.denseTokens);
      return send(
        res,
        200,
        azure && operation === 'chat/completions' ? withAzureFilterResults(answer) : answer,
      );
    }

    const events = streamEvents(body, model, Boolean(azure), options.denseTokens);
    const limit = step.cutAfterChunks ?? step.endAfterChunks ?? events.length;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    for (let i = 0; i < Math.min(limit, events.length); i++) {
      if (res.destroyed) return;
      if (i > 0 && step.chunkDelayMs) await sleep(step.chunkDelayMs);
      res.write(events[i]);
    }
    if (step.cutAfterChunks !== undefined) {
      // Let the written chunks leave before the connection is torn down mid-stream.
      await sleep(20);
      return req.socket.destroy();
    }
    res.end();
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());

  return {
    url: `http://${address.address}:${address.port}`,
    requests,
    script: (...more) => {
      steps.push(...more);
    },
    waitForRequests: (n) =>
      new Promise((resolve) => {
        const check = () => (requests.length >= n ? resolve() : waiters.push(check));
        check();
      }),
    keys,
    whenKey: (key, step, model) => {
      const name = model === undefined ? key : `${key}\n${model}`;
      if (step) keySteps.set(name, step);
      else keySteps.delete(name);
    },
    reset: () => {
      steps = [];
      keySteps.clear();
      requests.length = 0;
      waiters = [];
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
