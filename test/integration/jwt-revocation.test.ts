import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

/**
 * What a JWT revocation names and what it refuses: an issuer that is not configured, the user id
 * usage and audit show, and tokens dated in the future.
 */

const PROVIDER_KEY = 'sk-jwt-revocation-provider-key-0123456789';
const AUDIENCE = 'keyward';
/** Trailing slash, as Auth0 writes its issuers. */
const ONE = 'https://idp.test/';
const TWO = 'https://other-idp.test/';
/** Issuer one's clock tolerance, short so that signing in again after a revocation can be waited for. */
const ONE_TOLERANCE_SEC = 2;

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let jwks: Server;
let kw: TestGateway;
let pair: Awaited<ReturnType<typeof generateKeyPair>>;

beforeAll(async () => {
  pair = await generateKeyPair('RS256', { extractable: true });
  const published: JWK[] = [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
  jwks = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: {
        jwt: [
          {
            issuer: ONE,
            audience: AUDIENCE,
            jwksUrl,
            algorithms: ['RS256'],
            userPrefix: 'one:',
            clockToleranceSec: ONE_TOLERANCE_SEC,
          },
          { issuer: TWO, audience: AUDIENCE, jwksUrl, algorithms: ['RS256'], userPrefix: 'two:' },
        ],
      },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
}, 60_000);

afterAll(async () => {
  await kw?.close();
  await fake?.close();
  await new Promise((resolve) => jwks?.close(resolve));
});

const nowSec = () => Date.now() / 1000;

function sign(sub: string, iss: string, iat?: number): Promise<string> {
  return new SignJWT({ sub, iss, aud: AUDIENCE, ...(iat !== undefined && { iat }) })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setExpirationTime('5m')
    .sign(pair.privateKey);
}

async function chat(credential: string): Promise<{ status: number; code: string | undefined }> {
  const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const json = (await res.body.json()) as { error?: { code?: string } };
  return { status: res.statusCode, code: json.error?.code };
}

const revoke = (body: Record<string, string>) =>
  adminCall(kw.adminUrl, 'POST', '/admin/jwt/revocations', body);

describe('a JWT revocation naming an issuer', () => {
  it('refuses an issuer that is not configured, naming the configured ones, and stores nothing', async () => {
    const token = await sign('dave', ONE);
    expect((await chat(token)).status).toBe(200);
    const missingSlash = await revoke({ claim: 'sub', value: 'dave', issuer: 'https://idp.test' });
    expect(missingSlash.status).toBe(400);
    expect(missingSlash.json.error.code).toBe('unknown_issuer');
    expect(missingSlash.json.error.param).toBe('issuer');
    expect(missingSlash.json.error.message).toContain(`"${ONE}", "${TWO}"`);
    expect((await chat(token)).status).toBe(200);
    const exact = await revoke({ claim: 'sub', value: 'dave', issuer: ONE });
    expect(exact.status).toBe(201);
    expect(await chat(token)).toEqual({ status: 401, code: 'jwt_revoked' });
  });
});

describe('a sub revocation by the user id usage and audit show', () => {
  it("refuses that user's tokens, of that issuer only, with or without the issuer named", async () => {
    const oneFrank = await sign('frank', ONE, Math.floor(nowSec()) - 10);
    const twoFrank = await sign('frank', TWO, Math.floor(nowSec()) - 10);
    expect((await chat(oneFrank)).status).toBe(200);
    expect((await chat(twoFrank)).status).toBe(200);
    expect((await revoke({ claim: 'sub', value: 'one:frank' })).status).toBe(201);
    expect(await chat(oneFrank)).toEqual({ status: 401, code: 'jwt_revoked' });
    // "two:frank" is another user: not touched.
    expect((await chat(twoFrank)).status).toBe(200);
    expect((await revoke({ claim: 'sub', value: 'two:frank', issuer: TWO })).status).toBe(201);
    expect(await chat(twoFrank)).toEqual({ status: 401, code: 'jwt_revoked' });
  });

  it('still refuses a raw sub that happens to begin with a prefix: never weaker than asked', async () => {
    const literal = await sign('one:gina', TWO, Math.floor(nowSec()) - 10);
    expect((await chat(literal)).status).toBe(200);
    expect((await revoke({ claim: 'sub', value: 'one:gina' })).status).toBe(201);
    expect(await chat(literal)).toEqual({ status: 401, code: 'jwt_revoked' });
  });
});

describe('a JWT dated in the future', () => {
  it('is refused past the clock tolerance, so it cannot outlive a revocation; within it, served', async () => {
    // An identity provider whose clock runs 20 s ahead, within issuer two's 30 s tolerance.
    const ahead = await sign('harry', TWO, Math.ceil(nowSec()) + 20);
    expect((await chat(ahead)).status).toBe(200);
    const past = await sign('harry', TWO, Math.ceil(nowSec()) + 31);
    const far = await sign('harry', TWO, 1e15);
    expect((await revoke({ claim: 'sub', value: 'harry' })).status).toBe(201);
    expect(await chat(ahead)).toEqual({ status: 401, code: 'jwt_revoked' });
    // The same generic refusal as any other unusable token.
    expect(await chat(past)).toEqual({ status: 401, code: 'invalid_jwt' });
    expect(await chat(far)).toEqual({ status: 401, code: 'invalid_jwt' });
  });

  it('cannot outlive a sid revocation either', async () => {
    const withSid = (iat: number) =>
      new SignJWT({ sub: 'ivan', sid: 'sid-ivan', iss: TWO, aud: AUDIENCE, iat })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setExpirationTime('5m')
        .sign(pair.privateKey);
    const far = await withSid(1e15);
    expect((await revoke({ claim: 'sid', value: 'sid-ivan' })).status).toBe(201);
    expect(await chat(far)).toEqual({ status: 401, code: 'invalid_jwt' });
  });

  it('leaves signing in again after a revocation working', async () => {
    const before = await sign('judy', ONE, Math.floor(nowSec()) - 10);
    expect((await chat(before)).status).toBe(200);
    expect((await revoke({ claim: 'sub', value: 'judy', issuer: ONE })).status).toBe(201);
    const revokedBy = nowSec();
    expect(await chat(before)).toEqual({ status: 401, code: 'jwt_revoked' });
    // Issued past the revocation and its tolerance; usable once the gateway's clock, give or take
    // the tolerance, has reached it.
    const iat = Math.floor(revokedBy) + ONE_TOLERANCE_SEC + 1;
    await sleep(Math.max(0, (iat - ONE_TOLERANCE_SEC) * 1000 - Date.now() + 50));
    expect((await chat(await sign('judy', ONE, iat))).status).toBe(200);
  });
});
