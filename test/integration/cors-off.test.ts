import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A browser page calling a gateway without `server.cors`: its preflight is refused, as one from an
 * origin not in the list is, with the setting that would allow it named; it had been told that
 * "requests authenticated by cookie" must come from an allowed origin, though it carried none.
 */
describe('a preflight to a gateway without server.cors', () => {
  let kw: TestGateway;
  beforeAll(async () => {
    kw = await startTestGateway(
      { auth: { apiKeys: { env: 'KEYWARD_API_KEY' } } },
      { KEYWARD_API_KEY: CLIENT_KEY },
    );
  });
  afterAll(async () => {
    await kw.close();
  });

  it('is refused, naming server.cors.origins, in the envelope of the surface asked for', async () => {
    for (const [path, envelope] of [
      ['/v1/chat/completions', { error: { code: 'origin_not_allowed' } }],
      ['/v1/messages', { type: 'error', error: { type: 'permission_error' } }],
    ] as const) {
      const res = await fetch(`${kw.dataUrl}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      expect(res.status, path).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const body = (await res.json()) as { error: { message: string } };
      expect(body).toMatchObject(envelope);
      expect(body.error.message).toBe(
        'This origin is not allowed to call the gateway; add it to server.cors.origins',
      );
    }
    // A page's call without a credential likewise (its browser may have withheld a cookie).
    const plain = await fetch(`${kw.dataUrl}/v1/models`, { headers: { origin: 'https://app.example' } });
    expect(plain.status).toBe(403);
    expect(((await plain.json()) as { error: { message: string } }).error.message).toBe(
      'This origin is not allowed to call the gateway; add it to server.cors.origins',
    );
  });
});
