import { createHash } from 'node:crypto';
import type { StoredResponse } from '../../src/conversations/response-entries.js';
import type { SessionGrant, SessionRecord, TokenRecord } from '../../src/store/index.js';

/** A stored gateway token with no constraints, for store tests; `overrides` sets the fields a test cares about. */
export function tokenRecord(
  id: string,
  createdAt: number,
  overrides: Partial<TokenRecord> = {},
): TokenRecord {
  return {
    id,
    secretHash: createHash('sha256').update(id).digest('hex'),
    name: `token ${id}`,
    clientId: null,
    userId: null,
    scopes: ['chat'],
    models: null,
    templates: null,
    providers: null,
    maxTokens: null,
    ipAllowlist: null,
    expiresAt: null,
    limits: {},
    budget: null,
    metadata: {},
    createdBy: null,
    createdAt,
    revokedAt: null,
    ...overrides,
  };
}

/** A session's or login code's grant for user alice, chat only; `overrides` sets the rest. */
export function sessionGrant(overrides: Partial<SessionGrant> = {}): SessionGrant {
  return {
    userId: 'alice',
    scopes: ['chat'],
    models: null,
    providers: null,
    maxTokens: null,
    templates: null,
    limits: {},
    budget: null,
    metadata: {},
    lifetimeMs: 86_400_000,
    ...overrides,
  };
}

/** A live stored session of alice's under `grant`, for store tests; `overrides` sets the rest. */
export function sessionRecord(
  id: string,
  grant: SessionGrant,
  overrides: Partial<SessionRecord> = {},
): SessionRecord {
  return {
    id,
    userId: 'alice',
    guest: false,
    grant,
    createdBy: null,
    createdAt: 1_000,
    expiresAt: 100_000,
    refreshedAt: 1_000,
    accessHash: `access-${id}`,
    accessExpiresAt: 2_000,
    generation: 1,
    revokedAt: null,
    revokedReason: null,
    ...overrides,
  };
}

/** A finished response as the Responses API stores it: one assistant message saying `text`. */
export function storedAnswer(id: string, text: string): StoredResponse {
  return {
    id,
    previous_response_id: null,
    output: [
      {
        type: 'message',
        id: `msg_${id}`,
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text, annotations: [] }],
      },
    ],
  };
}
