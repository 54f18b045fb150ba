import { errorFrom, KeywardError } from './errors.js';
import { backoffMs, mayRetry, notSent, parseRetryAfter, sleep } from './retry.js';
import { sseData } from './sse.js';
import type {
  Body,
  ChatCompletion,
  ChatDelta,
  ClientOptions,
  RequestOptions,
  SessionInfo,
  TemplateInfo,
  TemplateRun,
} from './types.js';

type Method = 'GET' | 'POST' | 'DELETE';

/** A response, and the release of its hold on the caller's signal once its body has been read. */
interface Sent {
  response: Response;
  release(): void;
}

/** Failures of an attempt whose request was never sent (the connection was not made). */
const unsent = new WeakSet<KeywardError>();

const enc = encodeURIComponent;

/**
 * A client for a Keyward gateway, for browsers and Node 20+: chat completions, responses,
 * conversations, templates and sessions, with retries and typed errors.
 *
 * Retries never repeat work the gateway may have done: a GET is retried on 429, 502, 503, 504, a
 * network failure or a timeout; a POST or DELETE only when the gateway guarantees nothing ran (a
 * 429, a 503 `rate_limiter_unavailable` or `too_many_connections`, or a connection that was never
 * made); `/auth/*` calls never (see `mayRetry`). An answer the client cannot read (not JSON, a
 * stream event that is not a JSON object or too long) is a KeywardError of type `invalid_response`.
 */
export class KeywardClient {
  private readonly base: string;
  private readonly options: ClientOptions;
  private readonly doFetch: typeof fetch;
  /** Cookies a non-browser runtime was given (browsers keep their own). */
  private readonly jar = new Map<string, string>();
  private refreshing: Promise<boolean> | undefined;
  /** Counts successful refreshes: a request sent before the latest one just tries again. */
  private refreshes = 0;

