import type { VaultSourceConfig } from '../../config/key-sources.js';
import { SecretString } from '../secret-string.js';
import type { SourceContext } from './context.js';
import { KeySourceError } from './errors.js';
import { splitKeyList } from './split.js';
import type { KeySource, SourcedKey } from './types.js';
import { isRecord, VaultClient, type VaultResponse } from './vault-client.js';

/**
 * Reads provider keys from a KV version 2 secret in HashiCorp Vault over its HTTP API (there is no
 * official Node client). Authenticates with a static token from the environment or with AppRole.
 */
export function createVaultSource(
  config: VaultSourceConfig,
  context: Pick<SourceContext, 'provider' | 'env' | 'warn'>,
): KeySource {
  const client = new VaultClient(config, context.env, context.warn);
  const secretPath = `${config.mount}/${config.path}`;
  const where = `vault secret ${secretPath} field "${config.field}" (provider ${context.provider})`;
  return {
    kind: 'vault',
    describe: `vault ${client.address} ${secretPath}#${config.field}`,
    refreshMs: config.refreshSeconds * 1000,
    timeoutMs: config.timeoutSeconds * 1000,
    load: async (signal?: AbortSignal) => keysFrom(await client.read(signal), config, secretPath, where),
    close: () => client.close(),
  };
}

/** The keys in the secret's field, or an error that names what is wrong with the answer. */
function keysFrom(
  res: VaultResponse,
  config: VaultSourceConfig,
  secretPath: string,
  where: string,
): SourcedKey[] {
  if (res.status === 404) throw new KeySourceError(`vault secret ${secretPath} not found (HTTP 404)`);
  if (res.status === 403) {
    throw new KeySourceError(`vault permission denied reading ${secretPath} (HTTP 403)`);
  }
  if (res.status !== 200) throw new KeySourceError(`vault answered HTTP ${res.status} reading ${secretPath}`);
  const outer = isRecord(res.json) ? res.json.data : undefined;
  const data = isRecord(outer) ? outer.data : undefined;
  if (!isRecord(data)) {
    throw new KeySourceError(
      `vault secret ${secretPath} has no data: not a KV version 2 secret, or its latest version is deleted`,
    );
  }
  if (!(config.field in data)) {
    throw new KeySourceError(`field "${config.field}" not found in vault secret ${secretPath}`);
  }
  const raw = data[config.field];
  if (typeof raw !== 'string') {
    throw new KeySourceError(`field "${config.field}" in vault secret ${secretPath} is not a string`);
  }
  const metadata = isRecord(outer) ? outer.metadata : undefined;
  const created =
    isRecord(metadata) && typeof metadata.created_time === 'string'
      ? Date.parse(metadata.created_time)
      : Number.NaN;
  return splitKeyList(raw, where).map((value, i) => ({
    id: `vault:${secretPath}#${i + 1}`,
    secret: new SecretString(value),
    ...(Number.isNaN(created) ? {} : { createdAt: created }),
  }));
}
