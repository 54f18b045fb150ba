import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-jwt-test-provider-key-0123456789';
const ISSUER = 'https://id.example.test/';
const AUDIENCE = 'keyward';

type Alg = 'RS256' | 'ES256' | 'EdDSA' | 'RS384';
type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

/** A real HTTP server answering one JSON document, counting the requests it gets. */
async function jsonServer(
  body: () => unknown,
): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((_request, response) => {
    hits++;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let jwks: Awaited<ReturnType<typeof jsonServer>>;
let attacker: Awaited<ReturnType<typeof jsonServer>>;
let kw: TestGateway;
const keys = new Map<Alg, KeyPair>();
let intruder: KeyPair;
let intruderJwk: JWK;

beforeAll(async () => {
  const published: JWK[] = [];
  // RS384 is published but not among the configured algorithms.
  for (const alg of ['RS256', 'ES256', 'EdDSA', 'RS384'] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    keys.set(alg, pair);
    published.push({ ...(await exportJWK(pair.publicKey)), kid: `k-${alg}`, alg, use: 'sig' });
  }
  intruder = await generateKeyPair('RS256', { extractable: true });
  intruderJwk = { ...(await exportJWK(intruder.publicKey)), kid: 'k-RS256', alg: 'RS256' };
  jwks = await jsonServer(() => ({ keys: published }));
  attacker = await jsonServer(() => ({ keys: [intruderJwk] }));
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: {
        jwt: [
          {
            issuer: ISSUER,
            audience: AUDIENCE,
            jwksUrl: `${jwks.url}/.well-known/jwks.json`,
            algorithms: ['RS256', 'ES256', 'EdDSA'],
            claims: { user: 'sub', tier: 'app.tier', scopes: 'scope', models: 'models', templates: 'tpl' },
          },
        ],
      },
      rateLimits: { tiers: { free: { rpm: 1 } } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'big', provider: 'fake', model: 'gpt-4o' },
      ],
      templates: ['greet', 'farewell'].map((name) => ({
        name,
        model: 'fast',
        messages: [{ role: 'user', content: `${name} {{who}}` }],
        params: { who: { type: 'string', maxLength: 20 } },
      })),
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
}, 60_000);

afterAll(async () => {
  await kw?.close();
  await Promise.all([jwks?.close(), attacker?.close(), fake?.close()]);
});

interface Claims {
  sub?: string;
  iss?: string;
  aud?: string;
  exp?: number | null;
  [claim: string]: unknown;
}

async function sign(
  claims: Claims = {},
  alg: Alg = 'RS256',
  header: Record<string, unknown> = {},
  key = keys.get(alg)!.privateKey,
): Promise<string> {
  const { exp, ...rest } = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, ...claims };
  const jwt = new SignJWT({ ...rest }).setProtectedHeader({
    alg,
    kid: `k-${alg}`,
    ...header,
  });
  if (exp !== null) jwt.setExpirationTime(exp ?? '5m');
  return jwt.sign(key);
}

async function chat(credential: string, model = 'fast') {
  const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field
  return { status: res.statusCode, json: (await res.body.json()) as any };
}

