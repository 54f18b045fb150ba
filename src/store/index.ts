export { openSqliteStore } from './sqlite.js';
export { GENESIS_MAC } from './sqlite-audit.js';
export type {
  AuditEntry,
  AuditRecord,
  AuditStore,
  BudgetPeriod,
  ConversationItemRecord,
  ConversationRecord,
  ConversationStore,
  MetaStore,
  ProviderKeyRecord,
  ProviderKeyStatus,
  ProviderKeyStore,
  Scope,
  Store,
  TokenRecord,
  TokenStore,
  UsageDelta,
  UsageGrouping,
  UsageRow,
  UsageStore,
} from './types.js';
