// Each from the module that declares it, not its folder's index: a consumer's compiler reads every
// declaration these reach, and the folders' indexes reach the store's, which name the database
// drivers' types (their @types are not our dependencies).
export { hashClientKey } from './auth/key-digest.js';
export { type Config, ConfigError, type ConfigInput, loadConfig } from './config/index.js';
export { createGateway } from './gateway/create.js';
export type { Gateway, GatewayOptions } from './gateway/types.js';
