import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-guest-describe-provider-key-0123456789';
const APP = 'https://public.example.test';

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;

beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
});
afterAll(async () => {
  await fake?.close();
});

/** A gateway on `dataDir` with this guest block: the same store across restarts. */
const open = (dataDir: string, guest: NonNullable<ConfigInput['auth']>['guest']) =>
  startTestGateway(
    {
      server: { cors: { origins: [APP] } },
      auth: { guest },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'dear', provider: 'fake', model: 'gpt-4o' },
      ],
    },
    { P_KEY: PROVIDER_KEY },
    dataDir,
  );

describe('GET /auth/session for a guest', () => {
  it('tells the guest grant the gateway holds it to now, after the configuration changed under it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyward-guest-describe-'));
    let kw: TestGateway = await open(dataDir, {
      enabled: true,
      scopes: ['chat', 'models:read'],
      models: ['fast'],
      limits: { rpm: 100 },
    });
    try {
      const login = await fetch(`${kw.dataUrl}/auth/guest`, { method: 'POST', headers: { origin: APP } });
      expect(login.status).toBe(200);
      const cookie = login.headers
        .getSetCookie()
        .map((line) => line.split(';')[0]!)
        .find((c) => c.startsWith('__Host-keyward_session='))!;
      const call = (path: string, body?: unknown) =>
        fetch(`${kw.dataUrl}${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { origin: APP, cookie, ...(body !== undefined && { 'content-type': 'application/json' }) },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
      const described = async () => (await (await call('/auth/session')).json()) as Record<string, unknown>;
      expect(await described()).toMatchObject({
        guest: true,
        scopes: ['chat', 'models:read'],
        models: ['fast'],
      });

      await kw.close();
      kw = await open(dataDir, {
        enabled: true,
        scopes: ['models:read'],
        models: ['dear'],
        limits: { rpm: 100 },
      });

      // What the gateway enforces now...
      const chat = await call('/v1/chat/completions', {
        model: 'fast',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(chat.status).toBe(403);
      const models = (await (await call('/v1/models')).json()) as { data: Array<{ id: string }> };
      expect(models.data.map((m) => m.id)).toEqual(['dear']);
      // ...is what the session is described as.
      expect(await described()).toMatchObject({ guest: true, scopes: ['models:read'], models: ['dear'] });
    } finally {
      await kw.close();
    }
  });
});
