/**
 * Fake AI providers: real HTTP servers on loopback that speak the OpenAI, Anthropic, Gemini and
 * Ollama wire formats as the real services do (credentials, status codes, error envelopes, SSE and
 * NDJSON framing, event sequences, usage), playing scripted answers and failures.
 *
 * This module is the core: the HTTP server, the record of requests, the script queue, and dispatch
 * to the format's module (openai.ts, anthropic.ts, gemini.ts, ollama.ts); http.ts holds the
 * plumbing they share.
 */

import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { anthropic } from './anthropic.js';
import { gemini } from './gemini.js';
import { type FormatHandler, isJson } from './http.js';
import { DEFAULT_MODELS } from './model-lists.js';
import { ollama } from './ollama.js';
import { openai } from './openai.js';
import type { Script } from './script.js';

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
  /**
   * Models the keys may not use (a model, region or project the account lacks): requests for them
   * get the provider's per-model 403, and its model list leaves them out.
   */
  forbiddenModels?: string[];
  /** The models its model list names (default: DEFAULT_MODELS of its format). */
  models?: string[];
  /**
   * Keys whose account is out of credit: they authenticate (the model list answers them), but a
   * request for a model gets the provider's answer for an account with nothing left (Anthropic:
   * 400 invalid_request_error "Your credit balance is too low…"). Formats without one ignore it.
   */
  outOfCredit?: string[];
}

/** What a fake answers before any test scripted it. */
const DEFAULT_SCRIPT: Script = {
  blocks: [{ type: 'text', text: 'Hello from the fake provider.' }],
  stop: 'end',
  usage: { input: 8, output: 7 },
};

const FORMATS: Record<FakeFormat, FormatHandler> = { openai, anthropic, gemini, ollama };

export async function startFakeProvider(
  format: FakeFormat,
  options: FakeProviderOptions = {},
): Promise<FakeProvider> {
  const handler = FORMATS[format];
  const keys = options.keys ? new Set(options.keys) : undefined;
  const forbidden = new Set(options.forbiddenModels ?? []);
  const outOfCredit = new Set(options.outOfCredit ?? []);
  const models: readonly string[] = (options.models ?? DEFAULT_MODELS[format]).filter(
    (m) => !forbidden.has(m),
  );
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
    await handler.handle({
      request,
      url,
      body,
      res,
      keys,
      forbidden,
      outOfCredit,
      models,
      next: () => next(request),
    });
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
    baseUrl: url + handler.basePath,
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
