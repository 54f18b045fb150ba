import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_HEAD, AuditLog, storeAppender, ThreadAppender, verifyChain } from '../../src/audit/index.js';
import { type AuditFixture, entry, fixtureThread, openFixture } from './support/fixture.js';

describe('ThreadAppender', () => {
  let fx: AuditFixture;
  beforeEach(() => {
    fx = openFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  it('appends batches in order on its own connection and keeps the head beside the chain', async () => {
    const thread = fixtureThread(fx, AUDIT_HEAD);
    const log = new AuditLog({
      appender: new ThreadAppender(thread),
      redact: (text) => text,
      batchSize: 7,
      intervalMs: 10,
    });
    for (let i = 0; i < 50; i++) log.record('request', `tok_${i % 3}`, { i, nested: { b: [i], a: 'x' } });
    await log.close();
    await thread.close();

    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 50, lastSeq: 50 });
    const records = await fx.store.audit.list();
    expect(records.map((r) => r.data.i)).toEqual([...Array(50).keys()]);
    expect(JSON.parse((await fx.store.meta.get(AUDIT_HEAD))!)).toEqual({ seq: 50, mac: records[49]!.mac });
    expect(log.head).toEqual({ seq: 50, mac: records[49]!.mac });
  });

  it('extends the chain that other writers share', async () => {
    const thread = fixtureThread(fx);
    const appender = new ThreadAppender(thread);
    const other = new AuditLog({ store: fx.connect().audit, key: fx.key, redact: (text) => text });
    await appender.append([entry(1), entry(2)]);
    other.record('token.created', 'cli', { name: 'x' });
    await other.flush();
    expect(await appender.append([entry(4)])).toMatchObject({ firstSeq: 4, head: { seq: 4 } });
    await thread.close();
    await other.close();
    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 4, lastSeq: 4 });
  });

  it('fails the append when the thread cannot open the store; the log keeps the entries', async () => {
    const blocker = join(fx.dir, 'not-a-directory');
    writeFileSync(blocker, '');
    const errors: Error[] = [];
    const thread = fixtureThread(fx, undefined, join(blocker, 'keyward.db'));
    const log = new AuditLog({
      appender: new ThreadAppender(thread),
      redact: (text) => text,
      intervalMs: 60_000,
      onError: (error) => errors.push(error),
    });
    log.record('request', 'tok_1', { i: 1 });
    await log.flush();
    expect(errors.map((error) => error.message).join('\n')).toMatch(/EEXIST|ENOTDIR/);
    expect(log.pending).toBe(1);
    await log.close();
  });

  it('keeps a committed batch when only the head cannot be recorded', async () => {
    const meta = { ...fx.store.meta, set: () => Promise.reject(new Error('SQLITE_BUSY')) };
    const log = new AuditLog({
      appender: storeAppender(fx.store.audit, fx.key, { meta, name: AUDIT_HEAD }),
      redact: (text) => text,
      intervalMs: 60_000,
    });
    for (let i = 0; i < 3; i++) log.record('request', 'tok_1', { i });
    await log.flush();
    await log.close();
    expect(log.pending).toBe(0);
    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 3, lastSeq: 3 });
    expect(await fx.store.meta.get(AUDIT_HEAD)).toBeUndefined();
  });
});
