/**
 * Imitates the Gemini API (generativelanguage.googleapis.com, v1beta): `models/{model}:generateContent`,
 * `:streamGenerateContent?alt=sse` (CRLF-framed SSE), `:countTokens`, and `:embedContent` /
 * `:batchEmbedContents` (as googleapis/js-genai calls them), with the key in the
 * x-goog-api-key header only, Google's RPC error envelope, and back-off reported as RetryInfo in the
 * body rather than a Retry-After header.
 */

import type { ServerResponse } from 'node:http';
import {
  type Exchange,
  type FormatHandler,
  headerValue,
  isJson,
  type Json,
  play,
  randomId,
  refused,
  sendJson,
  sseEvent,
} from './http.js';
import { geminiModelList } from './model-lists.js';
import { pieces, type Script } from './script.js';
import { foreign, played } from './signatures.js';

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

const GEMINI_JSON_HEADERS = { 'content-type': 'application/json; charset=UTF-8' };

function geminiErrorBody(code: number, message?: string, details?: Json[]): Json {
  const known = GEMINI_STATUS[code] ?? { status: 'UNKNOWN', message: 'The request failed.' };
  return {
    error: { code, message: message ?? known.message, status: known.status, ...(details && { details }) },
  };
}

/** The quota a 429 names, as the Gemini API's free tier reports them. */
const QUOTAS = {
  requests: {
    quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
    quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
    quotaValue: '15',
  },
  input_tokens: {
    quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_input_token_count',
    quotaId: 'GenerateContentInputTokensPerModelPerMinute-FreeTier',
    quotaValue: '1000000',
  },
  input_tokens_daily: {
    quotaMetric: 'generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count',
    quotaId: 'GenerateContentPaidTierInputTokensPerModelPerDay',
    quotaValue: '500000000',
  },
} as const;

/**
 * Google reports how long to back off in the body (RetryInfo), not in a Retry-After header, and
 * which quota a 429 hit in a QuotaFailure detail.
 */
function sendGeminiError(
  res: ServerResponse,
  code: number,
  message?: string,
  retryAfterSeconds?: number,
  quota: keyof typeof QUOTAS = 'requests',
): void {
  const details: Json[] = [];
  if (code === 429)
    details.push({ '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [QUOTAS[quota]] });
  if (retryAfterSeconds !== undefined)
    details.push({
      '@type': 'type.googleapis.com/google.rpc.RetryInfo',
      retryDelay: `${retryAfterSeconds}s`,
    });
  sendJson(
    res,
    code,
    geminiErrorBody(code, message, details.length > 0 ? details : undefined),
    GEMINI_JSON_HEADERS,
  );
}

const GEMINI_ROUTE =
  /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens|embedContent|batchEmbedContents)$/;

/** Answers a missing or unknown key as Gemini does; true when it did. */
function refuseGeminiKey(ex: Exchange): boolean {
  const key = headerValue(ex.request.headers, 'x-goog-api-key');
  if (ex.keys && key === undefined) {
    sendGeminiError(
      ex.res,
      403,
      "Method doesn't allow unregistered callers. Please use an API key or another form of API consumer identity.",
    );
    return true;
  }
  if (!refused(ex.keys, key)) return false;
  // Google's answer to a key it does not know, word for word: 400 INVALID_ARGUMENT, not a 401.
  const message = 'API key not valid. Please pass a valid API key.';
  sendJson(
    ex.res,
    400,
    geminiErrorBody(400, message, [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'API_KEY_INVALID',
        domain: 'googleapis.com',
        metadata: { service: 'generativelanguage.googleapis.com' },
      },
      { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
    ]),
    GEMINI_JSON_HEADERS,
  );
  return true;
}

async function handleGemini(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  const route = request.method === 'POST' ? GEMINI_ROUTE.exec(url.pathname) : null;
  const listing = request.method === 'GET' && url.pathname === '/v1beta/models';
  if (!route && !listing) return sendGeminiError(res, 404, `Path ${url.pathname} was not found.`);
  const model = decodeURIComponent(route?.[1] ?? '');
  const method = route?.[2];
  const streaming = method === 'streamGenerateContent';
  // The key travels in x-goog-api-key only: a key in the URL would end up in access logs.
  if (url.searchParams.has('key')) {
    return sendGeminiError(res, 400, 'API keys must be sent in the x-goog-api-key header, not the URL.');
  }
  const query = [...url.searchParams.keys()];
  if (
    listing
      ? query.some((name) => name !== 'pageSize' && name !== 'pageToken')
      : url.search !== (streaming ? '?alt=sse' : '')
  ) {
    return sendGeminiError(res, 400, `Unexpected query string "${url.search}".`);
  }
  if (refuseGeminiKey(ex)) return;
  if (ex.forbidden.has(model)) {
    return sendGeminiError(res, 403, `Permission denied on resource models/${model} for this API key.`);
  }
  if (listing) return geminiModelList(res, ex.models);
  if (!body) return sendGeminiError(res, 400, 'Invalid JSON payload received.');
  if (method === 'embedContent' || method === 'batchEmbedContents') return embed(ex, model, body, method);
  const counting = method === 'countTokens';
  if (!Array.isArray(body.contents) && !(counting && isJson(body.generateContentRequest))) {
    return sendGeminiError(res, 400, '* GenerateContentRequest.contents: contents is not specified');
  }

  if (hasForeignSignature(body)) return sendGeminiError(res, 400, 'Corrupted thought signature.');
  const script = ex.next();
  for (const block of script.blocks) if (block.type === 'thinking') played('gemini', block.signature);
  const headers = GEMINI_JSON_HEADERS;
  const fail = (status: number, retryAfterSeconds?: number, quota?: keyof typeof QUOTAS) =>
    sendGeminiError(res, status, undefined, retryAfterSeconds, quota);
  if (counting) {
    const whole = () => ({
      totalTokens: script.usage.input,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: script.usage.input }],
    });
    return play(res, script, { headers, whole, stream: undefined, fail });
  }
  const answer = {
    responseId: script.id ?? randomId(22),
    modelVersion: script.model === null ? undefined : (script.model ?? model),
  };
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

