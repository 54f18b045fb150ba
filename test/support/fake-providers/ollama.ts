/**
 * Imitates the Ollama API: `POST /api/chat` (streamed as NDJSON unless `stream: false`, ending in a
 * `done: true` object with counts and timings) and the OpenAI-compatible `POST /v1/embeddings`.
 * Ollama itself takes no credential; with keys it acts like ollama.com or an authenticating proxy
 * and wants a bearer token. Errors are `{ "error": "..." }`; unknown paths get Go's plain-text 404.
 */

import type { ServerResponse } from 'node:http';
import {
  bearer,
  type Exchange,
  type FormatHandler,
  type Json,
  ndjsonLine,
  play,
  refused,
  sendJson,
} from './http.js';
import { ollamaTags } from './model-lists.js';
import { embeddings } from './openai.js';
import { pieces, type Script, type ToolCallBlock, textOf, thinkingOf, toolCallsOf } from './script.js';

const ollamaFailure = (status: number): string =>
  status >= 500 ? 'model runner has unexpectedly stopped' : 'request failed';

function sendOllamaError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

async function handleOllama(ex: Exchange): Promise<void> {
  const { res, url, body, request } = ex;
  if (refused(ex.keys, bearer(request.headers))) return sendOllamaError(res, 401, 'unauthorized');
  const route = `${request.method} ${url.pathname}`;
  if (route === 'POST /v1/embeddings') return embeddings(res, body);
  if (route === 'GET /api/tags') return ollamaTags(res, ex.models);
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
            errorFrame: (status) => ndjsonLine({ error: ollamaFailure(status) }),
          }
        : undefined,
    fail,
  });
}

export const ollama: FormatHandler = { basePath: '', handle: handleOllama };

// ---------------------------------------------------------------------------------------------
// Rendering a script

const OLLAMA_DONE: Record<Script['stop'], string> = {
  end: 'stop',
  max_tokens: 'length',
  tool_use: 'stop',
  stop_sequence: 'stop',
  refusal: 'stop',
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
    ...(!script.countsOmitted && {
      prompt_eval_count: input,
      prompt_eval_duration: promptEval,
      eval_count: output,
      eval_duration: evalDuration,
    }),
  };
}

/** NDJSON lines: text and thinking in pieces, consecutive tool calls whole in one line. */
function ollamaLines(script: Script, model: string, terminal: boolean): string[] {
  const line = (message: Json) =>
    ndjsonLine({
      model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', ...message },
      done: false,
    });
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
  if (terminal) lines.push(ndjsonLine(ollamaFinal(script, model, { role: 'assistant', content: '' })));
  return lines;
}
