export { EnvelopeError, open, type RecordBinding, type SealingKey, seal, sealedBy } from './envelope.js';
export { type KeyCheckEvents, KeyChecker, type KeyVerdict, type ProbeKey } from './key-checker.js';
export {
  type Acquired,
  isExpired,
  KeyPool,
  type KeyState,
  type KeyStateChange,
  MAX_QUOTA_DAY_MS,
  type PooledKey,
} from './key-pool.js';
export {
  decodeMasterKey,
  deriveMasterKey,
  generateMasterKey,
  loadMasterKey,
  loadPreviousMasterKey,
  MASTER_KEY_BYTES,
  type MasterKey,
  MasterKeyError,
  type MasterKeyOptions,
  masterKeyRing,
  previousKeyFile,
  readMasterKeyFile,
  readPreviousMasterKey,
  SCRYPT_FLOOR,
  type ScryptParams,
} from './master-key.js';
export { type KeyEvents, ProviderKeys, type ProviderKeysOptions } from './provider-keys.js';
export { pooledRandomBytes, pooledRandomHex } from './random-pool.js';
export {
  loadSealedSecret,
  rewrapSealedSecrets,
  SEALED_SECRETS,
  type SealedSecretName,
} from './sealed-secrets.js';
export { fingerprintOf, SecretString } from './secret-string.js';
export {
  createKeySource,
  ENC_PREFIX,
  inlineBinding,
  type KeySource,
  KeySourceError,
  keysFromEnv,
  type SourceContext,
  type SourcedKey,
  splitKeyList,
} from './sources/index.js';
export {
  KeyAlreadyStored,
  KeyValueError,
  StoredKeys,
  type StoredKeyView,
  toView,
  validateKeyValue,
} from './stored-keys.js';
