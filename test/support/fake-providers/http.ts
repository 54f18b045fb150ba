/**
 * The plumbing every fake provider shares and none of them owns: what a format's handler is given,
 * JSON and SSE/NDJSON writing, credential and header reading, and `play`, which answers with a
 * script's rendering in a format and applies the script's fault. Imitates no API of its own.
 */

import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Script } from './script.js';
import type { RecordedRequest } from './server.js';

export type Json = Record<string, unknown>;

/** One request, as a format's handler sees it. */
export interface Exchange {
  request: RecordedRequest;
  url: URL;
  /** The body when it is a JSON object. */
  body: Json | undefined;
  res: ServerResponse;
  keys: ReadonlySet<string> | undefined;
  /** Models the fake's keys may not use: the provider's own 403 for those, and left out of its model list. */
  forbidden: ReadonlySet<string>;
  /** Keys whose account is out of credit: they authenticate, but the provider serves them nothing. */
  outOfCredit: ReadonlySet<string>;
  /** What the format's model list names. */
  models: readonly string[];
  /** The script for this request; taking it consumes it from the queue. */
  next(): Script;
}

/** A wire format: where clients point their base URL, and how it answers a request. */
export interface FormatHandler {
  basePath: string;
  handle(exchange: Exchange): Promise<void>;
}

export function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function randomId(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}

// ---------------------------------------------------------------------------------------------
// Request headers and credentials

export function bearer(headers: IncomingHttpHeaders): string | undefined {
  return /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether the fake turns `key` away: only when it was given keys, and `key` is not one of them. */
export function refused(keys: ReadonlySet<string> | undefined, key: string | undefined): boolean {
  return keys !== undefined && (key === undefined || !keys.has(key));
}

// ---------------------------------------------------------------------------------------------
// Writing answers

/** The Retry-After header, when there is a delay to report. */
export function retryAfter(seconds: number | undefined): OutgoingHttpHeaders {
  return seconds === undefined ? {} : { 'retry-after': String(seconds) };
}

export function sendJson(
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

/** The response headers of an SSE stream (as OpenAI and Anthropic send them). */
export const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
};

/** One SSE event: an optional `event:` line and a JSON `data:` line, ended by a blank line. */
export function sseEvent(payload: unknown, options: { event?: string; eol?: '\n' | '\r\n' } = {}): string {
  const eol = options.eol ?? '\n';
  const event = options.event === undefined ? '' : `event: ${options.event}${eol}`;
  return `${event}data: ${JSON.stringify(payload)}${eol}${eol}`;
}

/** One NDJSON line. */
export const ndjsonLine = (payload: unknown): string => `${JSON.stringify(payload)}\n`;

export interface StreamShape {
  headers: OutgoingHttpHeaders;
  /** The whole stream, each element one event (SSE) or line (NDJSON). */
  frames(terminal: boolean): string[];
  /** The format's in-stream error, in the error's own words where the script gives them. */
  errorFrame(status: number, worded?: { message?: string; code?: string; param?: string }): string;
}

/** Plays a stream with the script's fault: a cut, an in-stream error, a missing terminal event or a stall. */
async function sendStream(res: ServerResponse, shape: StreamShape, script: Script): Promise<void> {
  const fault = script.fault;
  const frames = shape.frames(fault?.kind !== 'no_terminal');
  const limit =
    fault?.kind === 'cut' || fault?.kind === 'error_event' || fault?.kind === 'stall'
      ? fault.afterEvents
      : frames.length;
  res.writeHead(200, shape.headers);
  res.flushHeaders();
  for (const frame of frames.slice(0, limit)) await write(res, frame);
  const after = fault?.kind === 'after_terminal' ? fault.then : fault?.kind;
  // Left open: the client's leaving (or the fake's close) ends it.
  if (after === 'stall') return;
  if (after === 'cut') {
    res.destroy();
    return;
  }
  if (after === 'error_event') {
    const named = fault?.kind === 'error_event' ? fault : undefined;
    await write(res, shape.errorFrame(named?.status ?? 500, named));
  }
  res.end();
}

/** How a format plays a script: its whole answer, its stream, and its error answer. */
export interface Rendering {
  headers: OutgoingHttpHeaders;
  whole(): unknown;
  stream: StreamShape | undefined;
  fail(
    status: number,
    retryAfterSeconds?: number,
    quota?: 'requests' | 'input_tokens' | 'input_tokens_daily',
  ): void;
}

/** Answers with the script in a format's rendering, faults included. */
export async function play(res: ServerResponse, script: Script, rendering: Rendering): Promise<void> {
  const fault = script.fault;
  if (fault?.kind === 'hang') return;
  if (fault?.kind === 'reset') {
    res.socket?.destroy();
    return;
  }
  if (fault?.kind === 'status') return rendering.fail(fault.status, fault.retryAfterSeconds, fault.quota);
  if (rendering.stream) return sendStream(res, rendering.stream, script);
  if (fault?.kind === 'error_event') return rendering.fail(fault.status ?? 500);
  if (fault?.kind === 'cut') return sendCutBody(res, rendering.whole(), rendering.headers);
  sendJson(res, 200, rendering.whole(), rendering.headers);
}
