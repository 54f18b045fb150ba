import { describe, expect, it } from 'vitest';
import {
  AUDIT_EVENTS,
  type AuditSink,
  isSecretName,
  type RequestSummaryData,
  recordEvent,
  recordRequest,
} from '../../src/audit/index.js';

function collector(): AuditSink & { records: Array<[string, string, Record<string, unknown>]> } {
  const records: Array<[string, string, Record<string, unknown>]> = [];
  return { records, record: (type, actor, data = {}) => records.push([type, actor, data]) };
}

describe('audit events', () => {
  it('names every event type the gateway emits', () => {
    expect(Object.values(AUDIT_EVENTS).sort()).toEqual([
      'admin.action',
      'auth.failed',
      'auth.failed.sampled',
      'config.reloaded',
      'jwt.revoked',
      'key.added',
      'key.disabled',
      'key.enabled',
      'key.rejected',
      'key.removed',
      'key.rotated',
      'request',
      'session.code_created',
      'session.login',
      'session.logout',
      'session.refresh_reused',
      'session.revoked',
      'token.created',
      'token.revoked',
    ]);
  });

  it('copies only the summary fields of a request, never its prompt', () => {
    const log = collector();
    const context = {
      requestId: 'req_1',
      tokenId: 'tok_1',
      model: 'gpt-4o-mini',
      provider: 'openai',
      status: 200,
      inputTokens: 10,
      outputTokens: 20,
      costMicros: 30,
      durationMs: 40,
      messages: [{ role: 'user', content: 'my prompt text' }],
    };
    recordRequest(log, 'tok_1', context satisfies RequestSummaryData);
    expect(log.records).toEqual([
      ['request', 'tok_1', { ...context, messages: undefined }].map((v) =>
        typeof v === 'object' ? JSON.parse(JSON.stringify(v)) : v,
      ),
    ]);
    expect(JSON.stringify(log.records)).not.toContain('prompt');
  });

  it('checks event data against its type', () => {
    const log = collector();
    recordEvent(log, 'key.rotated', 'admin', { provider: 'openai', keyId: 'key_2', previousKeyId: 'key_1' });
    // @ts-expect-error: a token.created event needs its tokenId.
    recordEvent(log, 'token.created', 'admin', { name: 'ci' });
    expect(log.records[0]).toEqual([
      'key.rotated',
      'admin',
      { provider: 'openai', keyId: 'key_2', previousKeyId: 'key_1' },
    ]);
  });

  it.each([
    ['apiKey', true],
    ['x-api-key', true],
    ['Authorization', true],
    ['access_token', true],
    ['clientSecret', true],
    ['PASSWORD', true],
    ['value', true],
    ['key', true],
    ['tokenId', false],
    ['keyId', false],
    ['inputTokens', false],
    ['fingerprint', false],
    ['reason', false],
  ])('treats the field name %s as secret: %s', (name, secret) => {
    expect(isSecretName(name)).toBe(secret);
  });
});