  constructor(options: ClientOptions) {
    this.options = options;
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  readonly chat = {
    completions: {
      create: (body: Body, o?: RequestOptions) =>
        this.json<ChatCompletion>('POST', '/v1/chat/completions', { ...body, stream: false }, o),
      stream: (body: Body, o?: RequestOptions) =>
        this.deltas(
          '/v1/chat/completions',
          { ...body, stream: true, stream_options: { include_usage: true } },
          o,
        ),
    },
  };

  readonly responses = {
    create: (body: Body, o?: RequestOptions) =>
      this.json<Body>('POST', '/v1/responses', { ...body, stream: false }, o),
    /** The Responses API's events (`response.output_text.delta`, …), parsed; an error event throws. */
    stream: (body: Body, o?: RequestOptions) => this.events('/v1/responses', { ...body, stream: true }, o),
    get: (id: string, o?: RequestOptions) => this.json<Body>('GET', `/v1/responses/${enc(id)}`, undefined, o),
    delete: (id: string, o?: RequestOptions) =>
      this.json<Body>('DELETE', `/v1/responses/${enc(id)}`, undefined, o),
    inputItems: (id: string, o?: RequestOptions) =>
      this.json<Body>('GET', `/v1/responses/${enc(id)}/input_items`, undefined, o),
  };

  readonly conversations = {
    create: (body: Body = {}, o?: RequestOptions) => this.json<Body>('POST', '/v1/conversations', body, o),
    get: (id: string, o?: RequestOptions) =>
      this.json<Body>('GET', `/v1/conversations/${enc(id)}`, undefined, o),
    update: (id: string, body: Body, o?: RequestOptions) =>
      this.json<Body>('POST', `/v1/conversations/${enc(id)}`, body, o),
    delete: (id: string, o?: RequestOptions) =>
      this.json<Body>('DELETE', `/v1/conversations/${enc(id)}`, undefined, o),
    items: {
      list: (id: string, query: Record<string, string | number> = {}, o?: RequestOptions) =>
        this.json<Body>('GET', `/v1/conversations/${enc(id)}/items${queryString(query)}`, undefined, o),
      create: (id: string, body: Body, o?: RequestOptions) =>
        this.json<Body>('POST', `/v1/conversations/${enc(id)}/items`, body, o),
      get: (id: string, item: string, o?: RequestOptions) =>
        this.json<Body>('GET', `/v1/conversations/${enc(id)}/items/${enc(item)}`, undefined, o),
      delete: (id: string, item: string, o?: RequestOptions) =>
        this.json<Body>('DELETE', `/v1/conversations/${enc(id)}/items/${enc(item)}`, undefined, o),
    },
  };

  readonly templates = {
    list: async (o?: RequestOptions) =>
      (await this.json<{ data: TemplateInfo[] }>('GET', '/v1/templates', undefined, o)).data,
    run: <T = unknown>(name: string, params: Body = {}, o?: RequestOptions) =>
      this.json<TemplateRun<T>>('POST', `/v1/templates/${enc(name)}/run`, { params }, o),
    stream: (name: string, params: Body = {}, o?: RequestOptions) =>
      this.deltas(`/v1/templates/${enc(name)}/run`, { params, stream: true }, o),
  };

  readonly sessions = {
    /** Exchanges a one-time login code for the session cookies. */
    login: (code: string, o?: RequestOptions) => this.json<SessionInfo>('POST', '/auth/session', { code }, o),
    refresh: (o?: RequestOptions) => this.json<SessionInfo>('POST', '/auth/refresh', {}, o),
    logout: (o?: RequestOptions) => this.json<SessionInfo>('POST', '/auth/logout', {}, o),
    current: (o?: RequestOptions) => this.json<SessionInfo>('GET', '/auth/session', undefined, o),
    guest: (o?: RequestOptions) => this.json<SessionInfo>('POST', '/auth/guest', {}, o),
  };

  rateLimitStatus(o?: RequestOptions): Promise<Body> {
    return this.json('GET', '/v1/rate-limit-status', undefined, o);
  }

  health(o?: RequestOptions): Promise<Body> {
    return this.json('GET', '/health', undefined, o);
  }

  private async json<T>(
    method: Method,
    path: string,
    body: Body | undefined,
    o?: RequestOptions,
  ): Promise<T> {
    const { response, release } = await this.send(method, path, body, o);
    const requestId = response.headers.get('x-request-id');
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw o?.signal?.aborted ? aborted(requestId) : asKeywardError(error, requestId);
    } finally {
      release();
    }
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      const type = response.headers.get('content-type') || 'no content type';
      throw invalidResponse(
        `The gateway's answer is not JSON (HTTP ${response.status}, ${type}): ${excerpt(text)}`,
        response.status,
        'invalid_json',
        requestId,
      );
    }
  }

  /** Chat completion chunks as deltas; the stream is never retried once it has begun. */
  private async *deltas(path: string, body: Body, o?: RequestOptions): AsyncGenerator<ChatDelta> {
    for await (const chunk of this.events(path, body, o)) {
      const choice = (chunk.choices as Array<Body> | undefined)?.[0];
      const delta = (choice?.delta ?? {}) as Body;
      yield {
        content: typeof delta.content === 'string' ? delta.content : '',
        ...(Array.isArray(delta.tool_calls) && { toolCalls: delta.tool_calls }),
        finishReason: (choice?.finish_reason as string | undefined) ?? null,
        ...(chunk.usage ? { usage: chunk.usage as ChatDelta['usage'] } : {}),
        chunk,
      };
    }
  }

  /** A stream's events as JSON, until `[DONE]` or its end; an error event throws a KeywardError. */
  private async *events(path: string, body: Body, o?: RequestOptions): AsyncGenerator<Body> {
    const { response, release } = await this.send('POST', path, body, o);
    const { status } = response;
    const requestId = response.headers.get('x-request-id');
    try {
      if (!response.body) return;
      for await (const data of sseData(response.body, { status, requestId })) {
        if (data === '[DONE]') return;
        // Events already received are not handed out once the caller has cancelled.
        if (o?.signal?.aborted) throw aborted(requestId);
        const event = parseEvent(data, status, requestId);
        if (event.error || event.type === 'error' || event.type === 'response.failed')
          throw errorFrom(event.error ? event : { error: event }, 502, requestId, null);
        yield event;
      }
    } catch (error) {
      throw o?.signal?.aborted ? aborted(requestId) : asKeywardError(error, requestId);
    } finally {
      release();
    }
  }

  /**
   * One request with its retries (as `mayRetry` allows) and, for a session, one transparent
   * refresh. The caller must `release()` once it has read the body.
   */
  private async send(
    method: Method,
    path: string,
    body: Body | undefined,
    o: RequestOptions = {},
  ): Promise<Sent> {
    const opts = this.options;
    const retries = o.maxRetries ?? opts.maxRetries ?? 2;
    const cap = opts.maxRetryDelayMs ?? 30_000;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let failure: KeywardError;
      const sentAfter = this.refreshes;
      const sent = await this.attempt(method, path, body, o).catch((error: unknown) =>
        asKeywardError(error, null),
      );
      if (sent instanceof KeywardError) {
        failure = sent;
        if (!mayRetry(method, path, failure, unsent.has(failure))) throw failure;
      } else {
        const { response, release } = sent;
        if (response.ok) return sent;
        try {
          failure = await failureOf(response);
        } finally {
          release();
        }
        if (response.status === 401 && !refreshed && !opts.apiKey && !path.startsWith('/auth/')) {
          refreshed = true;
          if (sentAfter !== this.refreshes || (await this.refreshSession())) {
            attempt--;
            continue;
          }
        }
        // The gateway names the attempts that reached a provider unanswered: it may have run them.
        const ran = Number(response.headers.get('x-keyward-unanswered-attempts') ?? 0) > 0;
        if (!mayRetry(method, path, failure, false, ran)) throw failure;
      }
      const wait = backoffMs(
        attempt,
        failure.retryAfter,
        opts.random ?? Math.random,
        opts.retryBaseMs ?? 500,
        cap,
      );
      if (attempt >= retries || wait > cap) throw failure;
      try {
        await (opts.sleep ?? sleep)(wait, o.signal);
      } catch {
        throw aborted(failure.requestId);
      }
    }
  }

  /**
   * One fetch, abandoned after `timeoutMs` without response headers. The caller's signal stays
   * tied to the response until `release()`, once its body is read: a signal reused across requests
   * keeps no listener of a request that is over.
   */
  private async attempt(
    method: Method,
    path: string,
    body: Body | undefined,
    o: RequestOptions,
  ): Promise<Sent> {
    const { signal } = o;
    if (signal?.aborted) throw aborted(null);
    const controller = new AbortController();
    const cancel = () => controller.abort();
    signal?.addEventListener('abort', cancel, { once: true });
    const release = () => signal?.removeEventListener('abort', cancel);
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        controller.abort();
      },
      o.timeoutMs ?? this.options.timeoutMs ?? 60_000,
    );
    try {
      const response = await this.doFetch(this.base + path, {
        method,
        headers: this.headers(body !== undefined),
        ...(body !== undefined && { body: JSON.stringify(body) }),
        credentials: this.options.credentials ?? 'same-origin',
        signal: controller.signal,
      });
      this.keepCookies(response);
      return { response, release };
    } catch (error) {
      release();
      if (signal?.aborted) throw aborted(null);
      if (timedOut) throw new KeywardError('The gateway did not answer in time', 0, 'timeout');
      const failure = asKeywardError(error, null);
      if (notSent(error)) unsent.add(failure);
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = {
      accept: 'application/json, text/event-stream',
      ...this.options.headers,
    };
    if (json) headers['content-type'] = 'application/json';
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    return headers;
  }

  /** Node's fetch keeps no cookies: the session's are kept here (browsers never expose them). */
  private keepCookies(response: Response): void {
    for (const line of response.headers.getSetCookie?.() ?? []) {
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = !value || attributes.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a));
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  /** One refresh shared by every request that found the session expired at the same time. */
  private refreshSession(): Promise<boolean> {
    this.refreshing ??= this.send('POST', '/auth/refresh', {}, { maxRetries: 0 }).then(
      async ({ response, release }) => {
        // The new cookies came with the headers; the body is read only to free the connection.
        await response.text().catch(() => {});
        release();
        return ++this.refreshes > 0;
      },
      () => false,
    );
    const done = this.refreshing;
    done.finally(() => {
      if (this.refreshing === done) this.refreshing = undefined;
    });
    return done;
  }
}