export const gemini: FormatHandler = { basePath: '/v1beta', handle: handleGemini };

/** Whether any part of the request replays a thought signature another provider made (signatures.ts). */
function hasForeignSignature(body: Json): boolean {
  const request = isJson(body.generateContentRequest) ? body.generateContentRequest : body;
  const contents = Array.isArray(request.contents) ? request.contents : [];
  return contents.some(
    (content) =>
      isJson(content) &&
      Array.isArray(content.parts) &&
      content.parts.some((part) => isJson(part) && foreign('gemini', part.thoughtSignature)),
  );
}

// ---------------------------------------------------------------------------------------------
// Rendering a script

const GEMINI_FINISH: Record<Script['stop'], string> = {
  end: 'STOP',
  max_tokens: 'MAX_TOKENS',
  tool_use: 'STOP',
  stop_sequence: 'STOP',
  refusal: 'SAFETY',
};

/** `tokens` by modality, as Gemini lists them: its audio, if any, and the rest as text. */
function byModality(tokens: number, audio: number): Json[] {
  const text = { modality: 'TEXT', tokenCount: tokens - audio };
  return audio > 0 ? [{ modality: 'AUDIO', tokenCount: audio }, text] : [text];
}

/**
 * Gemini's prompt count includes cached tokens; its candidates count excludes thoughts. `generated`:
 * the output tokens so far, for a stream's chunk before its last.
 */
