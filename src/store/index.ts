export { openSqliteStore } from './sqlite.js';
export type { MetaStore, ProviderKeyRecord, ProviderKeyStatus, ProviderKeyStore, Store } from './types.js';
