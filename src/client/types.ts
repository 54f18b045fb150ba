/** A JSON request body: the client passes it on as given; the gateway validates it. */
export type Body = Record<string, unknown>;

export interface ClientOptions {
  /** The gateway's data-plane origin, e.g. `https://ai.example.com` (no `/v1`). */
  baseUrl: string;
  /** A gateway token or client key. Without one the client relies on session cookies. */
  apiKey?: string;
  /** `include` sends the session cookies cross-origin (browsers); default `same-origin`. */
  credentials?: 'omit' | 'same-origin' | 'include';
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Per attempt, until the response headers arrive (default 60 000). */
  timeoutMs?: number;
  /**
   * Retries after the first attempt (default 2). Only a request the gateway cannot have run is
   * sent again: a GET on 429/502/503/504, a network failure or a timeout; a POST or DELETE on 429,
   * a 503 `rate_limiter_unavailable` or `too_many_connections`, or a connection never made; never
   * a session call (`/auth/*`).
   */
  maxRetries?: number;
  /** Sent with every request (an `Origin` for cookie sessions from Node, say). */
  headers?: Record<string, string>;
  /** First backoff step (default 500 ms); each retry doubles it. */
  retryBaseMs?: number;
  /** Longest wait between attempts (default 30 000 ms): a longer `Retry-After` is not waited for. */
  maxRetryDelayMs?: number;
  /** For tests: the jitter source (default Math.random) and the wait. */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface RequestOptions {
  /** Cancels the request, its retries, waits and stream. */
  signal?: AbortSignal;
  timeoutMs?: number;
  maxRetries?: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** One step of a streamed chat answer; the last one carries the usage. */
export interface ChatDelta {
  content: string;
  toolCalls?: unknown[];
  finishReason: string | null;
  usage?: Usage;
  /** The chunk as the gateway sent it (OpenAI's `chat.completion.chunk`). */
  chunk: Body;
}

export interface ChatCompletion extends Body {
  id: string;
  choices: Array<{
    index: number;
    message: { role: string; content: string | null } & Body;
    finish_reason: string;
  }>;
  usage?: Usage;
}

export interface TemplateInfo {
  name: string;
  description?: string;
  model: string;
  version: number;
  params: Record<string, Body>;
  output?: Body;
  stream: boolean;
}

export interface TemplateRun<T = unknown> {
  id: string;
  template: string;
  version: number;
  output: T;
  usage: Usage;
}

/** `GET /auth/session`, `POST /auth/session|refresh|guest`: whatever the gateway tells of the session. */
export type SessionInfo = Body & { userId?: string; expiresAt?: string | number };
