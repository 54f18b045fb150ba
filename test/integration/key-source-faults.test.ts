/**
 * A secret manager that answers with something no key can be, or not at all, against a real
 * `keyward start` process: the gateway keeps serving with the keys it has and says why, and
 * nothing it writes holds a secret.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { type FakeSecretsManager, REGION, startFakeSecretsManager } from '../support/fake-secrets-manager.js';
import { adminGet, chat, lineWith } from '../support/gateway-calls.js';
import { type RunningGateway, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

const ACCESS_KEY_ID = 'AKIAKEYWARDTEST00001';
const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYkeywardTEST';
const ADMIN_KEY = 'kwa-faults-admin-key-0123456789abcdef';
const AWS_KEY = 'sk-aws-faults-key-aaaaaaaaaaaa1111';
const ENV_KEY = 'sk-env-faults-key-bbbbbbbbbbbb2222';
const OTHER_AWS_KEY = 'sk-aws-faults-key-cccccccccccc3333';
/** The size AWS allows a secret (64 KB) is far past the one V8 compiles into a regular expression. */
const HUGE = `sk-aws-huge-${'x'.repeat(15_000)}${'y'.repeat(14_988)}`;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A value and the forms the redactor masks: base64 of it whole and at each offset in a longer text. */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const encoded = [0, 1, 2].map((offset) =>
    Buffer.concat([Buffer.alloc(offset), bytes])
      .toString('base64')
      .slice(4, -4),
  );
  return [secret, bytes.toString('base64'), ...encoded].map((form) => form.slice(0, 40));
}

function expectNoSecret(gw: RunningGateway): void {
  const output = `${gw.lines.join('\n')}\n${gw.stderr()}`;
  for (const secret of [AWS_KEY, ENV_KEY, ADMIN_KEY, CLIENT_KEY, SECRET_ACCESS_KEY, HUGE.slice(12)]) {
    for (const form of forms(secret)) expect(output).not.toContain(form);
  }
}

async function refresh(gw: RunningGateway): Promise<Array<{ provider: string; ok: boolean }>> {
  const res = await request(`${gw.adminUrl}/admin/keys/refresh`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: '{}',
  });
  return ((await res.body.json()) as { refreshed: Array<{ provider: string; ok: boolean }> }).refreshed;
}

/** A gateway with provider `aws` (alias `a`) on the fake Secrets Manager and `env` (alias `e`). */
async function gateway(
  sm: FakeSecretsManager,
  upstream: string,
  aws: Record<string, unknown> = {},
): Promise<RunningGateway> {
  const file = writeTempConfig({
    server: { port: 0 },
    admin: { port: 0 },
    logging: { level: 'debug', format: 'json' },
    auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
    providers: [
      {
        id: 'aws',
        type: 'openai',
        baseUrl: `${upstream}/v1`,
        retries: { maxAttempts: 1 },
        keys: { aws: { region: REGION, secretId: 'prod/openai', endpoint: sm.url, ...aws } },
      },
      { id: 'env', type: 'openai', baseUrl: `${upstream}/v1`, keys: { env: 'ENV_KEY' } },
    ],
    models: [
      { name: 'a', provider: 'aws', model: 'gpt-4o-mini' },
      { name: 'e', provider: 'env', model: 'gpt-4o-mini' },
    ],
  });
  const gw = await startGatewayProcess(file, {
    KEYWARD_API_KEY: CLIENT_KEY,
    KEYWARD_ADMIN_KEY: ADMIN_KEY,
    ENV_KEY,
    AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  });
  cleanups.push(async () => {
    gw.child.kill('SIGKILL');
    await gw.exited;
  });
  return gw;
}

