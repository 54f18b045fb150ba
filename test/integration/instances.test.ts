import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { chatStatus, startTestGateway, type TestGateway } from '../support/gateway.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';

const PROVIDER_KEY = 'sk-instances-provider-key-0123456789';
const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
let redis: RedisServer | undefined;
const running: RunningGateway[] = [];
afterEach(async () => {
  for (const gw of running.splice(0)) {
    gw.child.kill('SIGKILL');
    await gw.exited;
  }
  await fake?.close();
  await redis?.stop();
  fake = undefined;
  redis = undefined;
});

async function setUp(extra: Record<string, unknown>) {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  const config = writeTempConfig({
    server: { port: 0 },
    admin: { port: 0 },
    providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
    models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    ...extra,
  });
  const env = { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_DATA_DIR: freshDataDir() };
  return { config, env };
}

async function startOne(config: string, env: NodeJS.ProcessEnv): Promise<RunningGateway> {
  const gw = await startGatewayProcess(config, env);
  running.push(gw);
  return gw;
}

/**
 * Runs `keyward start` expecting it to refuse: its exit code and standard error. Should it start
 * serving instead, it is stopped and the answer says so.
 */
async function startRefused(
  config: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'start', '--config', config], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('keyward listening')) child.kill('SIGKILL');
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

/** 20 requests of a token limited to 5 a minute, alternating between two instances: how many passed. */
async function servedOfTwenty(one: RunningGateway, two: RunningGateway): Promise<number> {
  const minted = await adminCall(one.adminUrl, 'POST', '/admin/tokens', { name: 'five', limits: { rpm: 5 } });
  expect(minted.status).toBe(201);
  const statuses = await Promise.all(
    Array.from({ length: 20 }, (_, i) => chatStatus(i % 2 === 0 ? one : two, minted.json.token)),
  );
  return statuses.filter((status) => status === 200).length;
}

describe('instances sharing one store', () => {
  it('refuses to start a second instance beside one with memory limits, saying how to fix it', async () => {
    const { config, env } = await setUp({});
    const first = await startOne(config, env);
    const second = await startRefused(config, env);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('another Keyward instance is using this store');
    expect(second.stderr).toContain(`pid ${first.child.pid}`);
    expect(second.stderr).toContain('Set storage.redis.url');
    expect(second.stderr).toContain('rateLimits.perInstance: true');
    // The first one is unaffected.
    const minted = await adminCall(first.adminUrl, 'POST', '/admin/tokens', { name: 'still' });
    expect(await chatStatus(first, minted.json.token)).toBe(200);

    // Once the first has stopped (cleanly, or killed), a new instance starts.
    first.child.kill('SIGKILL');
    await first.exited;
    await startOne(config, env);
  });

  it('starts both when the configuration accepts per-instance limits, which then multiply', async () => {
    const { config, env } = await setUp({ rateLimits: { perInstance: true } });
    const one = await startOne(config, env);
    const two = await startOne(config, env);
    expect(await servedOfTwenty(one, two)).toBe(10);
  });

  it.skipIf(!hasRedis())(
    'shares limits through Redis once storage.redis is set, without naming the backend (needs redis-server: apt-get install redis-server)',
    async () => {
      redis = await startRedis();
      const { config, env } = await setUp({ storage: { redis: { url: redis.url } } });
      const one = await startOne(config, env);
      const two = await startOne(config, env);
      expect(await servedOfTwenty(one, two)).toBe(5);
    },
  );
});

describe('instances of one process sharing one store (createGateway)', () => {
  const gateways: TestGateway[] = [];
  afterEach(async () => {
    for (const kw of gateways.splice(0)) await kw.close();
  });

  const config = {
    auth: { apiKeys: { env: 'CLIENT_KEYS' } },
    providers: [
      { id: 'fake', type: 'openai' as const, baseUrl: 'http://127.0.0.1:9/v1', keys: { env: 'P_KEY' } },
    ],
    models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
  };
  const env = { CLIENT_KEYS: 'client-key-instances-0123456789', P_KEY: PROVIDER_KEY };
  const start = async (dataDir: string) => {
    const kw = await startTestGateway(config, env, dataDir);
    gateways.push(kw);
    return kw;
  };

  it('refuses a second gateway beside a live one of the same process, and starts one once it closed', async () => {
    const dataDir = freshDataDir();
    const first = await start(dataDir);
    await expect(start(dataDir)).rejects.toThrow(
      `another Keyward instance is using this store (pid ${process.pid} on ${hostname()}`,
    );

    await first.close();
    await start(dataDir);
  });

  it("starts beside a row of its own pid that no gateway of this process holds (a restarted container's former life)", async () => {
    const dataDir = freshDataDir();
    const store = openSqliteStore(join(dataDir, 'keyward.db'));
    const now = Date.now();
    await store.instances.join(
      {
        id: 'former-life',
        host: hostname(),
        pid: process.pid,
        limits: 'memory',
        startedAt: now,
        seenAt: now,
      },
      15_000,
    );
    await store.close();
    await start(dataDir);
  });
});
