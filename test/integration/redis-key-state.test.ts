import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEY_A = 'sk-redis-state-key-a-0123456789abcdef';
const KEY_B = 'sk-redis-state-key-b-0123456789abcdef';
const HOUR_MS = 3_600_000;

/**
 * What a gateway does with the key states it reads from Redis. Only gateways write there, but a
 * note is still checked: it names a key of this gateway, a known state and a time, and it can
 * keep a key out for an hour at most, whatever it says.
 */
describe.skipIf(!hasRedis())('provider key states read from Redis (needs redis-server)', () => {
  let redis: RedisServer;
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;
  let client: Redis;
  const pool = async () =>
    (await adminCall(kw.adminUrl, 'GET', '/admin/keys')).json.providers[0].keys as Array<{
      id: string;
      state: string;
      coolingForMs: number;
      coolingModels: Array<{ model: string; coolingForMs: number }>;
    }>;

  beforeAll(async () => {
    redis = await startRedis();
    fake = await startFakeOpenAI({ keys: [KEY_A, KEY_B] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        storage: { redis: { url: redis.url } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'POOL' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { POOL: `${KEY_A},${KEY_B}`, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_API_KEY: CLIENT_KEY },
    );
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await kw?.close();
    await fake?.close();
    await redis?.stop();
  });

  it('ignores malformed notes and unknown keys, and caps a cool-down at an hour', async () => {
    const note = (fields: Record<string, unknown>) =>
      client.publish('keyward:key-state', JSON.stringify({ from: 'elsewhere', provider: 'fake', ...fields }));
    const tenDays = Date.now() + 10 * 24 * HOUR_MS;
    await note({ keyId: 'env:POOL#2', state: 'frozen', until: tenDays });
    await note({ keyId: 'env:POOL#2', state: 'cooling', until: 'forever' });
    await note({ keyId: 'env:NOPE#1', state: 'invalid', until: tenDays });
    await client.publish('keyward:key-state', 'not json');
    await note({ keyId: 'env:POOL#1', state: 'cooling', until: tenDays });
    await expect.poll(async () => (await pool())[0]?.state).toBe('cooling');
    const [first, second] = await pool();
    expect(first!.coolingForMs).toBeGreaterThan(HOUR_MS - 60_000);
    expect(first!.coolingForMs).toBeLessThanOrEqual(HOUR_MS);
    // The notes before it, each wrong in one way, changed nothing.
    expect(second).toMatchObject({ id: 'env:POOL#2', state: 'active' });
  });

  it("applies a key's cool-down for one model, told or kept in Redis, to that model alone", async () => {
    const note = (fields: Record<string, unknown>) =>
      client.publish('keyward:key-state', JSON.stringify({ from: 'elsewhere', provider: 'fake', ...fields }));
    await note({ keyId: 'env:POOL#2', state: 'cooling', until: Date.now() + 30_000, model: 7 });
    await note({ keyId: 'env:POOL#2', state: 'cooling', until: Date.now() + 30_000, model: 'gpt-4o-mini' });
    await expect.poll(async () => (await pool())[1]?.coolingModels.length).toBe(1);
    const second = (await pool())[1]!;
    expect(second).toMatchObject({ id: 'env:POOL#2', state: 'active', coolingForMs: 0 });
    expect(second.coolingModels[0]!.model).toBe('gpt-4o-mini');
    expect(second.coolingModels[0]!.coolingForMs).toBeGreaterThan(25_000);

    // What an instance that was away finds on reconnecting: the sorted set, scored by each end.
    await client.zadd('keyward:key-model-state:fake:env:POOL#2', Date.now() + 50_000, 'gpt-4o');
    await client.client('KILL', 'TYPE', 'pubsub');
    await expect
      .poll(async () => (await pool())[1]?.coolingModels.map((m) => m.model).sort())
      .toEqual(['gpt-4o', 'gpt-4o-mini']);
  });
});
