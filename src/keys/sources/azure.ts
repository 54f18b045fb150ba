import { AsyncLocalStorage } from 'node:async_hooks';
import type { HttpClient } from '@azure/core-rest-pipeline';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { AzureSourceConfig } from '../../config/key-sources.js';
import { SecretString } from '../secret-string.js';
import { KeySourceError } from './errors.js';
import { splitKeyList } from './split.js';
import type { KeySource, SourcedKey } from './types.js';

/**
 * What the SDK throws, before any token is asked for, when a vault's 401 challenge names a resource
 * its host is not under (keyVaultAuthenticationPolicy's verifyChallengeResource). The text is the
 * SDK's own; only its fixed opening is matched, and nothing of it is reused.
 */
const CHALLENGE_REFUSED = /^The challenge (resource '.*' does not match|contains invalid scope)/;

/** Network error codes worth naming: they say what went wrong without any response content. */
const SAFE_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

function errorCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && SAFE_CODE.test(code) ? code : undefined;
}

/** Key Vault's 403 to a GET of a disabled secret carries `innererror.code` SecretDisabled. */
function isDisabledSecret(error: Error): boolean {
  const details = (error as { details?: { error?: { innerError?: { code?: unknown } } } }).details;
  return details?.error?.innerError?.code === 'SecretDisabled';
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
  if (CHALLENGE_REFUSED.test(error.message)) {
    return new KeySourceError(
      `${where}: the vault's 401 challenge asks for a token to a resource its host is not under, ` +
        'so none was sent; check vaultUrl names the vault itself (https://NAME.vault.azure.net)',
    );
  }
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
    if (status === 403 && isDisabledSecret(error)) {
      return new KeySourceError(`${where}: ${secret} is disabled; its keys are not used`, {
        withdrawn: true,
      });
    }
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

/**
 * The deadline of the load a request is sent for, wherever in the SDK it is sent from. The managed
 * identity's token requests take no signal (msal-node sends them, and keeps the network client of
 * the first credential made in the process for every later one), so a request is tied to its load
 * by the async context it starts in rather than by anything the SDK passes along.
 */
const loadDeadline = new AsyncLocalStorage<AbortSignal>();

/** `inner`, with every request sent during a load also aborted at that load's deadline. */
function abortedAtDeadline(inner: HttpClient): HttpClient {
  return {
    async sendRequest(request) {
      const deadline = loadDeadline.getStore();
      if (!deadline) return inner.sendRequest(request);
      const own = request.abortSignal;
      const either = new AbortController();
      const abort = () => either.abort();
      if (deadline.aborted || own?.aborted) abort();
      deadline.addEventListener('abort', abort);
      own?.addEventListener('abort', abort);
      request.abortSignal = either.signal;
      try {
        return await inner.sendRequest(request);
      } finally {
        deadline.removeEventListener('abort', abort);
        own?.removeEventListener('abort', abort);
      }
    },
  };
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
    const [{ SecretClient }, { DefaultAzureCredential }, { createDefaultHttpClient }] = await Promise.all([
      import('@azure/keyvault-secrets'),
      import('@azure/identity'),
      import('@azure/core-rest-pipeline'),
    ]);
    const credential = new DefaultAzureCredential({
      httpClient: abortedAtDeadline(createDefaultHttpClient()),
    });
    // The SDK's challenge check stays on for every host: the 401 challenge names the resource the
    // token is minted for, and only the check keeps a host that is not a vault (a mistyped name, a
    // proxy, hijacked DNS) from choosing one, say Azure Resource Manager, and being sent its token.
    return new SecretClient(config.vaultUrl, credential, {
      // A failed load keeps the last keys and the next refresh tries again, so a down vault should
      // fail within seconds rather than after the SDK's default minute of backoff.
      retryOptions: { maxRetries: 2, retryDelayInMs: 500, maxRetryDelayInMs: 2_000 },
    });
  }

  async function read(
    connecting: Promise<SecretClient>,
    signal: AbortSignal | undefined,
  ): Promise<SourcedKey[]> {
    const secret = await (await connecting).getSecret(config.secretName, {
      version: config.version,
      abortSignal: signal,
    });
    const { createdOn, expiresOn, notBefore } = secret.properties;
    // Key Vault returns the value of a secret outside its nbf/exp window (its docs: for tests and
    // recovery), so the window is kept here: an operator sets an expiry for the key not to be used.
    const now = Date.now();
    if (expiresOn && expiresOn.getTime() <= now) {
      throw new KeySourceError(
        `${where} expired at ${expiresOn.toISOString()} (its "exp"); its keys are not used`,
        { withdrawn: true },
      );
    }
    if (notBefore && notBefore.getTime() > now) {
      throw new KeySourceError(
        `${where} is not valid before ${notBefore.toISOString()} (its "nbf"); its keys are not used until then`,
        { withdrawn: true },
      );
    }
    const createdAt = createdOn?.getTime();
    const expiresAt = expiresOn?.getTime();
    return splitKeyList(secret.value ?? '', where).map((value, i) => ({
      id: `azure:${config.secretName}#${i + 1}`,
      secret: new SecretString(value),
      ...(createdAt === undefined ? {} : { createdAt }),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    }));
  }

  return {
    kind: 'azure',
    describe: `azure ${config.vaultUrl} ${config.secretName}`,
    refreshMs: config.refreshSeconds * 1000,
    timeoutMs: config.timeoutSeconds * 1000,
    async load(signal?: AbortSignal): Promise<SourcedKey[]> {
      client ??= createClient().catch((error: unknown) => {
        client = undefined;
        throw error;
      });
      const connecting = client;
      // The client's credential shares one token request among its callers, and one started by an
      // earlier load (a renewal ahead of expiry) is not this deadline's to end: kept, a token
      // request that never answered held every later load, even once the endpoint answered again.
      const drop = () => {
        if (client === connecting) client = undefined;
      };
      signal?.addEventListener('abort', drop);
      try {
        return await (signal
          ? loadDeadline.run(signal, () => read(connecting, signal))
          : read(connecting, signal));
      } catch (error) {
        throw toKeySourceError(error, config, context.provider);
      } finally {
        signal?.removeEventListener('abort', drop);
      }
    },
  };
}
