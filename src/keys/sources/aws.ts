import type { GetSecretValueCommandOutput, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsSourceConfig } from '../../config/key-sources.js';
import { SecretString } from '../secret-string.js';
import { KeySourceError } from './errors.js';
import { splitKeyList } from './split.js';
import type { KeySource, SourcedKey } from './types.js';

type Sdk = typeof import('@aws-sdk/client-secrets-manager');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Turns an SDK failure into a message that names the problem. The SDK's own message is left out:
 * it can quote the caller's ARN, request details or a service-side explanation we do not control.
 */
function describeFailure(err: unknown, secretId: string, endpoint: string): string {
  const name = isRecord(err) && typeof err.name === 'string' ? err.name : 'Error';
  const code = isRecord(err) && typeof err.code === 'string' ? err.code : undefined;
  const metadata = isRecord(err) ? err.$metadata : undefined;
  const status =
    isRecord(metadata) && typeof metadata.httpStatusCode === 'number'
      ? ` (HTTP ${metadata.httpStatusCode})`
      : '';
  const secret = `aws secret ${secretId}`;
  switch (name) {
    case 'ResourceNotFoundException':
      return `${secret} not found${status}`;
    case 'AccessDeniedException':
      return `permission denied reading ${secret}${status}`;
    case 'DecryptionFailure':
      return `${secret} cannot be decrypted with its KMS key${status}`;
    case 'InvalidRequestException':
      return `${secret} cannot be read now, perhaps scheduled for deletion${status}`;
    case 'InvalidParameterException':
      return `invalid request for ${secret}${status}`;
    case 'InternalServiceError':
      return `aws secrets manager failed reading ${secret}${status}`;
    case 'UnrecognizedClientException':
    case 'InvalidSignatureException':
    case 'InvalidClientTokenId':
    case 'ExpiredTokenException':
    case 'IncompleteSignature':
      return `aws credentials rejected reading ${secret}: ${name}${status}`;
    case 'CredentialsProviderError':
      return `no aws credentials found for ${secret}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile or a role`;
    case 'TimeoutError':
      return `connection failed to aws secrets manager ${endpoint}: timed out`;
    // The SDK's parser failing on a body that is not the service's JSON: a proxy or load balancer
    // answered (an HTML 502, a plain-text 429), which its status says more about than its parser.
    case 'SyntaxError':
      return `a non-JSON answer${status} from aws secrets manager ${endpoint} reading ${secret}`;
  }
  if (code) return `connection failed to aws secrets manager ${endpoint} reading ${secret}: ${code}`;
  return `aws secrets manager error reading ${secret}: ${name}${status}`;
}

/** The secret's text, or the named field of its JSON. Never quotes the value in an error. */
function secretText(out: GetSecretValueCommandOutput, config: AwsSourceConfig): string {
  if (typeof out.SecretString !== 'string') {
    throw new KeySourceError(
      out.SecretBinary
        ? `aws secret ${config.secretId} holds binary data, not a string`
        : `aws secret ${config.secretId} has no value`,
    );
  }
  if (!config.field) return out.SecretString;
  let parsed: unknown;
  try {
    parsed = JSON.parse(out.SecretString);
  } catch {
    // The parser's message quotes the input, which is the secret: it is dropped on purpose.
    throw new KeySourceError(
      `aws secret ${config.secretId} is not JSON, so field "${config.field}" cannot be read`,
    );
  }
  if (!isRecord(parsed) || !(config.field in parsed)) {
    throw new KeySourceError(`field "${config.field}" not found in aws secret ${config.secretId}`);
  }
  const value = parsed[config.field];
  if (typeof value !== 'string') {
    throw new KeySourceError(`field "${config.field}" in aws secret ${config.secretId} is not a string`);
  }
  return value;
}

/** Reads provider keys from one AWS Secrets Manager secret with the official SDK. */
export function createAwsSource(
  config: AwsSourceConfig,
  context: { provider: string; env: NodeJS.ProcessEnv },
): KeySource {
  const endpoint = config.endpoint ?? `the ${config.region} endpoint`;
  const where = `aws secret ${config.secretId}${config.field ? ` field "${config.field}"` : ''} (provider ${context.provider})`;
  const timeoutMs = config.timeoutSeconds * 1000;
  let client: Promise<{ sdk: Sdk; client: SecretsManagerClient }> | undefined;

  function connect(): Promise<{ sdk: Sdk; client: SecretsManagerClient }> {
    // Imported here so that a gateway without an AWS source never loads the SDK.
    client ??= import('@aws-sdk/client-secrets-manager').then((sdk) => ({
      sdk,
      client: new sdk.SecretsManagerClient({
        region: config.region,
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
        // Without throwOnRequestTimeout the SDK only logs a warning when the request timeout passes,
        // and a Secrets Manager that never answers held the load for good.
        requestHandler: {
          connectionTimeout: timeoutMs,
          requestTimeout: timeoutMs,
          throwOnRequestTimeout: true,
        },
      }),
    }));
    return client;
  }

  return {
    kind: 'aws',
    describe: `aws ${config.region} ${config.secretId}${config.field ? `#${config.field}` : ''}`,
    refreshMs: config.refreshSeconds * 1000,
    timeoutMs,

    async load(signal?: AbortSignal): Promise<SourcedKey[]> {
      const { sdk, client: sm } = await connect();
      let out: GetSecretValueCommandOutput;
      try {
        out = await sm.send(
          new sdk.GetSecretValueCommand({ SecretId: config.secretId }),
          signal ? { abortSignal: signal } : {},
        );
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        throw new KeySourceError(describeFailure(err, config.secretId, endpoint));
      }
      const raw = secretText(out, config);
      const created = out.CreatedDate instanceof Date ? out.CreatedDate.getTime() : Number.NaN;
      return splitKeyList(raw, where).map((value, i) => ({
        id: `aws:${config.secretId}#${i + 1}`,
        secret: new SecretString(value),
        ...(Number.isNaN(created) ? {} : { createdAt: created }),
      }));
    },

    async close(): Promise<void> {
      const current = client;
      client = undefined;
      if (current) (await current).client.destroy();
    },
  };
}
