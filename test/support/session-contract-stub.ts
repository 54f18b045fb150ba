/**
 * A stand-in for the browser-session routes of DESIGN.md §3 (`POST /auth/session {code}`,
 * `POST /auth/refresh`, `POST /auth/logout`, `GET /auth/session`, `POST /auth/guest`), written
 * from the contract only, until the gateway's own (issue 15) lands: cookies
 * `__Host-keyward_session` and `__Host-keyward_refresh` (HttpOnly, Secure, SameSite=Lax), refresh
 * tokens rotating on use with reuse ending the family, and cookie requests held to an allowed
 * Origin. One data route, `POST /v1/chat/completions`, answers only with a live session.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SessionStub {
  url: string;
  /** Every request received, in order: method and path. */
  log: string[];
  /** The live session stops working (as when its 15 minutes are over); the refresh token does not. */
  expireSession(): void;
  /** The one Origin cookie requests are accepted from (set once the page's origin is known). */
  allowOrigin(origin: string): void;
  /** Serves extra paths (a test page) before the contract routes. */
  extra: Map<string, { type: string; body: string }>;
  close(): Promise<void>;
}

const COOKIE = 'HttpOnly; Secure; SameSite=Lax; Path=/';

function cookies(req: IncomingMessage): Map<string, string> {
  const jar = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) jar.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return jar;
}

function send(res: ServerResponse, status: number, body: unknown, setCookies: string[] = []): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-request-id': `req_stub_${Math.random().toString(36).slice(2)}`,
    ...(setCookies.length > 0 && { 'set-cookie': setCookies }),
  });
  res.end(JSON.stringify(body));
}

const error = (type: string, code: string, message: string) => ({
  error: { type, code, message, param: null },
});

export async function startSessionStub(options: { origin?: string; code: string }): Promise<SessionStub> {
  const log: string[] = [];
  let allowed = options.origin;
  const extra = new Map<string, { type: string; body: string }>();
  let serial = 0;
  let session: string | undefined;
  let refresh: string | undefined;
  const retired = new Set<string>();

  const issue = (): string[] => {
    serial += 1;
    session = `s${serial}`;
    refresh = `r${serial}`;
    return [
      `__Host-keyward_session=${session}; Max-Age=900; ${COOKIE}`,
      `__Host-keyward_refresh=${refresh}; Max-Age=2592000; ${COOKIE}`,
    ];
  };
  const clear = [
    `__Host-keyward_session=; Max-Age=0; ${COOKIE}`,
    `__Host-keyward_refresh=; Max-Age=0; ${COOKIE}`,
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const path = req.url ?? '/';
    log.push(`${req.method} ${path}`);
    const page = extra.get(path);
    if (page) {
      res.writeHead(200, { 'content-type': page.type });
      res.end(page.body);
      return;
    }
    const jar = cookies(req);
    const origin = req.headers.origin;
    if (req.method === 'POST' && allowed && origin !== allowed) {
      send(res, 403, error('permission_error', 'origin_not_allowed', 'This origin may not use a session'));
      return;
    }
    const live = session !== undefined && jar.get('__Host-keyward_session') === session;
    const route = `${req.method} ${path}`;
    if (route === 'POST /auth/session') {
      const { code } = JSON.parse(raw || '{}') as { code?: string };
      if (code !== options.code)
        return send(res, 401, error('authentication_error', 'invalid_code', 'Unknown or used code'));
      return send(
        res,
        200,
        { userId: 'u1', expiresAt: new Date(Date.now() + 900_000).toISOString() },
        issue(),
      );
    }
    if (route === 'POST /auth/guest') return send(res, 200, { userId: null, guest: true }, issue());
    if (route === 'POST /auth/refresh') {
      const presented = jar.get('__Host-keyward_refresh');
      if (presented && retired.has(presented)) {
        session = refresh = undefined;
        return send(res, 401, error('authentication_error', 'refresh_reused', 'Session ended'), clear);
      }
      if (!presented || presented !== refresh)
        return send(res, 401, error('authentication_error', 'invalid_refresh', 'Log in again'), clear);
      retired.add(presented);
      return send(res, 200, { userId: 'u1' }, issue());
    }
    if (route === 'POST /auth/logout') {
      session = refresh = undefined;
      return send(res, 200, { ok: true }, clear);
    }
    if (route === 'GET /auth/session') {
      return live
        ? send(res, 200, { userId: 'u1', session })
        : send(res, 401, error('authentication_error', 'session_expired', 'The session has expired'));
    }
    if (route === 'POST /v1/chat/completions') {
      if (!live)
        return send(res, 401, error('authentication_error', 'session_expired', 'The session has expired'));
      return send(res, 200, {
        id: 'chatcmpl-stub',
        object: 'chat.completion',
        choices: [
          { index: 0, message: { role: 'assistant', content: `hello ${session}` }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      });
    }
    send(res, 404, error('not_found_error', 'not_found', 'No such route'));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    extra,
    allowOrigin(origin) {
      allowed = origin;
    },
    expireSession() {
      session = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
