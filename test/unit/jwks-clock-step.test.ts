import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { JwtVerifier } from '../../src/auth/jwt.js';
import { configSchema } from '../../src/config/schema.js';
import { openSqliteStore, type Store } from '../../src/store/index.js';

const ISSUER = 'https://idp.example';
const AUDIENCE = 'keyward';

/**
 * jose judges a fetched key set's age by the wall clock: stamped before a step back, it looked
 * fetched in the future, so an unknown `kid` (the issuer rotated) was not fetched for the step's
 * length and every token signed with the new key was refused.
 */
describe('a JWKS fetched before the clock stepped back', () => {
  let server: Server;
  let published: JWK[] = [];
  let fetches = 0;
  let store: Store;
  beforeAll(async () => {
    server = createServer((_request, response) => {
      fetches += 1;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: published }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    store = openSqliteStore(join(mkdtempSync(join(tmpdir(), 'keyward-jwks-')), 'keyward.db'));
  });
  afterAll(async () => {
    vi.useRealTimers();
    server.close();
    await store.close();
  });

  it('is fetched again for an unknown kid, as on a steady clock', async () => {
    const { port } = server.address() as AddressInfo;
    const config = configSchema.parse({
      auth: {
        jwt: [
          {
            issuer: ISSUER,
            audience: AUDIENCE,
            jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
            algorithms: ['ES256'],
          },
        ],
      },
    });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2026-12-07T12:00:00Z'));
    const verifier = new JwtVerifier(config.auth.jwt, store);
    const pair = async (kid: string) => {
      const keys = await generateKeyPair('ES256', { extractable: true });
      return { kid, keys, jwk: { ...(await exportJWK(keys.publicKey)), kid, alg: 'ES256' } };
    };
    const sign = (key: Awaited<ReturnType<typeof pair>>, sub: string) =>
      new SignJWT({ sub })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key.keys.privateKey);
    const [first, second] = [await pair('k1'), await pair('k2')];

    published = [first.jwk];
    expect(await verifier.verify(await sign(first, 'ada'))).toHaveProperty('principal');
    expect(fetches).toBe(1);

    // An hour back, and the issuer rotates to a key the gateway has not seen.
    vi.setSystemTime(Date.parse('2026-12-07T11:00:00Z'));
    published = [second.jwk];
    expect(await verifier.verify(await sign(second, 'bob'))).toHaveProperty('principal');
    expect(fetches).toBe(2);
  });
});
