import type { ProviderKeysConfig } from '../../config/index.js';
import { createAwsSource } from './aws.js';
import { createAzureSource } from './azure.js';
import type { SourceContext } from './context.js';
import { createEnvSource } from './env.js';
import { createKeyringSource } from './keyring.js';
import { createPassthroughSource } from './passthrough.js';
import { createStoreSource } from './store.js';
import type { KeySource } from './types.js';
import { createValuesSource } from './values.js';
import { createVaultSource } from './vault.js';

export type { SourceContext } from './context.js';
export { keysFromEnv } from './env.js';
export { KeySourceError } from './errors.js';
export { ENC_PREFIX, inlineBinding } from './inline.js';
export { splitKeyList } from './split.js';
export type { KeySource, SourcedKey } from './types.js';

/** The source a provider's `keys` block names. */
export function createKeySource(config: ProviderKeysConfig, context: SourceContext): KeySource {
  if ('env' in config) return createEnvSource(config.env, context);
  if ('values' in config) return createValuesSource(config.values, context);
  if ('store' in config) return createStoreSource(context);
  if ('vault' in config) return createVaultSource(config.vault, context);
  if ('aws' in config) return createAwsSource(config.aws, context);
  if ('azure' in config) return createAzureSource(config.azure, context);
  if ('keyring' in config) return createKeyringSource(config.keyring, context);
  return createPassthroughSource();
}
