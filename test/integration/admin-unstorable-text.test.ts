import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * Admin filters and fields the store is asked with or keeps: a NUL (Postgres stores none in text,
 * nor `\u0000` in jsonb) or a lone UTF-16 half is a 400 naming the field on either store, never a
 * 500 from Postgres or a silent miss on SQLite.
 */
const PROVIDER_KEY = 'sk-unstorable-text-provider-0123456789';

let fake: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
let kw: TestGateway | undefined;
afterEach(async () => {
  await kw?.close();
  kw = undefined;
  await fake?.close();
  fake = undefined;
});

async function start(storage?: { postgres: { url: string } }): Promise<TestGateway> {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      ...(storage && { storage }),
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
  return kw;
}

const CALLS: ReadonlyArray<readonly ['GET' | 'POST' | 'DELETE', string, unknown, string]> = [
  ['GET', '/admin/conversations?user=%00', undefined, 'user'],
  ['GET', '/admin/conversations/export?user=a%00b', undefined, 'user'],
  ['DELETE', '/admin/conversations?user=%00', undefined, 'user'],
  ['GET', '/admin/usage?userId=%00', undefined, 'userId'],
  ['GET', '/admin/usage?tokenId=%00', undefined, 'tokenId'],
  ['GET', '/admin/audit?actor=%00', undefined, 'actor'],
  ['GET', '/admin/audit?type=%00', undefined, 'type'],
  ['GET', '/admin/sessions?user=%00', undefined, 'user'],
  ['DELETE', '/admin/sessions?user=%00', undefined, 'user'],
  ['POST', '/admin/jwt/revocations', { claim: 'sub', value: 'a\u0000b' }, 'value'],
  ['POST', '/admin/jwt/revocations', { claim: 'sub', value: 'a', issuer: 'https://x\ud800' }, 'issuer'],
  ['POST', '/admin/sessions', { userId: 'ada', metadata: { plan: 'a\u0000' } }, 'metadata.plan'],
  ['POST', '/admin/sessions', { userId: 'ada', models: ['fast\u0000'] }, 'models[0]'],
  ['POST', '/admin/sessions', { userId: 'ada', templates: ['t\u0000'] }, 'templates[0]'],
  ['POST', '/admin/tokens', { name: 'web', metadata: { plan: '\ud800' } }, 'metadata.plan'],
  ['POST', '/admin/tokens', { name: 'web', metadata: { 'pl\u0000an': 'pro' } }, 'metadata'],
  ['POST', '/admin/tokens', { name: 'web', models: ['fast\u0000'] }, 'models[0]'],
  ['POST', '/admin/tokens', { name: 'web', providers: ['fake\u0000'] }, 'providers[0]'],
];

async function refusesUnstorableText(gateway: TestGateway): Promise<void> {
  for (const [method, path, body, param] of CALLS) {
    const answer = await adminCall(gateway.adminUrl, method, path, body);
    expect({ path, body, status: answer.status, param: answer.json?.error?.param }).toEqual({
      path,
      body,
      status: 400,
      param,
    });
    expect(answer.json.error.message).toMatch(/control characters|NUL characters/);
  }
  // Nothing was stored that a later listing or a user's revocation would trip on.
  const revoked = await adminCall(gateway.adminUrl, 'DELETE', '/admin/sessions?user=ada');
  expect(revoked).toMatchObject({ status: 200, json: { revoked: 0 } });
  expect((await adminCall(gateway.adminUrl, 'GET', '/admin/tokens')).json.tokens).toEqual([]);
}

describe('admin text the store cannot keep', () => {
  it('is a 400 naming the field on SQLite', async () => {
    await refusesUnstorableText(await start());
  });

  describe.skipIf(!hasPostgres())('on Postgres (needs postgres)', () => {
    const postgres = usePostgres();
    it('is a 400 naming the field', async () => {
      await refusesUnstorableText(await start({ postgres: { url: await postgres.database() } }));
    });
  });
});