function geminiUsage(script: Script, generated?: number): Json {
  const { input, output, cached = 0, audio = 0, cachedAudio = 0, reasoning = 0 } = script.usage;
  const candidates = generated ?? output - reasoning;
  return {
    promptTokenCount: input,
    candidatesTokenCount: candidates,
    totalTokenCount: input + (generated ?? output),
    ...(cached > 0 && { cachedContentTokenCount: cached }),
    promptTokensDetails: byModality(input, audio),
    ...(cachedAudio > 0 && { cacheTokensDetails: byModality(cached, cachedAudio) }),
    ...(generated === undefined && reasoning > 0 && { thoughtsTokenCount: reasoning }),
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

/** Grounding with Google Search as the API reports it: the queries run, the pages cited. */
function groundingMetadata(queries: string[]): Json {
  return {
    searchEntryPoint: { renderedContent: '<style>.container{}</style><div class="container"></div>' },
    groundingChunks: queries.map((query, index) => ({
      web: { uri: `https://vertexaisearch.cloud.google.com/grounding-api-redirect/${index}`, title: query },
    })),
    groundingSupports: [],
    webSearchQueries: queries,
  };
}

function geminiResponse(
  script: Script,
  parts: Json[],
  last: boolean,
  answer: { responseId: string; modelVersion: string | undefined },
  /** A stream's chunk before its last: the output tokens so far, when every chunk carries usage. */
  generated?: number,
): Json {
  return {
    candidates: [
      {
        content: { parts, role: 'model' },
        ...(last && { finishReason: GEMINI_FINISH[script.stop] }),
        ...(last && script.grounding && { groundingMetadata: groundingMetadata(script.grounding.queries) }),
        index: 0,
      },
    ],
    ...(last && !script.countsOmitted && { usageMetadata: geminiUsage(script) }),
    ...(!last && generated !== undefined && { usageMetadata: geminiUsage(script, generated) }),
    ...(answer.modelVersion !== undefined && { modelVersion: answer.modelVersion }),
    responseId: answer.responseId,
  };
}

/** The real API separates SSE events with CRLF pairs. */
const geminiFrame = (payload: unknown): string => sseEvent(payload, { eol: '\r\n' });

/** One part per chunk; the last chunk carries finishReason and usage, which is the end marker. */
function geminiChunks(
  script: Script,
  answer: { responseId: string; modelVersion: string | undefined },
  terminal: boolean,
): string[] {
  const parts = geminiParts(script, true);
  if (parts.length === 0) parts.push({ text: '' });
  return parts.map((part, index) => {
    const generated = script.usageEveryChunk ? index : undefined;
    return geminiFrame(
      geminiResponse(script, [part], terminal && index === parts.length - 1, answer, generated),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Embeddings

/**
 * A vector that tells inputs apart (its last value is the text's length / 1024) and is exact in
 * float32, so that base64 round-trips; `outputDimensionality` keeps its first values.
 */
function embeddingValues(text: string, dimensions: unknown): number[] {
  const values = [0.125, -0.25, 0.5, text.length / 1024];
  return typeof dimensions === 'number' ? values.slice(0, dimensions) : values;
}

/** One EmbedContentRequest's text, or the error message Gemini gives for it. */
function embedText(request: Json, field: string, model: string): string | { error: string } {
  if (request.model !== undefined && request.model !== `models/${model}`) {
    return { error: `${field}.model: the model in the request must match the model in the URL.` };
  }
  const content = request.content;
  const parts = isJson(content) && Array.isArray(content.parts) ? content.parts : undefined;
  if (!parts || parts.length === 0) return { error: `* ${field}.content: content is not specified` };
  return parts.map((part) => (isJson(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

/** `:embedContent` answers `{embedding}`, `:batchEmbedContents` `{embeddings}`, one per request in order. */
function embed(ex: Exchange, model: string, body: Json, method: string): Promise<void> {
  const batch = method === 'batchEmbedContents';
  const requests = batch ? body.requests : [body];
  if (!Array.isArray(requests) || requests.length === 0) {
    return Promise.resolve(
      sendGeminiError(ex.res, 400, '* BatchEmbedContentsRequest.requests: requests is not specified'),
    );
  }
  // Gemini's own bound and words, as its users report them (its reference does not state it).
  if (batch && requests.length > 100) {
    return Promise.resolve(
      sendGeminiError(
        ex.res,
        400,
        '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch',
      ),
    );
  }
  const embeddings: Json[] = [];
  for (const [i, request] of requests.entries()) {
    const field = batch ? `BatchEmbedContentsRequest.requests[${i}]` : 'EmbedContentRequest';
    const text = isJson(request) ? embedText(request, field, model) : { error: `${field} is invalid` };
    if (typeof text !== 'string') return Promise.resolve(sendGeminiError(ex.res, 400, text.error));
    embeddings.push({ values: embeddingValues(text, (request as Json).outputDimensionality) });
  }
  const whole = () => (batch ? { embeddings } : { embedding: embeddings[0] ?? null });
  return play(ex.res, ex.next(), {
    headers: GEMINI_JSON_HEADERS,
    whole,
    stream: undefined,
    fail: (status, retryAfterSeconds, quota) =>
      sendGeminiError(ex.res, status, undefined, retryAfterSeconds, quota),
  });
}
