// The browser credentials the bench loads Keyward with, beside the gateway token: a cookie
// session (minted through the admin API and exchanged as a browser would) and a bearer JWT
// signed by a local identity provider whose JWKS Keyward fetches.

import { once } from 'node:events';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { request } from 'undici';

export const BENCH_ORIGIN = 'https://app.bench.test';
export const JWT_ISSUER = 'https://id.bench.test/';
export const JWT_AUDIENCE = 'keyward-bench';

/** A JWKS server on loopback with one ES256 key; `sign()` makes a token valid for a day. */
export async function startIdentityProvider() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  server.unref();
  return {
    jwksUrl: `http://127.0.0.1:${server.address().port}/jwks.json`,
    sign: () =>
      new SignJWT({ sub: 'bench-jwt-user' })
        .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
        .setIssuer(JWT_ISSUER)
        .setAudience(JWT_AUDIENCE)
        .setExpirationTime('1d')
        .sign(privateKey),
  };
}

/** Mints a login code with the admin key and exchanges it: returns the session cookie header. */
export async function sessionCookie(dataUrl, adminUrl, adminKey) {
  const minted = await request(`${adminUrl}/admin/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      userId: 'bench-session-user',
      limits: { rpm: 1000000000, tpm: 1000000000, concurrency: 100000 },
      budget: { usd: 1000000, period: 'day' },
    }),
  });
  const { code } = await minted.body.json();
  const login = await request(`${dataUrl}/auth/session`, {
    method: 'POST',
    headers: { origin: BENCH_ORIGIN, 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  await login.body.dump();
  if (login.statusCode !== 200) throw new Error(`session login failed: ${login.statusCode}`);
  const lines = [].concat(login.headers['set-cookie'] ?? []);
  return lines.find((line) => line.startsWith('__Host-keyward_session=')).split(';')[0];
}
