import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { type RawConnection, rawConnection } from '../support/raw-socket.js';

/**
 * The /auth routes answer anyone, before any credential is checked. A body they do not read must
 * not be read whole and parsed: each is refused from its headers (origin, guests off) or at the
 * route's own size limit, while the client is still sending it.
 */

const APP = 'https://app.example.test';
const EVIL = 'https://evil.example.test';
/** What the reviewer sent: just under the listener's 10 MB limit. */
const DECLARED = 9 * 1024 * 1024;

const POST_ROUTES = ['/auth/session', '/auth/refresh', '/auth/logout', '/auth/guest'] as const;

/** No CORS origins, no guests: what `keyward start` serves without configuration. */
let plain: TestGateway;
/** An app's origin allowed, guests on. */
let open: TestGateway;

beforeAll(async () => {
  plain = await startTestGateway({}, { KEYWARD_ADMIN_KEY: ADMIN_KEY });
  open = await startTestGateway(
    {
      server: { cors: { origins: [APP] } },
      auth: { guest: { enabled: true, scopes: ['chat'], limits: { rpm: 10 } } },
    },
    { KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
});
afterAll(async () => {
  await plain?.close();
  await open?.close();
});

/** The opening of a large JSON body of many small members, as the reviewer's script sent. */
const opening = (bytes: number): string => {
  let text = '{';
  for (let i = 0; text.length < bytes; i++) text += `"${i.toString(36).padStart(40, 'k')}":0,`;
  return text;
};

/** The status line, and the error code of the JSON body, of a raw HTTP answer. */
function answer(raw: string): { status: number; code: string | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return { status, code: JSON.parse(body).error?.code };
}

/**
 * Sends the headers of a POST declaring `DECLARED` bytes and only the first 64 KB of its body,
 * then waits for a complete answer: one that comes proves the body was refused without being
 * read to its end (and so without being parsed). The body's remainder is never sent.
 */
async function refusedMidUpload(
  gateway: TestGateway,
  path: string,
  headers: Record<string, string>,
  framing: 'length' | 'chunked' = 'length',
): Promise<{ status: number; code: string | undefined }> {
  const head = [
    `POST ${path} HTTP/1.1`,
    'Host: localhost',
    framing === 'length' ? `Content-Length: ${DECLARED}` : 'Transfer-Encoding: chunked',
    ...Object.entries({ 'Content-Type': 'application/json', ...headers }).map(
      ([name, value]) => `${name}: ${value}`,
    ),
  ].join('\r\n');
  const part = opening(64 * 1024);
  const body = framing === 'length' ? part : `${part.length.toString(16)}\r\n${part}\r\n`;
  const connection: RawConnection = await rawConnection(gateway.dataUrl, `${head}\r\n\r\n${body}`);
  try {
    const raw = await Promise.race([
      completeAnswer(connection),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no answer from ${path} while its body was still unsent`)), 5_000),
      ),
    ]);
    return answer(raw);
  } finally {
    connection.socket.destroy();
  }
}

/** Everything the server sent once a whole answer (its body sized by Content-Length) is in. */
function completeAnswer(connection: RawConnection): Promise<string> {
  return new Promise((resolve) => {
    const check = () => {
      const raw = connection.received();
      const end = raw.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(raw.slice(0, end))?.[1] ?? 0);
      if (Buffer.byteLength(raw.slice(end + 4)) < length) return;
      connection.socket.off('data', check);
      resolve(raw);
    };
    connection.socket.on('data', check);
    check();
  });
}

async function call(gateway: TestGateway, method: 'GET' | 'POST', path: string, body?: string) {
  const res = await request(`${gateway.dataUrl}${path}`, {
    method,
    headers: { origin: APP, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

describe('a large body to an /auth route is refused before it is read', () => {
  it.each(POST_ROUTES)('%s: a foreign origin gets its 403 from the headers', async (path) => {
    expect(await refusedMidUpload(plain, path, { Origin: EVIL })).toEqual({
      status: 403,
      code: 'origin_not_allowed',
    });
  });

  it.each(POST_ROUTES)(
    '%s: no Origin (and no Sec-Fetch-Site) gets its 403 from the headers',
    async (path) => {
      expect(await refusedMidUpload(plain, path, {})).toEqual({ status: 403, code: 'origin_required' });
    },
  );

  it.each(POST_ROUTES)('%s: a body not sent as JSON gets the CSRF 403 from the headers', async (path) => {
    expect(await refusedMidUpload(open, path, { Origin: APP, 'Content-Type': 'text/plain' })).toEqual({
      status: 403,
      code: 'json_body_required',
    });
  });

  it('/auth/guest with guests off gets its 403 from the headers, after the origin check', async () => {
    // Sec-Fetch-Site is a header any script can send: it passes the origin check of a gateway
    // that allows no origin, so what stops the body is the next refusal.
    expect(await refusedMidUpload(plain, '/auth/guest', { 'Sec-Fetch-Site': 'same-origin' })).toEqual({
      status: 403,
      code: 'guest_disabled',
    });
  });

  it("names the route's own limit in the 413's message, not the listener's", async () => {
    const refused = await call(open, 'POST', '/auth/logout', JSON.stringify({ pad: 'a'.repeat(2_000) }));
    expect(refused.status).toBe(413);
    expect(refused.json.error.message).toBe('Request body is larger than the limit of 1024 bytes');
  });

  it.each(POST_ROUTES)("%s: from an allowed origin, a 413 at the route's own limit", async (path) => {
    expect(await refusedMidUpload(open, path, { Origin: APP })).toEqual({
      status: 413,
      code: 'body_too_large',
    });
  });

  it.each(['/auth/session', '/auth/refresh', '/auth/logout'])(
    '%s: Sec-Fetch-Site: same-origin on a gateway allowing no origin meets the same 413',
    async (path) => {
      expect(await refusedMidUpload(plain, path, { 'Sec-Fetch-Site': 'same-origin' })).toEqual({
        status: 413,
        code: 'body_too_large',
      });
    },
  );

  it.each(POST_ROUTES)('%s: a chunked body without a length is cut off at the limit too', async (path) => {
    expect(await refusedMidUpload(open, path, { Origin: APP }, 'chunked')).toEqual({
      status: 413,
      code: 'body_too_large',
    });
  });
});

describe('what the routes take still works', () => {
  it('logs in with a code, also one escaped to the longest the schema allows', async () => {
    const minted = await adminCall(open.adminUrl, 'POST', '/admin/sessions', { userId: 'alice' });
    expect(minted.status).toBe(201);
    const login = await call(
      open,
      'POST',
      '/auth/session',
      JSON.stringify({ code: minted.json.code }, null, 2),
    );
    expect(login.status).toBe(200);
    expect(login.json).toEqual({ userId: 'alice', expiresAt: expect.any(String) });

    // 256 characters, each written as \uXXXX: parsed and checked, not refused for its size.
    const escaped = `{ "code": "${'\\u0041'.repeat(256)}" }`;
    const unknown = await call(open, 'POST', '/auth/session', escaped);
    expect(unknown.status).toBe(401);
    expect(unknown.json.error.code).toBe('invalid_login_code');
  });

  it('refreshes, describes and logs out with the body keyward/client sends ({})', async () => {
    const guest = await call(open, 'POST', '/auth/guest', '{}');
    expect(guest.status).toBe(200);
    const cookies = ([] as string[])
      .concat(guest.headers['set-cookie'] ?? [])
      .map((line) => line.split(';')[0])
      .join('; ');
    const withCookies = async (method: 'GET' | 'POST', path: string, body?: string) => {
      const res = await request(`${open.dataUrl}${path}`, {
        method,
        headers: { origin: APP, cookie: cookies, ...(body && { 'content-type': 'application/json' }) },
        ...(body && { body }),
      });
      const text = await res.body.text();
      return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
    };
    expect((await withCookies('GET', '/auth/session')).json).toMatchObject({ guest: true });
    expect((await withCookies('POST', '/auth/refresh', '{}')).status).toBe(200);
    expect((await withCookies('POST', '/auth/logout', '{}')).status).toBe(204);
    // And with no body at all.
    expect((await call(open, 'POST', '/auth/logout')).status).toBe(204);
    const missing = await call(open, 'POST', '/auth/refresh');
    expect(missing.status).toBe(401);
    expect(missing.json.error.code).toBe('missing_refresh_token');
  });

  it('answers a malformed small body from an allowed origin as before', async () => {
    const res = await call(open, 'POST', '/auth/session', '{"code":');
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_json');
  });
});
