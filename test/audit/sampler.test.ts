import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, type AuditSink, AuthFailureSampler, verifyChain } from '../../src/audit/index.js';
import { type AuditFixture, openFixture } from './support/fixture.js';

interface Recorded {
  type: string;
  actor: string;
  data: Record<string, unknown>;
}

function collector(): AuditSink & { records: Recorded[] } {
  const records: Recorded[] = [];
  return { records, record: (type, actor, data = {}) => records.push({ type, actor, data }) };
}

const T0 = 1_700_000_000_000;

describe('AuthFailureSampler', () => {
  it('records the first 10 failures per IP per minute, then one summary of the rest', () => {
    const log = collector();
    const sampler = new AuthFailureSampler({ log, timer: false, now: () => T0 });
    for (let i = 0; i < 1000; i++)
      sampler.failed('203.0.113.9', i % 4 === 0 ? 'expired_token' : 'unknown_token', T0 + i * 50);
    for (let i = 0; i < 3; i++) sampler.failed('198.51.100.7', 'unknown_token', T0 + 1000 + i);
    const attacker = () => log.records.filter((r) => r.actor === '203.0.113.9');
    expect(attacker()).toHaveLength(10);
    expect(attacker().every((r) => r.type === 'auth.failed')).toBe(true);
    sampler.tick(T0 + 59_999);
    expect(attacker()).toHaveLength(10);
    sampler.tick(T0 + 60_000);
    expect(attacker()).toHaveLength(11);
    expect(attacker()[10]).toEqual({
      type: 'auth.failed.sampled',
      actor: '203.0.113.9',
      data: {
        suppressed: 990,
        reasons: [
          { reason: 'unknown_token', count: 743 },
          { reason: 'expired_token', count: 247 },
        ],
        windowStart: T0,
        windowMs: 60_000,
      },
    });
    // Another client is neither suppressed nor summarised.
    const other = log.records.filter((r) => r.actor === '198.51.100.7');
    expect(other.map((r) => r.type)).toEqual(['auth.failed', 'auth.failed', 'auth.failed']);
    // Its window started later and is still open; it closes without a summary (nothing suppressed).
    expect(sampler.tracked).toBe(1);
    sampler.tick(T0 + 61_000);
    expect(sampler.tracked).toBe(0);
    expect(log.records.filter((r) => r.actor === '198.51.100.7')).toHaveLength(3);
  });

  it('starts a new window after a minute, summarising the old one first', () => {
    const log = collector();
    const sampler = new AuthFailureSampler({ log, timer: false });
    for (let i = 0; i < 15; i++) sampler.failed('ip', 'bad', T0 + i);
    sampler.failed('ip', 'bad', T0 + 60_000);
    expect(log.records.map((r) => r.type)).toEqual([
      ...Array(10).fill('auth.failed'),
      'auth.failed.sampled',
      'auth.failed',
    ]);
    expect(log.records[10]!.data.suppressed).toBe(5);
  });

  it('tracks a bounded number of IPs, summarising those it evicts', () => {
    const log = collector();
    const sampler = new AuthFailureSampler({ log, timer: false, maxIps: 100 });
    for (let ip = 0; ip < 1000; ip++) {
      for (let i = 0; i < 12; i++) sampler.failed(`10.0.${ip >> 8}.${ip & 255}`, 'bad', T0 + ip);
      expect(sampler.tracked).toBeLessThanOrEqual(100);
    }
    const summaries = log.records.filter((r) => r.type === 'auth.failed.sampled');
    expect(summaries).toHaveLength(900);
    sampler.stop();
    expect(log.records.filter((r) => r.type === 'auth.failed.sampled')).toHaveLength(1000);
    expect(log.records.filter((r) => r.type === 'auth.failed')).toHaveLength(10_000);
  });

  it('counts failures against the subject an address belongs to, summarised under the subject', () => {
    const log = collector();
    const subjectOf = (ip: string) => (ip.startsWith('2001:db8:1:2:') ? '2001:db8:1:2::/64' : ip);
    const sampler = new AuthFailureSampler({ log, timer: false, subjectOf });
    for (let i = 1; i <= 300; i++) sampler.failed(`2001:db8:1:2::${i.toString(16)}`, 'bad', T0 + i);
    sampler.stop();
    expect(log.records.slice(0, 10).map((r) => r.actor)).toEqual(
      Array.from({ length: 10 }, (_, i) => `2001:db8:1:2::${(i + 1).toString(16)}`),
    );
    expect(log.records.slice(10)).toEqual([
      expect.objectContaining({ type: 'auth.failed.sampled', actor: '2001:db8:1:2::/64' }),
    ]);
    expect(log.records[10]!.data.suppressed).toBe(290);
  });

  it('bounds the reasons it counts per IP', () => {
    const log = collector();
    const sampler = new AuthFailureSampler({ log, timer: false, maxReasons: 2, perWindow: 0 });
    for (const reason of ['a', 'b', 'c', 'd', 'a']) sampler.failed('ip', reason, T0);
    sampler.stop();
    expect(log.records[0]!.data.reasons).toEqual([
      { reason: 'a', count: 2 },
      { reason: 'b', count: 1 },
      { reason: 'other', count: 2 },
    ]);
  });

  describe('through a real audit log', () => {
    let fx: AuditFixture | undefined;
    afterEach(async () => {
      await fx?.close();
    });

    it('writes 10 records and 1 summary for 1000 failures from one IP', async () => {
      fx = openFixture();
      const log = new AuditLog({ store: fx.store.audit, key: fx.key, redact: (text) => text });
      const sampler = new AuthFailureSampler({ log, timer: false });
      for (let i = 0; i < 1000; i++) sampler.failed('203.0.113.9', 'invalid_token', T0 + i);
      sampler.failed('198.51.100.7', 'invalid_token', T0);
      sampler.tick(T0 + 60_000);
      await log.close();
      const records = await fx.store.audit.list({ actor: '203.0.113.9' });
      expect(records.map((r) => r.type)).toEqual([...Array(10).fill('auth.failed'), 'auth.failed.sampled']);
      // `invalid_token` survives: as a value, not as a field named like a secret.
      expect(records[10]!.data).toMatchObject({
        suppressed: 990,
        reasons: [{ reason: 'invalid_token', count: 990 }],
      });
      expect(await fx.store.audit.list({ actor: '198.51.100.7' })).toHaveLength(1);
      expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({ ok: true, checked: 12 });
    });
  });
});
