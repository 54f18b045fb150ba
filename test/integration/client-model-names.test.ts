import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { REFUSED_MODEL } from '../../src/data-plane/request-accounting.js';
import { type LiveView, MAX_CLIENT_MODELS, OTHER_MODELS } from '../../src/observability/live-stats.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * A client chooses the model name: any `<provider>/<name>` is routed to that provider, which
 * refuses a name it does not know (404). What the gateway keeps for each name it was sent must
 * not grow with the names a client makes up.
 */

const MADE_UP = 60;
const madeUp = (i: number): string => `oa/made-up-${i}-${'x'.repeat(200)}`;

/** The provider also refuses the alias's model while this is set (an account without it, say). */
let refuseEveryModel = false;

/** A fake OpenAI that knows the alias's model and `gpt-4o`, and a gateway in front of it. */
async function startGateway(storage?: ConfigInput['storage']): Promise<{
  fake: FakeProvider;
  kw: TestGateway;
  client: OpenAI;
}> {
  const fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  // A name the provider does not serve is refused before any answer, as OpenAI refuses it.
  fake.script((request) =>
    ['gpt-4o-mini', 'gpt-4o'].includes((request.body as { model?: string }).model ?? '') && !refuseEveryModel
      ? { blocks: [{ type: 'text', text: 'hello' }], stop: 'end', usage: { input: 8, output: 7 } }
      : { blocks: [], stop: 'end', usage: { input: 0, output: 0 }, fault: { kind: 'status', status: 404 } },
  );
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      ...(storage && { storage }),
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, PROVIDER_KEY },
  );
  const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  return { fake, kw, client };
}

const messages = [{ role: 'user' as const, content: 'hi' }];

/** The status a chat request for `model` is answered with. */
async function statusOf(client: OpenAI, model: string): Promise<number> {
  try {
    await client.chat.completions.create({ model, messages });
    return 200;
  } catch (error) {
    if (error instanceof OpenAI.APIError && error.status !== undefined) return error.status;
    throw error;
  }
}

describe('model names a client makes up', () => {
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(async () => {
    await gateway?.kw.close();
    await gateway?.fake.close();
  });

  it('are kept in the live view up to a cap, the rest as other; aliases by name; the totals add up', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < MADE_UP; i++) statuses.push(await statusOf(gateway.client, madeUp(i)));
    // The alias comes last, once the cap is reached: it is still counted by its name.
    for (let i = 0; i < 3; i++) statuses.push(await statusOf(gateway.client, 'fast'));
    expect(statuses).toEqual([...Array<number>(MADE_UP).fill(404), 200, 200, 200]);

    const { status, json } = await adminCall(gateway.kw.adminUrl, 'GET', '/admin/stats/live');
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

/**
 * Usage is stored per day, token, user, model and provider, for good. A request that failed with
 * nothing charged is counted under `(refused)` when a client chose its model name; a charged one,
 * and any request to a configured alias, keeps its name.
 */
function storesUsage(storage: () => Promise<ConfigInput['storage']>) {
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    gateway = await startGateway(await storage());
  });
  afterAll(async () => {
    refuseEveryModel = false;
    await gateway?.kw.close();
    await gateway?.fake.close();
  });

  it('counts refused made-up names as one (refused) row, and keeps every charged name', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < MADE_UP; i++) statuses.push(await statusOf(gateway.client, madeUp(i)));
    for (let i = 0; i < 2; i++) statuses.push(await statusOf(gateway.client, 'fast'));
    statuses.push(await statusOf(gateway.client, 'oa/gpt-4o'));
    refuseEveryModel = true;
    statuses.push(await statusOf(gateway.client, 'fast'));
    refuseEveryModel = false;
    expect(statuses).toEqual([...Array<number>(MADE_UP).fill(404), 200, 200, 200, 404]);

    const { status, json } = await adminCall(gateway.kw.adminUrl, 'GET', '/admin/usage?by=model');
    expect(status).toBe(200);
    const rows = json.rows as Array<{
      group: string;
      requests: number;
      inputTokens: number;
      costMicros: number;
    }>;
    expect(rows.map(({ group, requests, inputTokens }) => ({ group, requests, inputTokens }))).toEqual([
      { group: REFUSED_MODEL, requests: MADE_UP, inputTokens: 0 },
      // The alias keeps its name, refused or not: configured names are few.
      { group: 'fast', requests: 3, inputTokens: 16 },
      { group: 'oa/gpt-4o', requests: 1, inputTokens: 8 },
    ]);
    expect(rows[0]!.costMicros).toBe(0);
    expect(rows[1]!.costMicros).toBeGreaterThan(0);
    expect(rows[2]!.costMicros).toBeGreaterThan(0);
    // Every request is counted, under one name or another.
    const byDay = await adminCall(gateway.kw.adminUrl, 'GET', '/admin/usage?by=day');
    expect(byDay.json.rows.map((row: { requests: number }) => row.requests)).toEqual([MADE_UP + 4]);
  });
}

describe('usage of model names a client makes up, in SQLite', () => {
  storesUsage(async () => undefined);
});

describe.skipIf(!hasPostgres())(
  'usage of model names a client makes up, in Postgres (needs postgres)',
  () => {
    const postgres = usePostgres();
    storesUsage(async () => ({ postgres: { url: await postgres.database() } }));
  },
);