describe('a secret manager answering with no usable key', { timeout: 60_000 }, () => {
  it('a 30,000-character value is refused at refresh: the old key serves on and no output holds a secret', async () => {
    const upstream = await startFakeOpenAI({ keys: [AWS_KEY, ENV_KEY] });
    cleanups.push(() => upstream.close());
    const sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    cleanups.push(() => sm.close());
    sm.putSecret('prod/openai', AWS_KEY);
    const gw = await gateway(sm, upstream.url);
    expect(await chat(gw, 'a')).toBe(200);

    sm.putSecret('prod/openai', HUGE);
    expect(await refresh(gw)).toEqual(
      expect.arrayContaining([
        { provider: 'aws', ok: false },
        { provider: 'env', ok: true },
      ]),
    );
    expect(await chat(gw, 'a')).toBe(200);
    expect(await chat(gw, 'e')).toBe(200);
    expect(String(upstream.requests.at(-2)?.headers.authorization)).toBe(`Bearer ${AWS_KEY}`);
    const refusal = await lineWith(gw, 'longer than the 4096');
    expect(refusal).toContain(
      'key #1 in aws secret prod/openai (provider aws) is 30000 characters, longer than the 4096 a provider key can be',
    );
    expectNoSecret(gw);

    // A restart reads the same value: the provider starts without a key rather than not at all.
    const again = await gateway(sm, upstream.url);
    expect(await chat(again, 'a')).toBe(503);
    expect(await chat(again, 'e')).toBe(200);
    expect(await lineWith(again, 'longer than the 4096')).toBeDefined();
    expectNoSecret(again);
  });
});

describe('a secret manager that takes the connection and never answers', { timeout: 60_000 }, () => {
  it('holds neither the start nor, after its deadline, any later refresh', async () => {
    const upstream = await startFakeOpenAI({ keys: [AWS_KEY, ENV_KEY, OTHER_AWS_KEY] });
    cleanups.push(() => upstream.close());
    const sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    cleanups.push(() => sm.close());
    sm.putSecret('prod/openai', AWS_KEY);
    sm.hang(true);

    const started = Date.now();
    const gw = await gateway(sm, upstream.url, { timeoutSeconds: 2 });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await chat(gw, 'a')).toBe(503);
    expect(await chat(gw, 'e')).toBe(200);
    expect(await adminGet(gw, ADMIN_KEY, '/ready')).toEqual({
      status: 'degraded',
      problems: ['provider aws: no usable key'],
    });
    expect(await lineWith(gw, 'did not answer within 2 s')).toContain('aws us-east-1 prod/openai');

    sm.hang(false);
    expect(await refresh(gw)).toContainEqual({ provider: 'aws', ok: true });
    expect(await chat(gw, 'a')).toBe(200);

    // A hung refresh fails at its deadline, is counted, and the next one reads again.
    sm.hang(true);
    const asked = sm.requests.length;
    const before = Date.now();
    expect(await refresh(gw)).toContainEqual({ provider: 'aws', ok: false });
    expect(Date.now() - before).toBeLessThan(10_000);
    expect(await chat(gw, 'a')).toBe(200);
    sm.hang(false);
    sm.putSecret('prod/openai', OTHER_AWS_KEY);
    expect(await refresh(gw)).toContainEqual({ provider: 'aws', ok: true });
    expect(sm.requests.length).toBeGreaterThan(asked + 1);
    expect(await chat(gw, 'a')).toBe(200);
    expect(String(upstream.requests.at(-1)?.headers.authorization)).toBe(`Bearer ${OTHER_AWS_KEY}`);
    const metrics = await request(`${gw.adminUrl}/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(await metrics.body.text()).toContain(
      'keyward_key_source_refresh_failures_total{provider="aws",source="aws"} 2',
    );
    expectNoSecret(gw);
  });
});

describe('a secret manager failing at start', { timeout: 60_000 }, () => {
  it('shows the failure as the last error and does not speak of keys loaded before', async () => {
    const upstream = await startFakeOpenAI({ keys: [AWS_KEY, ENV_KEY] });
    cleanups.push(() => upstream.close());
    const sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    cleanups.push(() => sm.close());
    const gw = await gateway(sm, upstream.url);
    const { providers } = (await adminGet(gw, ADMIN_KEY, '/admin/keys')) as {
      providers: Array<{ provider: string; loadedAt: string | null; lastError: string | null }>;
    };
    expect(providers.find((entry) => entry.provider === 'aws')).toMatchObject({
      loadedAt: null,
      lastError: 'aws secret prod/openai not found (HTTP 400)',
    });
    expect(await lineWith(gw, 'loading provider keys failed')).toContain(
      'loading provider keys failed; the provider has no key and answers 503 until a load succeeds: aws secret prod/openai not found',
    );

    sm.putSecret('prod/openai', AWS_KEY);
    expect(await refresh(gw)).toContainEqual({ provider: 'aws', ok: true });
    sm.failWith(500);
    expect(await refresh(gw)).toContainEqual({ provider: 'aws', ok: false });
    expect(await lineWith(gw, 'the keys loaded last stay in use')).toContain('(HTTP 500)');
  });
});
