import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { awsSourceSchema } from '../../src/config/key-sources.js';
import { createAwsSource } from '../../src/keys/sources/aws.js';
import { KeySourceError } from '../../src/keys/sources/errors.js';
import type { KeySource, SourcedKey } from '../../src/keys/sources/types.js';
import { type FakeSecretsManager, REGION, startFakeSecretsManager } from '../support/fake-secrets-manager.js';

const ACCESS_KEY_ID = 'AKIAKEYWARDTEST00001';
const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYkeywardTEST';
const KEY_A = 'sk-aws-aaaaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-aws-bbbbbbbbbbbbbbbbbbbbbb2222';
const KEY_C = 'sk-aws-cccccccccccccccccccccc3333';
const SECRETS = [SECRET_ACCESS_KEY, KEY_A, KEY_B, KEY_C];

/** Variables the SDK's default credential chain and region lookup read; the tests own them. */
const AWS_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_REGION',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
] as const;

describe('aws secrets manager key source', () => {
  let sm: FakeSecretsManager | undefined;
  let source: KeySource | undefined;
  let saved: Record<string, string | undefined> = {};

  beforeEach(() => {
    saved = Object.fromEntries(AWS_VARIABLES.map((name) => [name, process.env[name]]));
    for (const name of AWS_VARIABLES) delete process.env[name];
    process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET_ACCESS_KEY;
    // Keeps a credential failure from waiting on an instance metadata service that is not there.
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials';
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  });

  afterEach(async () => {
    await source?.close?.();
    await sm?.close();
    source = undefined;
    sm = undefined;
    for (const name of AWS_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  function awsSource(overrides: Record<string, unknown> = {}): KeySource {
    const config = awsSourceSchema.parse({
      region: REGION,
      secretId: 'keyward/openai',
      endpoint: sm!.url,
      ...overrides,
    });
    source = createAwsSource(config, { provider: 'openai', env: process.env });
    return source;
  }

  async function loadError(from: KeySource): Promise<KeySourceError> {
    const err = await from.load().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KeySourceError);
    const message = (err as KeySourceError).message;
    for (const secret of SECRETS) expect(message).not.toContain(secret);
    expect(message).not.toContain('ddb-shard-9');
    return err as KeySourceError;
  }

  function expectSealed(keys: SourcedKey[], values: string[]): void {
    expect(keys.map((key) => key.secret.reveal())).toEqual(values);
    for (const [i, key] of keys.entries()) {
      expect(String(key.secret)).not.toContain(values[i]);
      expect(JSON.stringify(key)).not.toContain(values[i]);
    }
  }

  it('loads the whole secret string as a key over a SigV4-signed JSON 1.1 request', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    const created = new Date('2024-06-01T08:00:00.250Z');
    sm.putSecret('keyward/openai', KEY_A, { createdDate: created });
    const src = awsSource({ refreshSeconds: 120 });
    expect(src.kind).toBe('aws');
    expect(src.refreshMs).toBe(120_000);
    expect(src.describe).toBe(`aws ${REGION} keyward/openai`);

    const keys = await src.load();
    expect(keys.map(({ id, createdAt }) => ({ id, createdAt }))).toEqual([
      { id: 'aws:keyward/openai#1', createdAt: created.getTime() },
    ]);
    expectSealed(keys, [KEY_A]);
    expect(sm.requests).toHaveLength(1);
    const [req] = sm.requests;
    expect(req!.target).toBe('secretsmanager.GetSecretValue');
    expect(req!.headers.authorization).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/${REGION}/secretsmanager/aws4_request`,
      ),
    );
    expect(req!.headers.authorization).not.toContain(SECRET_ACCESS_KEY);
    expect(JSON.parse(req!.body)).toEqual({ SecretId: 'keyward/openai' });
  });

  it('splits comma-separated keys and picks up a rotated value with the same client', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    sm.putSecret('keyward/openai', `${KEY_A}, ${KEY_B},${KEY_A}`);
    const src = awsSource();
    const keys = await src.load();
    expect(keys.map((key) => key.id)).toEqual(['aws:keyward/openai#1', 'aws:keyward/openai#2']);
    expectSealed(keys, [KEY_A, KEY_B]);

    sm.putSecret('keyward/openai', KEY_C);
    expectSealed(await src.load(), [KEY_C]);
  });

  it('takes a field of a JSON secret and accepts an ARN as secret id', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    sm.putSecret('prod/ai', JSON.stringify({ openai: `${KEY_A},${KEY_B}`, anthropic: KEY_C }));
    const src = awsSource({ secretId: 'prod/ai', field: 'openai' });
    expect(src.describe).toBe(`aws ${REGION} prod/ai#openai`);
    expectSealed(await src.load(), [KEY_A, KEY_B]);
    await src.close?.();

    const byArn = await awsSource({ secretId: sm.arn('prod/ai'), field: 'anthropic' }).load();
    expect(byArn[0]!.id).toBe(`aws:${sm.arn('prod/ai')}#1`);
    expectSealed(byArn, [KEY_C]);
    expect(JSON.parse(sm.requests.at(-1)!.body)).toEqual({ SecretId: sm.arn('prod/ai') });
  });

  it('reports a missing secret', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    const err = await loadError(awsSource());
    expect(err.message).toBe('aws secret keyward/openai not found (HTTP 400)');
  });

  it('reports permission denied without the service message', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    sm.putSecret('keyward/openai', KEY_A);
    sm.denyAccess('keyward/openai');
    const err = await loadError(awsSource());
    expect(err.message).toMatch(/permission denied reading aws secret keyward\/openai/);
    expect(err.message).not.toContain('arn:aws:iam');
  });

  it('reports rejected credentials without the secret access key', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: 'AKIASOMEONEELSE00000' });
    sm.putSecret('keyward/openai', KEY_A);
    const err = await loadError(awsSource());
    expect(err.message).toMatch(/aws credentials rejected.*UnrecognizedClientException/);
  });

  it('reports a missing field and a secret that is not JSON without its value', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    sm.putSecret('json', JSON.stringify({ anthropic: KEY_B }));
    sm.putSecret('plain', KEY_A);
    expect((await loadError(awsSource({ secretId: 'json', field: 'openai' }))).message).toBe(
      'field "openai" not found in aws secret json',
    );
    await source?.close?.();
    expect((await loadError(awsSource({ secretId: 'plain', field: 'openai' }))).message).toBe(
      'aws secret plain is not JSON, so field "openai" cannot be read',
    );
  });

  it('reports a server error without its body', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    sm.putSecret('keyward/openai', KEY_A);
    sm.failWith(500);
    const err = await loadError(awsSource());
    expect(err.message).toBe('aws secrets manager failed reading aws secret keyward/openai (HTTP 500)');
  });

  it('reports an answer that is not JSON (a proxy in front of the service) by its status', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    sm.putSecret('keyward/openai', KEY_A);
    const src = awsSource();
    sm.failWith(429, { contentType: 'text/plain', body: 'Too Many Requests' });
    expect((await loadError(src)).message).toBe(
      `a non-JSON answer (HTTP 429) from aws secrets manager ${sm.url} reading aws secret keyward/openai`,
    );
    sm.failWith(502, { contentType: 'text/html', body: '<html><body>502 Bad Gateway</body></html>' });
    expect((await loadError(src)).message).toBe(
      `a non-JSON answer (HTTP 502) from aws secrets manager ${sm.url} reading aws secret keyward/openai`,
    );
  });

  it('reports a Secrets Manager that is down', async () => {
    sm = await startFakeSecretsManager({ accessKeyId: ACCESS_KEY_ID });
    sm.putSecret('keyward/openai', KEY_A);
    const src = awsSource();
    await src.load();
    await sm.stop();
    const err = await loadError(src);
    expect(err.message).toMatch(/connection failed/);
    expect(err.message).toContain(sm.url);
  });
});
