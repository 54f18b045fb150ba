export { CEILING_ROUTES, type OnExceed } from './ceilings-schema.js';
export { ConfigError } from './errors.js';
export type {
  AwsSourceConfig,
  AzureSourceConfig,
  KeyringSourceConfig,
  ProviderKeysConfig,
  VaultSourceConfig,
} from './key-sources.js';
export { type LoadedConfig, type LoadOptions, loadConfig } from './load.js';
export { type DataPaths, dataPaths } from './paths.js';
export type {
  AnthropicFeature,
  Config,
  ConfigInput,
  ModelConfig,
  ProviderConfig,
  ProviderType,
} from './schema.js';
export { configSchema } from './schema.js';
