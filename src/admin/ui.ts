import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../errors/gateway-error.js';
import { parseInput } from '../http/parse-input.js';
import { readCookie } from '../sessions/cookies.js';
import type { TokenRecord } from '../store/index.js';
import { ADMIN_COOKIE, type AdminUiSessions, adminCookie } from './ui-sessions.js';

/** Where `npm ci` (the `prepare` step) builds the dashboard; the same path from src/ and dist/. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

/** No inline script or style, nothing from elsewhere, never framed. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const loginBody = z.strictObject({ credential: z.string().min(1).max(512) });

export interface AdminUiOptions {
  sessions: AdminUiSessions;
  uiDir: string;
  /**
   * Checks an admin credential as the API does; throws the same 401/403 (and counts the failure).
   * Answers the actor (null for the admin key) and what its session records (`AdminSessionRecord`).
   */
  login(
    request: FastifyRequest,
    credential: string,
  ): Promise<{ actor: TokenRecord | null; recorded: string }>;
  /** The actor of the request's session cookie; undefined without a live session. */
  current(request: FastifyRequest): Promise<TokenRecord | null | undefined>;
}

const notBuilt = new GatewayError(
  404,
  'not_found_error',
  'The dashboard is not built; run npm run build (npm ci builds it too)',
  { code: 'dashboard_not_built' },
);

/**
 * The dashboard: its static files under `/admin/ui/` (hashed assets cached for good, the page
 * never), and its login, which turns the admin key or an admin-scoped token into a session cookie
 * the browser sends with the dashboard's API calls.
 */
export function adminUiRoutes(app: FastifyInstance, options: AdminUiOptions): void {
  const files = new Map<string, Buffer>();
  const serve = async (reply: FastifyReply, path: string) => {
    const safe = normalize(path).replace(/^(\.\.[/\\])+/, '');
    let body = files.get(safe);
    if (!body) {
      body = await readFile(join(options.uiDir, safe)).catch(() => undefined);
      if (!body)
        throw path === 'index.html'
          ? notBuilt
          : new GatewayError(404, 'not_found_error', 'No such file', { code: 'unknown_route' });
      files.set(safe, body);
    }
    return reply
      .header('content-type', TYPES[extname(safe)] ?? 'application/octet-stream')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header(
        'cache-control',
        safe.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-store',
      )
      .send(body);
  };

  app.get('/admin/ui', (_request, reply) => reply.redirect('/admin/ui/'));
  app.get('/admin/ui/', (_request, reply) => serve(reply, 'index.html'));
  app.get('/admin/ui/assets/*', (request: FastifyRequest<{ Params: { '*': string } }>, reply) =>
    serve(reply, `assets/${request.params['*']}`),
  );

  app.post('/admin/ui/login', async (request, reply) => {
    const { credential } = parseInput(loginBody, request.body);
    const { actor, recorded } = await options.login(request, credential);
    const { id, maxAgeSec } = await options.sessions.create(recorded);
    return reply
      .header('set-cookie', adminCookie(id, maxAgeSec))
      .send({ actor: actor ? { kind: 'token', id: actor.id, name: actor.name } : { kind: 'admin_key' } });
  });

  app.post('/admin/ui/logout', async (request, reply) => {
    await options.sessions.end(readCookie(request.headers, ADMIN_COOKIE));
    return reply.header('set-cookie', adminCookie('', 0)).send({ ok: true });
  });

  // Open, so that the page's first question (am I logged in?) is not a 401 in the browser's console.
  app.get('/admin/ui/session', async (request) => {
    const actor = await options.current(request);
    if (actor === undefined) return { loggedIn: false };
    return {
      loggedIn: true,
      actor: actor ? { kind: 'token', id: actor.id, name: actor.name } : { kind: 'admin_key' },
    };
  });
}
