import { errorFrom, KeywardError } from './errors.js';
import { backoffMs, parseRetryAfter, RETRYABLE, sleep } from './retry.js';
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

const enc = encodeURIComponent;

/**
 * A client for a Keyward gateway, for browsers and Node 20+: chat completions, responses,
 * conversations, templates and sessions, with retries and typed errors.
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
    const response = await this.send(method, path, body, o);
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw o?.signal?.aborted ? aborted(null) : asKeywardError(error, null);
    }
    return (text ? JSON.parse(text) : undefined) as T;
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
    const response = await this.send('POST', path, body, o);
    const requestId = response.headers.get('x-request-id');
    if (!response.body) return;
    try {
      for await (const data of sseData(response.body)) {
        if (data === '[DONE]') return;
        // Events already received are not handed out once the caller has cancelled.
        if (o?.signal?.aborted) throw aborted(requestId);
        const event = JSON.parse(data) as Body;
        if (event.error || event.type === 'error' || event.type === 'response.failed')
          throw errorFrom(event.error ? event : { error: event }, 502, requestId, null);
        yield event;
      }
    } catch (error) {
      throw o?.signal?.aborted ? aborted(requestId) : asKeywardError(error, requestId);
    }
  }

  /** One request with its retries and, for a session, one transparent refresh. */
  private async send(
    method: Method,
    path: string,
    body: Body | undefined,
    o: RequestOptions = {},
  ): Promise<Response> {
    const opts = this.options;
    const retries = o.maxRetries ?? opts.maxRetries ?? 2;
    const cap = opts.maxRetryDelayMs ?? 30_000;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let failure: KeywardError;
      const sentAfter = this.refreshes;
      try {
        const response = await this.attempt(method, path, body, o);
        if (response.ok) return response;
        failure = await failureOf(response);
        if (response.status === 401 && !refreshed && !opts.apiKey && !path.startsWith('/auth/')) {
          refreshed = true;
          if (sentAfter !== this.refreshes || (await this.refreshSession())) {
            attempt--;
            continue;
          }
        }
        if (!RETRYABLE.includes(response.status)) throw failure;
      } catch (error) {
        failure = asKeywardError(error, null);
        if (failure.type === 'aborted' || failure.status >= 400) throw failure;
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

  /** One fetch, abandoned after `timeoutMs` without response headers. */
  private async attempt(
    method: Method,
    path: string,
    body: Body | undefined,
    o: RequestOptions,
  ): Promise<Response> {
    const { signal } = o;
    if (signal?.aborted) throw aborted(null);
    const controller = new AbortController();
    const cancel = () => controller.abort();
    signal?.addEventListener('abort', cancel, { once: true });
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
      return response;
    } catch (error) {
      if (signal?.aborted) throw aborted(null);
      if (timedOut) throw new KeywardError('The gateway did not answer in time', 0, 'timeout');
      throw asKeywardError(error, null);
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
      () => ++this.refreshes > 0,
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
