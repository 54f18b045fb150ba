export { KeySourceError, keysFromEnv } from './env-source.js';
export { KeyPool } from './key-pool.js';
export { SecretString } from './secret-string.js';