describe('bearer JWTs from an identity provider', () => {
  it.each(['RS256', 'ES256', 'EdDSA'] as const)(
    'accepts a %s token signed by a published key',
    async (alg) => {
      const res = await chat(await sign({ sub: `user-${alg}` }, alg));
      expect(res.status).toBe(200);
      expect(res.json.choices[0].message.content).toContain('Hello from the fake provider');
    },
  );

  it('maps the configured claims: scopes (never admin), models and tier limits', async () => {
    const readOnly = await chat(await sign({ sub: 'reader', scope: 'models:read admin sessions' }));
    expect(readOnly.status).toBe(403);
    expect(readOnly.json.error.code).toBe('insufficient_scope');
    // A scopes claim that is not a list of names allows nothing, as a models claim does.
    for (const scope of [['templates', 5], 7, { chat: true }, null]) {
      const garbled = await chat(await sign({ sub: 'garbled-scopes', scope }));
      expect(garbled.status, JSON.stringify(scope)).toBe(403);
      expect(garbled.json.error.code).toBe('insufficient_scope');
    }
    const onlyFast = await sign({ sub: 'picky', models: ['fast'] });
    expect((await chat(onlyFast, 'fast')).status).toBe(200);
    expect((await chat(onlyFast, 'big')).json.error.code).toBe('model_not_allowed');
    const free = await sign({ sub: 'free-user', app: { tier: 'free' } });
    expect((await chat(free)).status).toBe(200);
    expect((await chat(free)).status).toBe(429);
    // A new token of the same user shares the user's limit.
    expect((await chat(await sign({ sub: 'free-user', app: { tier: 'free' }, jti: 'other' }))).status).toBe(
      429,
    );
  });

  it('holds a user to the templates its claim names; without the claim, the templates scope runs any', async () => {
    const run = async (credential: string, name: string) => {
      const res = await request(`${kw.dataUrl}/v1/templates/${name}/run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ params: { who: 'Ann' } }),
      });
      await res.body.dump();
      return res.statusCode;
    };
    const greeter = await sign({ sub: 'greeter', scope: 'templates', tpl: ['greet'] });
    expect(await run(greeter, 'greet')).toBe(200);
    expect(await run(greeter, 'farewell')).toBe(404);
    const garbled = await sign({ sub: 'garbled', scope: 'templates', tpl: { greet: true } });
    expect(await run(garbled, 'greet')).toBe(404);
    const any = await sign({ sub: 'any', scope: 'templates' });
    expect(await run(any, 'farewell')).toBe(200);
  });

  it('refuses every forged or misdirected token with one generic 401', async () => {
    const pem = await exportSPKI(keys.get('RS256')!.publicKey);
    const hmacWithPublicKey = await new SignJWT({ sub: 'alice', iss: ISSUER, aud: AUDIENCE })
      .setProtectedHeader({ alg: 'HS256', kid: 'k-RS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(pem));
    const none = `${b64({ alg: 'none', kid: 'k-RS256' })}.${b64({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    const attacks: Record<string, string> = {
      'wrong issuer': await sign({ iss: 'https://evil.example.test/' }),
      'wrong audience': await sign({ aud: 'someone-else' }),
      'no exp': await sign({ exp: null }),
      'alg none': none,
      'HMAC with the public key': hmacWithPublicKey,
      'algorithm not allowed': await sign({}, 'RS384'),
      'key not in the JWKS': await sign({}, 'RS256', {}, intruder.privateKey),
      'kid not in the JWKS': await sign({}, 'RS256', { kid: 'unknown-kid' }),
      'jku to the attacker': await sign(
        {},
        'RS256',
        { jku: `${attacker.url}/jwks`, kid: 'k-RS256' },
        intruder.privateKey,
      ),
      'x5u to the attacker': await sign({}, 'RS256', { x5u: `${attacker.url}/cert` }, intruder.privateKey),
      // Signed, but a user id Postgres cannot store: it would fail every usage and audit batch it joined.
      'a NUL in the subject': await sign({ sub: 'al\u0000ice' }),
      'embedded jwk': await sign({}, 'RS256', { jwk: intruderJwk }, intruder.privateKey),
      'tampered payload': (await sign()).replace(
        /\.[^.]+\./,
        `.${b64({ sub: 'admin', iss: ISSUER, aud: AUDIENCE, exp: 9999999999 })}.`,
      ),
    };
    const answers = new Set<string>();
    for (const [attack, token] of Object.entries(attacks)) {
      const res = await chat(token);
      expect(res.status, attack).toBe(401);
      answers.add(JSON.stringify({ code: res.json.error.code, message: res.json.error.message }));
    }
    expect(answers.size).toBe(1);
    expect(attacker.hits()).toBe(0);
  });

  it('says an expired token has expired', async () => {
    const res = await chat(await sign({ exp: Math.floor(Date.now() / 1000) - 3600 }));
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('jwt_expired');
  });

  it('accepts a token just past its exp within the clock tolerance, and again from the cache', async () => {
    // 10 s past exp, within the default 30 s tolerance for clocks that disagree.
    const token = await sign({ sub: 'skewed', exp: Math.floor(Date.now() / 1000) - 10 });
    expect((await chat(token)).status).toBe(200);
    expect((await chat(token)).status).toBe(200);
  });

  it('refetches the JWKS on unknown kids at most once per cooldown', async () => {
    const before = jwks.hits();
    for (let i = 0; i < 5; i++) {
      expect((await chat(await sign({}, 'RS256', { kid: `unknown-${i}` }))).status).toBe(401);
    }
    expect(jwks.hits() - before).toBeLessThanOrEqual(1);
  });

  it.each(['sub', 'jti', 'sid'] as const)('revokes by %s at once through the admin API', async (claim) => {
    const value = `revoke-${claim}`;
    const token = await sign({
      sub: claim === 'sub' ? value : 'someone',
      jti: claim === 'jti' ? value : 'j',
      sid: claim === 'sid' ? value : 's',
    });
    expect((await chat(token)).status).toBe(200);
    const revoked = await adminCall(kw.adminUrl, 'POST', '/admin/jwt/revocations', { claim, value });
    expect(revoked.status).toBe(201);
    const res = await chat(token);
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('jwt_revoked');
  });
});

describe('revocation by subject', () => {
  it('refuses the tokens issued until then, and one dated past the clock tolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    const issued = (iat: number) =>
      new SignJWT({ sub: 'revoked-then-back', iss: ISSUER, aud: AUDIENCE, iat })
        .setProtectedHeader({ alg: 'RS256', kid: 'k-RS256' })
        .setExpirationTime('5m')
        .sign(keys.get('RS256')!.privateKey);
    const before = await issued(now - 60);
    expect((await chat(before)).status).toBe(200);
    const revoked = await adminCall(kw.adminUrl, 'POST', '/admin/jwt/revocations', {
      claim: 'sub',
      value: 'revoked-then-back',
    });
    expect(revoked.status).toBe(201);
    expect((await chat(before)).json.error.code).toBe('jwt_revoked');
    // Within the issuer's clock tolerance (30 s) of the revocation: counted as issued before it.
    expect((await chat(await issued(now + 10))).status).toBe(401);
    // Dated past the tolerance ahead of the gateway's clock: refused as unusable, or it would outlive
    // the revocation. Signing in again afterwards is served: jwt-revocation.test.ts waits for it.
    expect((await chat(await issued(now + 60))).json.error.code).toBe('invalid_jwt');
  });
});

describe('several issuers', () => {
  const OTHER = 'https://other-id.example.test/';
  let two: TestGateway;
  beforeAll(async () => {
    const issuer = (iss: string, userPrefix: string) => ({
      issuer: iss,
      audience: AUDIENCE,
      jwksUrl: `${jwks.url}/.well-known/jwks.json`,
      algorithms: ['RS256' as const],
      userPrefix,
    });
    two = await startTestGateway(
      {
        auth: { jwt: [issuer(ISSUER, 'one:'), issuer(OTHER, 'two:')] },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await two?.close();
  });

  it("keeps one issuer's user apart from another issuer's user of the same subject", async () => {
    const call = async (credential: string, method: 'GET' | 'POST', path: string, body?: unknown) => {
      const res = await request(`${two.dataUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.statusCode, json: (await res.body.json()) as { id?: string } };
    };
    const mine = await sign({ sub: 'alice' });
    const theirs = await sign({ sub: 'alice', iss: OTHER });
    const created = await call(mine, 'POST', '/v1/conversations', {
      items: [{ type: 'message', role: 'user', content: 'my secret plans' }],
    });
    expect(created.status).toBe(200);
    expect((await call(mine, 'GET', `/v1/conversations/${created.json.id}`)).status).toBe(200);
    expect((await call(theirs, 'GET', `/v1/conversations/${created.json.id}`)).status).toBe(404);
    expect((await call(theirs, 'GET', `/v1/conversations/${created.json.id}/items`)).status).toBe(404);
  });
});
