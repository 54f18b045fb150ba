import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { freshDataDir, type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * Two gateways sharing one store, as two instances on Postgres or two workers on one SQLite file,
 * and one client going back and forth between them.
 */
let fake: FakeProvider;
beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
});
afterAll(async () => {
  await fake?.close();
});

async function pair(storage: { postgres: { url: string } }) {
  const env = {
    KEYWARD_API_KEY: CLIENT_KEY,
    PROVIDER_KEY,
    KEYWARD_ADMIN_KEY: ADMIN_KEY,
    // One master key for both, as a secret manager hands it to each instance.
    KEYWARD_MASTER_KEY: randomBytes(32).toString('base64'),
  };
  const config = {
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    storage,
    // Two instances share the store, each with limits of its own.
    rateLimits: { perInstance: true },
    providers: [{ id: 'oa', type: 'openai' as const, baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
    models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
  };
  const gateways: TestGateway[] = [];
  for (let i = 0; i < 2; i++) gateways.push(await startTestGateway(config, env, freshDataDir()));
  const clients = gateways.map(
    (kw) => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 }),
  );
  return { clients, close: () => Promise.all(gateways.map((kw) => kw.close())) };
}

type Turn = (client: OpenAI, conversation: string, text: string) => Promise<unknown>;

const turns: Record<string, Turn> = {
  responses: (client, conversation, input) => client.responses.create({ model: 'fast', conversation, input }),
  'responses streamed': async (client, conversation, input) => {
    const stream = await client.responses.create({ model: 'fast', conversation, input, stream: true });
    for await (const _ of stream);
  },
  'chat with the header': (client, conversation, content) =>
    client.chat.completions.create(
      { model: 'fast', messages: [{ role: 'user', content }] },
      { headers: { 'x-keyward-conversation': conversation } },
    ),
  'chat with the header streamed': async (client, conversation, content) => {
    const stream = await client.chat.completions.create(
      { model: 'fast', messages: [{ role: 'user', content }], stream: true },
      { headers: { 'x-keyward-conversation': conversation } },
    );
    for await (const _ of stream);
  },
};

/** Items of `conversation`, every page (the SDK follows `after` cursors). */
async function listed(client: OpenAI, conversation: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const item of client.conversations.items.list(conversation, { order: 'asc', limit: 3 })) {
    ids.push(item.id ?? '');
    if (ids.length > 1_000) throw new Error('paging does not end');
  }
  return ids;
}

describe.skipIf(!hasPostgres())('two instances on one Postgres store (needs postgres)', () => {
  const postgres = usePostgres();
  let instances: Awaited<ReturnType<typeof pair>>;
  beforeAll(async () => {
    instances = await pair({ postgres: { url: await postgres.database() } });
  });
  afterAll(async () => {
    await instances?.close();
  });

  // The hold was freed, and the turn's items committed, only after the response had closed: a
  // client taking turns one after another got 400 conversation_locked about half the time, and
  // the other instance listed the conversation without the turn just answered.
  it.each(Object.keys(turns))(
    'takes %s turns one after another, alternating instances: never locked, each turn listed by the other at once',
    async (kind) => {
      const { clients } = instances;
      for (let round = 0; round < 3; round++) {
        const conversation = (await clients[0]!.conversations.create({})).id;
        for (let t = 0; t < 6; t++) {
          await turns[kind]!(clients[t % 2]!, conversation, `turn ${t}`);
          // The first round's turns follow each other at once; the others' are listed in between.
          if (round > 0) expect(await listed(clients[(t + 1) % 2]!, conversation)).toHaveLength(2 * (t + 1));
        }
        expect(await listed(clients[1]!, conversation)).toHaveLength(12);
      }
    },
  );

  it('stores one client-chosen id added through both instances at once under two ids', async () => {
    const { clients } = instances;
    const item = { type: 'message' as const, id: 'msg_client_chosen', role: 'user' as const, content: 'hi' };
    for (let round = 0; round < 10; round++) {
      const conversation = (await clients[0]!.conversations.create({})).id;
      await Promise.all(
        clients.map((client) => client.conversations.items.create(conversation, { items: [item] })),
      );
      const ids = await listed(clients[round % 2]!, conversation);
      expect(ids).toHaveLength(2);
      expect(new Set(ids).size).toBe(2);
      expect(ids).toContain('msg_client_chosen');
    }
  });
});

describe('keyward start --workers 2 on one SQLite file', () => {
  let kw: RunningGateway;
  // A connection per request, so that the cluster spreads them over both workers.
  const fresh = new Agent({ pipelining: 0, keepAliveTimeout: 1 });
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await request(`${kw.dataUrl}${path}`, {
      method,
      dispatcher: fresh,
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`,
        'content-type': 'application/json',
        connection: 'close',
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    expect(res.statusCode).toBe(200);
    return (await res.body.json()) as { id: string; data: Array<{ id: string }> };
  };
  beforeAll(async () => {
    const config = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    });
    const env = { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY };
    kw = await startWorkers(config, { ...env, KEYWARD_DATA_DIR: freshDataDir() });
  });
  afterAll(async () => {
    await kw?.stop();
    await fresh.close();
  });

  // Each worker read the ids the conversation held, then appended: both found none.
  it('stores one client-chosen id added through both workers at once under two ids', async () => {
    const item = { type: 'message', id: 'msg_client_chosen', role: 'user', content: 'hi' };
    for (let round = 0; round < 30; round++) {
      const conversation = (await call('POST', '/v1/conversations', {})).id;
      const path = `/v1/conversations/${conversation}/items`;
      await Promise.all([call('POST', path, { items: [item] }), call('POST', path, { items: [item] })]);
      const ids = (await call('GET', path)).data.map((listed) => listed.id);
      expect(ids).toHaveLength(2);
      expect(new Set(ids).size).toBe(2);
    }
  });
});
