export { GatherRelay } from './cluster-gather.js';
export { createGateway } from './create.js';
export { passphraseSalt, sealingKeyId } from './secrets.js';
export { AuthFailureTally } from './shared-auth-failures.js';
export { GuessTally } from './shared-failure-guard.js';
export { isKeyStateMessage } from './shared-key-state.js';
export { TokenTrafficTally } from './shared-token-traffic.js';
export {
  announce,
  openStore,
  postgresLocation,
  postgresOptions,
  refusalsBeforeMigrating,
  StoreOpenError,
  storeFaultAtStart,
  storeLocation,
} from './storage.js';
export { storedSpend } from './traffic.js';
export type { Gateway, GatewayOptions } from './types.js';
