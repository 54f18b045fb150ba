import { setTimeout as sleep } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditAppender,
  AuditLog,
  type AuditLogOptions,
  storeAppender,
  verifyChain,
} from '../../src/audit/index.js';
import { Redactor } from '../../src/observability/redact.js';
import type { AuditRecord, AuditStore } from '../../src/store/types.js';
import { type AuditFixture, openFixture } from './support/fixture.js';

/** Lets pending immediates and the flushes they start run. */
const settle = () => sleep(20);

/** Wraps a store to count writes and to fail on demand. */
function instrumented(store: AuditStore): AuditStore & { writes: number; down: boolean } {
  const wrapped = {
    writes: 0,
    down: false,
    appendChained(...args: Parameters<AuditStore['appendChained']>): Promise<AuditRecord[]> {
      if (wrapped.down) return Promise.reject(new Error('SQLITE_BUSY: database is locked'));
      wrapped.writes++;
      return store.appendChained(...args);
    },
    list: store.list.bind(store),
    last: store.last.bind(store),
  };
  return wrapped;
}

describe('AuditLog', () => {
  let fx: AuditFixture;
  const logs: AuditLog[] = [];
  const errors: Error[] = [];
  const open = (options: Partial<Extract<AuditLogOptions, { store: AuditStore }>> = {}): AuditLog => {
    const log = new AuditLog({
      store: fx.store.audit,
      key: fx.key,
      redact: (text) => text,
      onError: (error) => errors.push(error),
      ...options,
    });
    logs.push(log);
    return log;
  };
  beforeEach(() => {
    fx = openFixture();
    errors.length = 0;
  });
  afterEach(async () => {
    for (const log of logs.splice(0)) await log.close();
    await fx.close();
  });

  it('writes nothing until a batch is full, then writes it at once', async () => {
    const store = instrumented(fx.store.audit);
    const log = open({ store, batchSize: 5, intervalMs: 60_000 });
    for (let i = 0; i < 4; i++) log.record('request', 'tok_1', { i });
    await settle();
    expect(store.writes).toBe(0);
    expect(await fx.store.audit.last()).toBeUndefined();
    log.record('request', 'tok_1', { i: 4 });
    // Never inside `record` itself: the write happens off the request path.
    expect(store.writes).toBe(0);
    await settle();
    expect(store.writes).toBe(1);
    expect((await fx.store.audit.list()).map((r) => r.data.i)).toEqual([0, 1, 2, 3, 4]);
  });

  it('writes a partial batch intervalMs after its first entry', async () => {
    const store = instrumented(fx.store.audit);
    const log = open({ store, batchSize: 100, intervalMs: 80 });
    log.record('request', 'tok_1', { i: 0 });
    await sleep(30);
    log.record('request', 'tok_1', { i: 1 });
    await sleep(20);
    expect(store.writes).toBe(0);
    await sleep(80);
    expect(store.writes).toBe(1);
    expect(await fx.store.audit.list()).toHaveLength(2);
    expect(log.pending).toBe(0);
  });

  it('lets entries recorded during a slow write wait for a batch of their own', async () => {
    // An appender that takes a while, as one on another thread does.
    const sizes: number[] = [];
    const inner = storeAppender(fx.store.audit, fx.key);
    const appender: AuditAppender = {
      async append(entries) {
        sizes.push(entries.length);
        await sleep(30);
        return inner.append(entries);
      },
      close: async () => {},
    };
    const log = new AuditLog({ appender, redact: (text) => text, batchSize: 5, intervalMs: 100 });
    logs.push(log);
    for (let i = 0; i < 5; i++) log.record('request', 'tok_1', { i });
    await sleep(10);
    for (let i = 5; i < 7; i++) log.record('request', 'tok_1', { i });
    await sleep(40);
    // The first batch is written; the two that came meanwhile are not written on its heels.
    expect(sizes).toEqual([5]);
    for (let i = 7; i < 10; i++) log.record('request', 'tok_1', { i });
    await sleep(50);
    expect(sizes).toEqual([5, 5]);
    log.record('request', 'tok_1', { i: 10 });
    await sleep(150);
    expect(sizes).toEqual([5, 5, 1]);
    expect((await fx.store.audit.list()).map((r) => r.data.i)).toEqual([...Array(11).keys()]);
  });

  it('writes everything queued on flush(), in order and chained', async () => {
    const log = open({ batchSize: 7, intervalMs: 60_000 });
    for (let i = 0; i < 50; i++) log.record('request', `tok_${i % 3}`, { i });
    await log.flush();
    const records = await fx.store.audit.list();
    expect(records.map((r) => r.data.i)).toEqual([...Array(50).keys()]);
    expect(log.head).toEqual({ seq: 50, mac: records[49]!.mac });
    expect(await verifyChain(fx.store.audit, fx.key, { expectedHead: log.head })).toMatchObject({
      ok: true,
      checked: 50,
    });
  });

  it('keeps one valid chain across many batches and flushes', async () => {
    const log = open({ batchSize: 13, intervalMs: 5 });
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 17; i++) log.record('request', 'tok_1', { round, i });
      if (round % 4 === 0) await log.flush();
      else await sleep(1);
    }
    await log.close();
    expect(await verifyChain(fx.store.audit, fx.key, { batch: 64 })).toEqual({
      ok: true,
      checked: 340,
      lastSeq: 340,
    });
  });

  it('makes one valid chain from two writers on two connections to the same file', async () => {
    const second = fx.connect();
    const heads: number[] = [];
    const a = open({ batchSize: 9, intervalMs: 3 });
    const b = open({
      store: second.audit,
      batchSize: 4,
      intervalMs: 2,
      onHead: (head) => heads.push(head.seq),
    });
    for (let i = 0; i < 300; i++) {
      a.record('request', 'gateway-a', { i });
      b.record('request', 'gateway-b', { i });
      if (i % 25 === 0) await sleep(1);
    }
    await Promise.all([a.close(), b.close()]);
    const records = await fx.store.audit.list({ limit: 10_000 });
    expect(records).toHaveLength(600);
    for (const actor of ['gateway-a', 'gateway-b']) {
      expect(records.filter((r) => r.actor === actor).map((r) => r.data.i)).toEqual([...Array(300).keys()]);
    }
    expect(heads.at(-1)).toBe(b.head?.seq);
    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 600, lastSeq: 600 });
    expect(errors).toEqual([]);
  });

  it('masks registered secrets in every string and drops fields named like secrets', async () => {
    const secret = 'sk-live-0123456789abcdefXYZ';
    const redactor = new Redactor();
    redactor.addSecret(secret);
    const log = open({ redact: (text) => redactor.redact(text) });
    log.record('key.rejected', 'system', {
      provider: 'openai',
      keyId: 'key_1',
      message: `upstream said: invalid key ${secret}`,
      nested: { list: ['ok', `Bearer ${secret}`, { deep: secret }], [secret]: 1 },
      value: 'anything at all',
      apiKey: secret,
      'X-Api-Key': 'short',
      Authorization: 'Basic abc',
      token: 'kw_live_abcdefghijklmnop',
      refresh_token: 'r',
      clientSecret: 's',
      password: 'p',
      providerKey: { any: 'thing' },
      tokenId: 'tok_1',
      inputTokens: 12,
      bytes: Buffer.from(secret),
      big: 10n,
      when: new Date(0),
      skip: undefined,
    });
    await log.flush();
    const [record] = await fx.store.audit.list();
    expect(record!.data).toEqual({
      provider: 'openai',
      keyId: 'key_1',
      message: 'upstream said: invalid key [REDACTED]',
      nested: { list: ['ok', 'Bearer [REDACTED]', { deep: '[REDACTED]' }], '[REDACTED]': 1 },
      tokenId: 'tok_1',
      inputTokens: 12,
      bytes: '[binary]',
      big: '10',
      when: '1970-01-01T00:00:00.000Z',
    });
    fx.tamper((db: Database.Database) => {
      const raw = db
        .prepare<[], { text: string }>(`SELECT group_concat(data || actor, '') AS text FROM audit`)
        .get();
      expect(raw!.text).not.toContain(secret);
      expect(raw!.text).not.toContain(Buffer.from(secret).toString('base64'));
    });
    expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({ ok: true });
  });

  it('redacts the actor too', async () => {
    const log = open({ redact: (text) => text.replaceAll('secret-ip', '[REDACTED]') });
    log.record('auth.failed', 'secret-ip', { reason: 'bad' });
    await log.flush();
    expect((await fx.store.audit.last())?.actor).toBe('[REDACTED]');
  });

  it('never throws from record(), whatever fails', async () => {
    const store = instrumented(fx.store.audit);
    store.down = true;
    const log = open({
      store,
      redact: () => {
        throw new Error('redactor broke');
      },
    });
    expect(() => log.record('request', 'tok_1', { a: 'b' })).not.toThrow();
    expect(errors.map((e) => e.message)).toEqual(['redactor broke']);
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const plain = open({ store, onError: () => {} });
    expect(() => plain.record('request', 'tok_1', cyclic)).not.toThrow();
    const throwing = open({
      store,
      redact: () => {
        throw new Error('x');
      },
      onError: () => {
        throw new Error('reporter broke too');
      },
    });
    expect(() => throwing.record('request', 'tok_1', {})).not.toThrow();
  });

  it('keeps entries while the store is down, drops the oldest beyond the bound, and catches up', async () => {
    const store = instrumented(fx.store.audit);
    store.down = true;
    const log = open({ store, batchSize: 10, intervalMs: 5, maxQueue: 100 });
    for (let i = 0; i < 250; i++) log.record('request', 'tok_1', { i });
    await sleep(40);
    expect(log.pending).toBe(100);
    expect(log.dropped).toBe(150);
    expect(errors.some((e) => e.message.includes('SQLITE_BUSY'))).toBe(true);
    // One report per episode, not one per dropped entry.
    expect(errors.filter((e) => e.message.startsWith('audit entries dropped'))).toHaveLength(1);
    store.down = false;
    await log.flush();
    expect(log.pending).toBe(0);
    const records = await fx.store.audit.list({ limit: 1000 });
    // The newest entries survive, in order.
    expect(records.map((r) => r.data.i)).toEqual(Array.from({ length: 100 }, (_, j) => 150 + j));
    expect(await verifyChain(fx.store.audit, fx.key)).toMatchObject({ ok: true, checked: 100 });
  });

  it('retries on its own after the store comes back', async () => {
    const store = instrumented(fx.store.audit);
    store.down = true;
    const log = open({ store, batchSize: 5, intervalMs: 5 });
    for (let i = 0; i < 12; i++) log.record('request', 'tok_1', { i });
    await sleep(20);
    store.down = false;
    await sleep(200);
    expect(log.pending).toBe(0);
    expect(await fx.store.audit.list()).toHaveLength(12);
  });

  it('drops and counts entries recorded after close()', async () => {
    const log = open();
    log.record('request', 'tok_1', {});
    await log.close();
    log.record('request', 'tok_1', {});
    expect(log.dropped).toBe(1);
    expect(await fx.store.audit.list()).toHaveLength(1);
  });

  it('reports a chain that went backwards under it (its newest records deleted)', async () => {
    const heads: number[] = [];
    const log = open({ onHead: (head) => heads.push(head.seq) });
    for (let i = 0; i < 5; i++) log.record('request', 'tok_1', { i });
    await log.flush();
    fx.tamper((db) => db.prepare('DELETE FROM audit WHERE seq > 2').run());
    log.record('request', 'tok_1', { i: 5 });
    await log.flush();
    expect(heads).toEqual([5, 3]);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('went backwards')]);
  });

  it('costs microseconds per record() call', async () => {
    const redactor = new Redactor(['sk-live-0123456789abcdefXYZ', 'AIzaSyA-0123456789abcdefghijklmno']);
    const store = instrumented(fx.store.audit);
    store.down = true;
    const log = open({
      store,
      redact: (text) => redactor.redact(text),
      onError: () => {},
      maxQueue: 1_000_000,
    });
    const data = {
      requestId: 'req_01HZX3K9Q2',
      tokenId: 'tok_8f3a',
      clientId: 'client-a',
      userId: 'user-42',
      model: 'gpt-4o-mini',
      provider: 'openai',
      status: 200,
      inputTokens: 1234,
      outputTokens: 567,
      costMicros: 890,
      durationMs: 412,
    };
    for (let i = 0; i < 2000; i++) log.record('request', 'tok_8f3a', data);
    const calls = 20_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) log.record('request', 'tok_8f3a', data);
    const perCallUs = Number(process.hrtime.bigint() - start) / 1000 / calls;
    console.log(`AuditLog.record(): ${perCallUs.toFixed(2)} µs per call (request summary, 2 secrets)`);
    expect(perCallUs).toBeLessThan(100);
  });
});
