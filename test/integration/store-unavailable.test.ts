import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/** What a client sees of a call: its status and error code, or 'ok'. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    const { status, code, error: body } = error as { status?: number; code?: string; error?: unknown };
    // Anthropic's envelope has no code: its type says what the SDK does (overloaded: back off).
    const type = (body as { error?: { type?: string } } | undefined)?.error?.type;
    return `${status} ${code ?? type}`;
  }
}

/**
 * A Postgres store stopped (an outage, a restart): the routes that read or write it answer 503
 * `store_unavailable` with a Retry-After, in each surface's envelope, and work again once it is back.
 */
describe.skipIf(!hasPostgres())('store routes while Postgres is down (needs postgres)', () => {
  const postgres = usePostgres();
  let fake: FakeProvider;
  let kw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const url = await postgres.database();
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        storage: { postgres: { url } },
        providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
        models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
      freshDataDir(),
    );
    openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  }, 60_000);
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  it('answers 503 store_unavailable, says nothing was changed, and serves again once it is back', async () => {
    const response = await openai.responses.create({ model: 'fast', input: 'hi', store: true });
    const conversation = await openai.conversations.create({});
    const token = (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'kept', userId: 'ann' }))
      .json;

    const calls = {
      'GET /v1/responses/{id}': () => openai.responses.retrieve(response.id),
      'GET /v1/conversations/{id}/items': () => openai.conversations.items.list(conversation.id),
      'POST /v1/responses previous_response_id': () =>
        openai.responses.create({ model: 'fast', input: 'again', previous_response_id: response.id }),
      'POST /v1/conversations': () => openai.conversations.create({}),
      'POST /v1/messages in a conversation': () =>
        anthropic.messages.create(
          { model: 'fast', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-keyward-conversation': conversation.id } },
        ),
    };
    const admin = {
      'POST /admin/tokens': () => adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'new' }),
      'DELETE /admin/tokens/:id': () => adminCall(kw.adminUrl, 'DELETE', `/admin/tokens/${token.id}`),
      'GET /admin/conversations/export': () =>
        adminCall(kw.adminUrl, 'GET', '/admin/conversations/export?user=ann'),
      'DELETE /admin/conversations?user=': () =>
        adminCall(kw.adminUrl, 'DELETE', '/admin/conversations?user=ann'),
      'POST /admin/conversations/purge': () => adminCall(kw.adminUrl, 'POST', '/admin/conversations/purge'),
      'GET /admin/usage': () => adminCall(kw.adminUrl, 'GET', '/admin/usage?by=token'),
    };
    const adminOutcome = async (call: () => ReturnType<typeof adminCall>) => {
      const answer = await call();
      return answer.status < 300 ? 'ok' : `${answer.status} ${answer.json?.error?.code}`;
    };

    const logged = kw.logs.length;
    postgres.server.down();
    try {
      const anthropicWay = 'POST /v1/messages in a conversation';
      for (const [name, call] of Object.entries(calls))
        expect([name, await outcome(call())]).toEqual([
          name,
          name === anthropicWay ? '503 overloaded_error' : '503 store_unavailable',
        ]);
      for (const [name, call] of Object.entries(admin))
        expect([name, await adminOutcome(call)]).toEqual([name, '503 store_unavailable']);

      // The answer says the change was not made and when to retry; the driver's words stay in the log.
      const revoke = await request(`${kw.adminUrl}/admin/tokens/${token.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      const text = await revoke.body.text();
      expect(revoke.statusCode).toBe(503);
      expect(revoke.headers['retry-after']).toBe('5');
      expect(text).toContain('nothing was changed');
      expect(text).not.toMatch(/ECONNREFUSED|57P0|terminat|connect/i);
      const records = logRecords(kw.logs.slice(logged));
      expect(records.filter((record) => record.msg === 'unhandled error')).toEqual([]);
    } finally {
      postgres.server.up();
    }

    // Back: the pool connects again, and the same calls succeed.
    for (const [name, call] of Object.entries(calls))
      expect([name, await outcome(call())]).toEqual([name, 'ok']);
    for (const [name, call] of Object.entries(admin))
      expect([name, await adminOutcome(call)]).toEqual([name, 'ok']);
  }, 90_000);
});
