import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureSourceConfig } from '../../config/key-sources.js';
import { SecretString } from '../secret-string.js';
import { KeySourceError } from './errors.js';
import { splitKeyList } from './split.js';
import type { KeySource, SourcedKey } from './types.js';

/**
 * DNS suffixes of Azure Key Vault and Managed HSM in the public and sovereign clouds. The SDK only
 * sends a token after checking that the vault host lies under the resource named in the 401
 * challenge, which is what stops a mistyped or hostile host from collecting a vault token.
 */
const AZURE_VAULT_SUFFIXES = [
  '.vault.azure.net',
  '.vault.azure.cn',
  '.vault.usgovcloudapi.net',
  '.vault.microsoftazure.de',
  '.managedhsm.azure.net',
  '.managedhsm.azure.cn',
  '.managedhsm.usgovcloudapi.net',
];

function isAzureVaultHost(vaultUrl: string): boolean {
  const host = new URL(vaultUrl).hostname.toLowerCase();
  return AZURE_VAULT_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

/** Network error codes worth naming: they say what went wrong without any response content. */
const SAFE_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

function errorCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && SAFE_CODE.test(code) ? code : undefined;
}

/**
 * Turns whatever the SDK threw into a KeySourceError. SDK messages are not reused: a RestError's
 * message is the service's own text and identity errors can quote token endpoint responses, so
 * only status codes, error codes and error class names (all fixed vocabularies) reach the message.
 */
function toKeySourceError(error: unknown, config: AzureSourceConfig, provider: string): KeySourceError {
  if (error instanceof KeySourceError) return error;
  const secret = `secret "${config.secretName}"${config.version ? ` version ${config.version}` : ''}`;
  const where = `Azure Key Vault ${config.vaultUrl} (provider ${provider})`;
  if (!(error instanceof Error)) return new KeySourceError(`${where}: reading ${secret} failed`);
  switch (error.name) {
    case 'AbortError':
      return new KeySourceError(`${where}: reading ${secret} was aborted`);
    case 'CredentialUnavailableError':
    case 'AggregateAuthenticationError':
      return new KeySourceError(
        `${where}: no Azure credential could get a token (DefaultAzureCredential tried environment ` +
          'credentials, workload identity, managed identity and developer sign-ins)',
      );
    case 'AuthenticationError':
    case 'AuthenticationRequiredError':
      return new KeySourceError(`${where}: the Azure credential could not obtain a token for Key Vault`);
  }
  const status = (error as { statusCode?: unknown }).statusCode;
  const code = errorCode(error);
  if (error.name === 'RestError' && typeof status === 'number') {
    if (status === 404) return new KeySourceError(`${where}: ${secret} not found`);
    if (status === 403) {
      return new KeySourceError(
        `${where}: forbidden to read ${secret}; grant the identity "get" on secrets ` +
          '(Key Vault Secrets User role or an access policy), and check the secret is enabled',
      );
    }
    if (status === 401) return new KeySourceError(`${where}: Key Vault rejected the credential's token`);
    if (status === 429) return new KeySourceError(`${where}: Key Vault throttled the request (429)`);
    return new KeySourceError(`${where}: Key Vault answered ${status}${code ? ` (${code})` : ''}`);
  }
  if (code) return new KeySourceError(`${where}: connection failed (${code})`);
  return new KeySourceError(`${where}: reading ${secret} failed (${error.name})`);
}

/** Keys from one Azure Key Vault secret (several keys comma-separated), via DefaultAzureCredential. */
export function createAzureSource(
  config: AzureSourceConfig,
  context: { provider: string; env: NodeJS.ProcessEnv },
): KeySource {
  const where = `Azure Key Vault secret ${config.secretName} in ${config.vaultUrl}`;
  let client: Promise<SecretClient> | undefined;

  async function createClient(): Promise<SecretClient> {
    // Loaded on first use: the Azure SDK is large and most deployments never read from Key Vault.
    const [{ SecretClient }, { DefaultAzureCredential }] = await Promise.all([
      import('@azure/keyvault-secrets'),
      import('@azure/identity'),
    ]);
    return new SecretClient(config.vaultUrl, new DefaultAzureCredential(), {
      // A host outside Azure's vault domains (an emulator, a test double) can never pass the SDK's
      // challenge check, since its name is not under `vault.azure.net`. The operator named that
      // host explicitly in the config, so it is trusted the way a configured Vault address is;
      // real Azure vaults keep the check.
      disableChallengeResourceVerification: !isAzureVaultHost(config.vaultUrl),
      // A failed load keeps the last keys and the next refresh tries again, so a down vault should
      // fail within seconds rather than after the SDK's default minute of backoff.
      retryOptions: { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 2_000 },
    });
  }

  return {
    kind: 'azure',
    describe: `azure ${config.vaultUrl} ${config.secretName}`,
    refreshMs: config.refreshSeconds * 1000,
    timeoutMs: config.timeoutSeconds * 1000,
    async load(signal?: AbortSignal): Promise<SourcedKey[]> {
      try {
        client ??= createClient().catch((error: unknown) => {
          client = undefined;
          throw error;
        });
        const secret = await (await client).getSecret(config.secretName, {
          version: config.version,
          abortSignal: signal,
        });
        const createdAt = secret.properties.createdOn?.getTime();
        return splitKeyList(secret.value ?? '', where).map((value, i) => ({
          id: `azure:${config.secretName}#${i + 1}`,
          secret: new SecretString(value),
          ...(createdAt === undefined ? {} : { createdAt }),
        }));
      } catch (error) {
        // The credential's token request may be the one that hangs, and it does not take the
        // signal: a new client next time, or every later load would wait on that same request.
        if (signal?.aborted) client = undefined;
        throw toKeySourceError(error, config, context.provider);
      }
    },
  };
}
