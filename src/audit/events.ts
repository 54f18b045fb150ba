import type { AuditSink } from './audit-log.js';

/** Every event type the gateway records. */
export const AUDIT_EVENTS = {
  tokenCreated: 'token.created',
  tokenRevoked: 'token.revoked',
  keyAdded: 'key.added',
  keyRotated: 'key.rotated',
  keyDisabled: 'key.disabled',
  keyEnabled: 'key.enabled',
  keyRemoved: 'key.removed',
  keyRejected: 'key.rejected',
  configReloaded: 'config.reloaded',
  adminAction: 'admin.action',
  authFailed: 'auth.failed',
  authFailedSampled: 'auth.failed.sampled',
  request: 'request',
  sessionCodeCreated: 'session.code_created',
  sessionLogin: 'session.login',
  sessionRefreshReused: 'session.refresh_reused',
  sessionLogout: 'session.logout',
  sessionRevoked: 'session.revoked',
  jwtRevoked: 'jwt.revoked',
} as const;

export type AuditEventType = (typeof AUDIT_EVENTS)[keyof typeof AUDIT_EVENTS];

/** Actors that are not a token id or a client IP. */
export const AUDIT_ACTORS = { admin: 'admin', cli: 'cli', system: 'system' } as const;

// Data shapes are type aliases, not interfaces: only aliases are assignable to the
// `Record<string, unknown>` that `AuditSink.record` takes. None has room for a secret or prompt text.

export type TokenCreatedData = {
  tokenId: string;
  name?: string;
  clientId?: string;
  userId?: string;
  scopes?: string[];
  expiresAt?: number;
};
export type TokenRevokedData = { tokenId: string; reason?: string };
/** `fingerprint` is the log-safe form (`sk-…a1b2 [#3f9c0d12]`), never the key. */
export type KeyAddedData = { provider: string; keyId: string; fingerprint?: string; source?: string };
export type KeyRotatedData = {
  provider: string;
  keyId: string;
  previousKeyId?: string;
  fingerprint?: string;
};
export type KeyStateData = { provider: string; keyId: string; reason?: string };
export type KeyRejectedData = { provider: string; keyId: string; status?: number; message?: string };
export type ConfigReloadedData = { ok: boolean; changed?: string[]; error?: string };
export type AdminActionData = {
  action: string;
  target?: string;
  detail?: Record<string, string | number | boolean>;
};
export type AuthFailedData = { reason: string; surface?: string };
export type AuthFailedSampledData = {
  suppressed: number;
  reasons: Array<{ reason: string; count: number }>;
  windowStart: number;
  windowMs: number;
};
/** One proxied request, summarised: who, what, how much. Never the prompt or the completion. */
export type RequestSummaryData = {
  requestId: string;
  tokenId: string;
  clientId?: string;
  userId?: string;
  model: string;
  provider: string;
  /** The prompt template the request ran, if any. */
  template?: string;
  status: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  durationMs: number;
};

/** Browser sessions: ids and users only, never a code, cookie or refresh token. */
export type SessionEventData = {
  sessionId?: string;
  userId?: string;
  guest?: boolean;
  reason?: string;
  count?: number;
};
export type JwtRevokedData = { claim: string; value: string; issuer?: string };

export interface AuditEventData {
  'token.created': TokenCreatedData;
  'token.revoked': TokenRevokedData;
  'key.added': KeyAddedData;
  'key.rotated': KeyRotatedData;
  'key.disabled': KeyStateData;
  'key.enabled': KeyStateData;
  'key.removed': KeyStateData;
  'key.rejected': KeyRejectedData;
  'config.reloaded': ConfigReloadedData;
  'admin.action': AdminActionData;
  'auth.failed': AuthFailedData;
  'auth.failed.sampled': AuthFailedSampledData;
  request: RequestSummaryData;
  'session.code_created': SessionEventData;
  'session.login': SessionEventData;
  'session.refresh_reused': SessionEventData;
  'session.logout': SessionEventData;
  'session.revoked': SessionEventData;
  'jwt.revoked': JwtRevokedData;
}

/** Records an event whose data is checked against its type at compile time. */
export function recordEvent<T extends AuditEventType>(
  log: AuditSink,
  type: T,
  actor: string,
  data: AuditEventData[T],
): void {
  log.record(type, actor, data);
}

const REQUEST_FIELDS: ReadonlyArray<keyof RequestSummaryData> = [
  'requestId',
  'tokenId',
  'clientId',
  'userId',
  'model',
  'provider',
  'template',
  'status',
  'inputTokens',
  'outputTokens',
  'costMicros',
  'durationMs',
];

/**
 * Records a request summary, copying only the summary's fields: a caller may pass its whole
 * request context (with the messages in it) and no prompt text reaches the log.
 */
export function recordRequest(log: AuditSink, actor: string, summary: RequestSummaryData): void {
  const data: Record<string, unknown> = {};
  for (const field of REQUEST_FIELDS) {
    if (summary[field] !== undefined) data[field] = summary[field];
  }
  log.record(AUDIT_EVENTS.request, actor, data);
}
