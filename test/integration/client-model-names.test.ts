import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiveView, MAX_CLIENT_MODELS, OTHER_MODELS } from '../../src/observability/live-stats.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A client chooses the model name: any `<provider>/<name>` is routed to that provider, which
 * refuses a name it does not know (404). What the gateway keeps for each name it was sent must
 * not grow with the names a client makes up.
 */

const MADE_UP = 60;
const madeUp = (i: number): string => `oa/made-up-${i}-${'x'.repeat(200)}`;

let fake: FakeProvider;
let kw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  // The provider knows the alias's model only, as OpenAI answers a name it does not serve.
  fake.script((request) =>
    (request.body as { model?: string }).model === 'gpt-4o-mini'
      ? { blocks: [{ type: 'text', text: 'hello' }], stop: 'end', usage: { input: 8, output: 7 } }
      : { blocks: [], stop: 'end', usage: { input: 0, output: 0 }, fault: { kind: 'status', status: 404 } },
  );
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, PROVIDER_KEY },
  );
  client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

const messages = [{ role: 'user' as const, content: 'hi' }];

/** The status a chat request for `model` is answered with. */
async function statusOf(model: string): Promise<number> {
  try {
    await client.chat.completions.create({ model, messages });
    return 200;
  } catch (error) {
    if (error instanceof OpenAI.APIError && error.status !== undefined) return error.status;
    throw error;
  }
}

describe('model names a client makes up', () => {
  it('are kept in the live view up to a cap, the rest as other; aliases by name; the totals add up', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < MADE_UP; i++) statuses.push(await statusOf(madeUp(i)));
    // The alias comes last, once the cap is reached: it is still counted by its name.
    for (let i = 0; i < 3; i++) statuses.push(await statusOf('fast'));
    expect(statuses).toEqual([...Array<number>(MADE_UP).fill(404), 200, 200, 200]);

    const { status, json } = await adminCall(kw.adminUrl, 'GET', '/admin/stats/live');
    expect(status).toBe(200);
    const live = json as LiveView;
    const names = live.models.map((group) => group.name);
    expect(names).toHaveLength(MAX_CLIENT_MODELS + 2);
    expect(names).toEqual(expect.arrayContaining(['fast', OTHER_MODELS]));
    expect(live.models.find((group) => group.name === 'fast')).toMatchObject({
      requests: 3,
      errors: 0,
      tokens: 45,
    });
    expect(live.models.find((group) => group.name === OTHER_MODELS)).toMatchObject({
      requests: MADE_UP - MAX_CLIENT_MODELS,
      errors: MADE_UP - MAX_CLIENT_MODELS,
    });
    const total = (counts: readonly number[]): number => counts.reduce((sum, count) => sum + count, 0);
    const requests = total(live.seconds.map((second) => second.requests));
    expect(requests).toBe(MADE_UP + 3);
    expect(total(live.models.map((group) => group.requests))).toBe(requests);
    expect(total(live.providers.map((group) => group.requests))).toBe(requests);
    // Each second's counts follow the hour's list of models, and add up to its totals.
    live.models.forEach((group, i) => {
      expect(total(live.seconds.map((second) => second.byModel[i]!))).toBe(group.requests);
    });
    for (const second of live.seconds) {
      expect(second.byModel).toHaveLength(live.models.length);
      expect(total(second.byModel)).toBe(second.requests);
    }
  });
});
