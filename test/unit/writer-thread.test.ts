import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_HEAD, AuditLog, ThreadAppender, verifyChain } from '../../src/audit/index.js';
import { ConversationService, ThreadConversationWriter } from '../../src/conversations/index.js';
import { generateMasterKey } from '../../src/keys/index.js';
import { type AuditFixture, entry, fixtureThread, openFixture } from '../audit/support/fixture.js';
import { storedAnswer } from '../support/records.js';
import { builtWriterThread } from '../support/writer-thread.js';

describe('the writer thread', () => {
  let fx: AuditFixture;
  beforeEach(() => {
    fx = openFixture();
  });
  afterEach(async () => {
    await fx.close();
  });

  it('appends the audit log and commits stored responses on one connection, closing after both', async () => {
    const thread = fixtureThread(fx, AUDIT_HEAD);
    const log = new AuditLog({
      appender: new ThreadAppender(thread),
      redact: (text) => text,
      batchSize: 3,
      intervalMs: 1,
    });
    const master = generateMasterKey();
    const service = new ConversationService(
      fx.store.conversations,
      () => [master],
      { ttlDays: 30, maxItems: 1000, maxBytes: 1_000_000, contextTokens: 200_000 },
      { writer: new ThreadConversationWriter(thread).write },
    );
    const saved: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      log.record('request', `tok_${i}`, { i });
      if (i % 3 === 0)
        saved.push(service.saveResponse('user:a', storedAnswer(`resp_${i}`, `answer number ${i}`), []));
      await new Promise((resolve) => setImmediate(resolve));
    }
    // As the gateway shuts down: the writers flush into the thread, then the thread closes.
    await log.close();
    await service.close();
    await Promise.all(saved);
    await thread.close();

    expect(await verifyChain(fx.store.audit, fx.key)).toEqual({ ok: true, checked: 12, lastSeq: 12 });
    expect(JSON.parse((await fx.store.meta.get(AUDIT_HEAD))!)).toMatchObject({ seq: 12 });
    const stored = await fx.store.conversations.list();
    expect(stored.map((record) => record.id).sort()).toEqual(['resp_0', 'resp_3', 'resp_6', 'resp_9']);
    expect(JSON.stringify(stored)).not.toContain('answer number');
    expect(await service.getResponse('user:a', 'resp_9')).toEqual(storedAnswer('resp_9', 'answer number 9'));
  });

  it('refuses audit appends when it was started without the audit key, and still writes responses', async () => {
    const thread = builtWriterThread({ databasePath: fx.path });
    await expect(new ThreadAppender(thread).append([entry(1)])).rejects.toThrow(
      'this writer thread was started without the audit key',
    );
    const master = generateMasterKey();
    await new ThreadConversationWriter(thread).write(master, [
      { id: 'resp_1', owner: 'user:a', createdAt: 1, text: '{}', items: [] },
    ]);
    await thread.close();
    expect((await fx.store.conversations.get('resp_1'))?.owner).toBe('user:a');
    expect(await fx.store.audit.list()).toEqual([]);
  });
});
