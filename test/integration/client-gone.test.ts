import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { type RawConnection, rawConnection } from '../support/raw-socket.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * A client that leaves while its request is still on the gateway's side (a credential checked
 * against a key set still being fetched, a stored history still being read): its response has
 * closed, and with it the one moment a request is settled and charged. Nothing may go upstream
 * after that, or the provider bills a request no limit, budget or usage record ever sees.
 */

/** Sends `body` to `path` on a bare connection, which the test can cut at any moment. */
function post(url: string, path: string, credential: string, body: unknown): Promise<RawConnection> {
  const json = JSON.stringify(body);
  return rawConnection(
    url,
    `POST ${path} HTTP/1.1\r\nhost: ${new URL(url).host}\r\nauthorization: Bearer ${credential}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
  );
}

const loggedClosed = (kw: TestGateway, route: string) =>
  kw.logs.some((line) => line.includes(`"route":"${route}"`) && line.includes('"status":499'));

describe('a client gone while its credential is checked', () => {
  const ISSUER = 'https://id.client-gone.test/';
  const AUDIENCE = 'keyward-client-gone';
  let fake: FakeProvider;
  let kw: TestGateway;
  let keys: Server;
  const held: Array<() => void> = [];
  let token: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const published = {
      keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }],
    };
    token = await new SignJWT({ sub: 'leaver' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(pair.privateKey);
    // A key set whose answer waits until the test lets it go.
    keys = createServer((_request, response) => {
      held.push(() => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify(published));
      });
    });
    keys.listen(0, '127.0.0.1');
    await once(keys, 'listening');
    const { port } = keys.address() as { port: number };
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: {
          jwt: [
            {
              issuer: ISSUER,
              audience: AUDIENCE,
              jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
              algorithms: ['RS256'],
            },
          ],
        },
        providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      },
      { PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    for (const release of held.splice(0)) release();
    await kw?.close();
    await fake?.close();
    keys?.closeAllConnections();
    await new Promise((resolve) => keys?.close(resolve));
  });

  it('sends nothing upstream and logs the request as 499', async () => {
    const body = { model: 'fast', messages: [{ role: 'user', content: 'hi' }] };
    const connection = await post(kw.dataUrl, '/v1/chat/completions', token, body);
    await expect.poll(() => held.length).toBe(1);
    connection.socket.destroy();
    await expect.poll(() => loggedClosed(kw, '/v1/chat/completions')).toBe(true);
    // The key set arrives after the client left: the token checks out, and the request is let go.
    for (const release of held.splice(0)) release();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.requests).toHaveLength(0);
  });
});

describe.skipIf(!hasPostgres())('a client gone while its stored history is read (needs postgres)', () => {
  const postgres = usePostgres();
  let fake: FakeProvider;
  let kw: TestGateway;
  let url: string;

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    url = await postgres.database();
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        storage: { postgres: { url } },
        providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      },
      { PROVIDER_KEY, KEYWARD_API_KEY: CLIENT_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  it('sends nothing upstream once the history is read', async () => {
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const first = await client.responses.create({ model: 'fast', input: 'remember this' });
    const calls = fake.requests.length;
    // Another session holds the stored responses: the turn's history read waits for it.
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE');
      const body = { model: 'fast', previous_response_id: first.id, input: 'and now?' };
      const connection = await post(kw.dataUrl, '/v1/responses', CLIENT_KEY, body);
      const waiting = async () =>
        (
          await blocker.query(
            "SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'conversations'::regclass",
          )
        ).rows[0].n;
      await expect.poll(waiting).toBeGreaterThan(0);
      connection.socket.destroy();
      await expect.poll(() => loggedClosed(kw, '/v1/responses')).toBe(true);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(fake.requests.length).toBe(calls);
  });
});