const aborted = (requestId: string | null) =>
  new KeywardError('The request was aborted', 0, 'aborted', null, requestId);

/** The client's own error for an answer it cannot read (type `invalid_response`). */
const invalidResponse = (message: string, status: number, code: string, requestId: string | null) =>
  new KeywardError(message, status, 'invalid_response', code, requestId);

/** The start of an unreadable answer, on one line, for an error message. */
function excerpt(text: string): string {
  const line = text.slice(0, 200).replace(/\s+/g, ' ').trim();
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
}

/** One stream event's data as a JSON object, or an `invalid_event` error quoting what came instead. */
function parseEvent(data: string, status: number, requestId: string | null): Body {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    event = undefined;
  }
  if (event !== null && typeof event === 'object' && !Array.isArray(event)) return event as Body;
  throw invalidResponse(
    `A stream event from the gateway is not a JSON object: ${excerpt(data)}`,
    status,
    'invalid_event',
    requestId,
  );
}

function asKeywardError(error: unknown, requestId: string | null): KeywardError {
  if (error instanceof KeywardError) return error;
  return new KeywardError(
    `The gateway could not be reached: ${(error as Error)?.message}`,
    0,
    'network_error',
    null,
    requestId,
  );
}

async function failureOf(response: Response): Promise<KeywardError> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    body = undefined;
  }
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'), Date.now());
  return errorFrom(body, response.status, response.headers.get('x-request-id'), retryAfter);
}

function queryString(query: Record<string, string | number>): string {
  const entries = Object.entries(query);
  return entries.length === 0 ? '' : `?${entries.map(([k, v]) => `${enc(k)}=${enc(String(v))}`).join('&')}`;
}
