import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf } from '../../src/keys/index.js';
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

  it('benches a key on a note only for the value it names, and probes it here once the note runs out, after a restart too', async () => {
    const note = (fields: Record<string, unknown>) =>
      client.publish('keyward:key-state', JSON.stringify({ from: 'elsewhere', provider: 'fake', ...fields }));
    const OLD_A = 'sk-redis-state-key-a-revoked-0123456789';
    const told: Array<Record<string, unknown>> = [];
    const listener = new Redis(redis.url);
    await listener.subscribe('keyward:key-state');
    listener.on('message', (_channel, text: string) => told.push(JSON.parse(text)));
    try {
      // What the tests above left: both keys back in rotation (a note naming the value may end a
      // cool-down, as one without it may).
      for (const [keyId, value] of [
        ['env:POOL#1', KEY_A],
        ['env:POOL#2', KEY_B],
      ] as const) {
        await note({ keyId, state: 'active', until: 0, fingerprint: fingerprintOf(value) });
      }
      await expect.poll(async () => (await pool()).map((k) => k.state)).toEqual(['active', 'active']);
      const probes = () =>
        fake.requests.filter((r) => r.method === 'GET').map((r) => r.headers.authorization);
      fake.reset();

      // An instance that had not loaded the rotated value yet benched the old one: not this one.
      await note({
        keyId: 'env:POOL#1',
        state: 'invalid',
        until: Date.now() + 600_000,
        fingerprint: fingerprintOf(OLD_A),
      });
      await note({
        keyId: 'env:POOL#2',
        state: 'cooling',
        until: Date.now() + 30_000,
        model: 'marker',
        fingerprint: fingerprintOf(KEY_B),
      });
      await expect
        .poll(async () => (await pool())[1]?.coolingModels.some((m) => m.model === 'marker'))
        .toBe(true);
      expect((await pool())[0]).toMatchObject({ state: 'active' });

      // A bench of this value: out until the note's end, then this instance's own probe decides.
      await note({
        keyId: 'env:POOL#1',
        state: 'invalid',
        until: Date.now() + 1_500,
        fingerprint: fingerprintOf(KEY_A),
      });
      await expect.poll(async () => (await pool())[0]?.state).toBe('invalid');
      expect(probes()).toEqual([]);
      await expect.poll(async () => (await pool())[0]?.state, { timeout: 5_000 }).toBe('active');
      expect(probes()).toEqual([`Bearer ${KEY_A}`]);
      // It tells the others, naming the value.
      await expect
        .poll(() =>
          told.find((n) => n.keyId === 'env:POOL#1' && n.state === 'active' && n.from !== 'elsewhere'),
        )
        .toMatchObject({ fingerprint: fingerprintOf(KEY_A) });

      // What an instance that restarts (or reconnects) reads back: the same, probed when it ends.
      await client.set(
        'keyward:key-state:fake:env:POOL#1',
        JSON.stringify({
          from: 'elsewhere',
          provider: 'fake',
          keyId: 'env:POOL#1',
          state: 'invalid',
          until: Date.now() + 1_500,
          fingerprint: fingerprintOf(KEY_A),
        }),
        'PX',
        1_500,
      );
      // A key's cool-downs for single models are kept with the value they were about, too.
      const models = 'keyward:key-model-state:fake:env:POOL#2';
      await client.zadd(models, Date.now() + 50_000, `${fingerprintOf(OLD_A)}\u0000model-of-old-value`);
      await client.zadd(models, Date.now() + 50_000, `${fingerprintOf(KEY_B)}\u0000model-of-this-value`);
      await client.client('KILL', 'TYPE', 'pubsub');
      await expect.poll(async () => (await pool())[0]?.state).toBe('invalid');
      const cooling = (await pool())[1]!.coolingModels.map((m) => m.model);
      expect(cooling).toContain('model-of-this-value');
      expect(cooling).not.toContain('model-of-old-value');
      await expect.poll(async () => (await pool())[0]?.state, { timeout: 5_000 }).toBe('active');
      expect(probes()).toEqual([`Bearer ${KEY_A}`, `Bearer ${KEY_A}`]);
    } finally {
      listener.disconnect();
    }
  });

  it('takes a note of an older version, which names no value, as a cool-down at most', async () => {
    await client.publish(
      'keyward:key-state',
      JSON.stringify({
        from: 'elsewhere',
        provider: 'fake',
        keyId: 'env:POOL#2',
        state: 'invalid',
        until: Date.now() + 30_000,
      }),
    );
    await expect.poll(async () => (await pool())[1]?.state).toBe('cooling');
  });
});
