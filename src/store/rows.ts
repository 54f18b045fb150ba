import type {
  AdminSessionRecord,
  AuditRecord,
  ChainLink,
  ConversationItemRecord,
  ConversationRecord,
  InstanceRecord,
  LoginCodeRecord,
  ProviderKeyRecord,
  ProviderKeyStatus,
  SessionGrant,
  SessionRecord,
  TemplateRecord,
  TokenRecord,
  UsageGrouping,
} from './types.js';

/**
 * Rows as both stores return them (same column names; BIGINTs read as numbers in Postgres) and
 * the records they map to: one definition for SQLite and Postgres.
 */

export const USAGE_GROUP_COLUMN: Record<UsageGrouping, string> = {
  token: 'token_id',
  user: 'user_id',
  model: 'model',
  day: 'day',
  template: 'template',
};

export interface TokenRow {
  id: string;
  secret_hash: string;
  name: string;
  client_id: string | null;
  user_id: string | null;
  scopes: string;
  models: string | null;
  providers: string | null;
  templates: string | null;
  max_tokens: number | null;
  ip_allowlist: string | null;
  expires_at: number | null;
  limits: string;
  budget: string | null;
  metadata: string;
  created_by: string | null;
  created_at: number;
  revoked_at: number | null;
}

export const jsonOrNull = <T>(text: string | null): T | null =>
  text === null ? null : (JSON.parse(text) as T);
export const jsonText = (value: unknown): string | null =>
  value === null || value === undefined ? null : JSON.stringify(value);

export const tokenFromRow = (row: TokenRow): TokenRecord => ({
  id: row.id,
  secretHash: row.secret_hash,
  name: row.name,
  clientId: row.client_id,
  userId: row.user_id,
  scopes: JSON.parse(row.scopes),
  models: jsonOrNull(row.models),
  providers: jsonOrNull(row.providers),
  templates: jsonOrNull(row.templates),
  maxTokens: row.max_tokens,
  ipAllowlist: jsonOrNull(row.ip_allowlist),
  expiresAt: row.expires_at,
  limits: JSON.parse(row.limits),
  budget: jsonOrNull(row.budget),
  metadata: JSON.parse(row.metadata),
  createdBy: row.created_by,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

export interface AuditRow {
  seq: number;
  at: number;
  type: string;
  actor: string;
  data: string;
  prev_mac: string;
  mac: string;
}

export const auditFromRow = (row: AuditRow): AuditRecord => ({
  seq: row.seq,
  at: row.at,
  type: row.type,
  actor: row.actor,
  data: JSON.parse(row.data),
  prevMac: row.prev_mac,
  mac: row.mac,
});

export interface ConversationRow {
  id: string;
  kind: ConversationRecord['kind'];
  owner: string;
  created_at: number;
  sealed: string;
  previous_id: string | null;
  item_count: number | null;
  item_bytes: number | null;
}

export interface ChainRow {
  id: string;
  previous_id: string | null;
  item_count: number | null;
  item_bytes: number | null;
}

/** The count and bytes of a record's items, where it keeps them (Postgres's BIGINT is parsed to a number on open). */
const itemTotals = (row: { item_count: number | null; item_bytes: number | null }) =>
  row.item_count === null || row.item_bytes === null
    ? {}
    : { itemCount: row.item_count, itemBytes: row.item_bytes };

export const chainLinkFromRow = (row: ChainRow): ChainLink => ({
  id: row.id,
  ...(row.previous_id !== null && { previousId: row.previous_id }),
  ...itemTotals(row),
});

export interface ItemRow {
  seq: number;
  parent_id: string;
  id: string;
  owner: string;
  part: ConversationItemRecord['part'];
  created_at: number;
  bytes: number;
  sealed: string;
}

export const conversationFromRow = (row: ConversationRow): ConversationRecord => ({
  id: row.id,
  kind: row.kind,
  owner: row.owner,
  createdAt: row.created_at,
  sealed: row.sealed,
  ...(row.previous_id !== null && { previousId: row.previous_id }),
  ...itemTotals(row),
});

export const itemFromRow = (row: ItemRow): ConversationItemRecord => ({
  seq: row.seq,
  parentId: row.parent_id,
  id: row.id,
  owner: row.owner,
  part: row.part,
  createdAt: row.created_at,
  bytes: row.bytes,
  sealed: row.sealed,
});

export interface InstanceRow {
  id: string;
  host: string;
  pid: number;
  limits: 'memory' | 'redis';
  started_at: number;
  seen_at: number;
  master_key_id: string | null;
}

export const instanceFromRow = (row: InstanceRow): InstanceRecord => ({
  id: row.id,
  host: row.host,
  pid: row.pid,
  limits: row.limits,
  startedAt: row.started_at,
  seenAt: row.seen_at,
  masterKeyId: row.master_key_id ?? undefined,
});

export interface SessionRow {
  id: string;
  user_id: string | null;
  /** SQLite keeps booleans as 0 and 1. */
  guest: number | boolean;
  grant_json: string;
  created_by: string | null;
  created_at: number;
  expires_at: number;
  refreshed_at: number;
  access_hash: string;
  access_expires_at: number;
  generation: number;
  revoked_at: number | null;
  revoked_reason: string | null;
}

export interface CodeRow {
  hash: string;
  grant_json: string;
  created_by: string | null;
  expires_at: number;
}

export const sessionFromRow = (row: SessionRow): SessionRecord => ({
  id: row.id,
  userId: row.user_id,
  guest: row.guest === 1 || row.guest === true,
  grant: JSON.parse(row.grant_json) as SessionGrant,
  createdBy: row.created_by,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  refreshedAt: row.refreshed_at,
  accessHash: row.access_hash,
  accessExpiresAt: row.access_expires_at,
  generation: row.generation,
  revokedAt: row.revoked_at,
  revokedReason: row.revoked_reason,
});

export interface TemplateRow {
  name: string;
  version: number;
  definition: string;
  created_by: string;
  created_at: number;
  deleted_at: number | null;
}

export const templateFromRow = (row: TemplateRow): TemplateRecord => ({
  name: row.name,
  version: row.version,
  definition: JSON.parse(row.definition),
  createdBy: row.created_by,
  createdAt: row.created_at,
  deletedAt: row.deleted_at,
});

export interface KeyRow {
  id: string;
  provider: string;
  ciphertext: string;
  fingerprint: string;
  status: ProviderKeyStatus;
  weight: number;
  created_at: number;
  updated_at: number;
}

export const keyFromRow = (row: KeyRow): ProviderKeyRecord => ({
  id: row.id,
  provider: row.provider,
  ciphertext: row.ciphertext,
  fingerprint: row.fingerprint,
  status: row.status,
  weight: row.weight,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const codeFromRow = (row: CodeRow): LoginCodeRecord => ({
  hash: row.hash,
  grant: JSON.parse(row.grant_json) as SessionGrant,
  createdBy: row.created_by,
  expiresAt: row.expires_at,
});

export interface AdminSessionRow {
  hash: string;
  actor: string;
  created_at: number;
  expires_at: number;
}

export const adminSessionFromRow = (row: AdminSessionRow): AdminSessionRecord => ({
  hash: row.hash,
  actor: row.actor,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
});
