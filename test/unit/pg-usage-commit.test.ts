import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageRecorder } from '../../src/accounting/usage-recorder.js';
import { useCutStore } from '../support/commit-cutter.js';
import { hasPostgres } from '../support/postgres.js';
import { usePostgres } from '../support/use-postgres.js';

/**
 * Usage is written as increments. When the connection went away after Postgres committed a batch
 * but before its answer arrived, the batch was counted as failed and written again with the next
 * one: its requests and spend were counted twice, budgets included.
 */
describe.skipIf(!hasPostgres())('a usage batch whose commit answer is lost', () => {
  const postgres = usePostgres();
  const cut = useCutStore(() => postgres.database());

  const delta = (tokenId: string) => ({
    day: '2026-12-07',
    tokenId,
    userId: null,
    model: 'gpt-4o-mini',
    provider: 'oa',
    requests: 1,
    inputTokens: 10,
    outputTokens: 20,
    cachedTokens: 0,
    costMicros: 1500,
  });
  const usageOf = async (tokenId: string) =>
    (await cut.store.usage.query('token', { tokenId })).map(({ requests, costMicros }) => ({
      requests,
      costMicros,
    }));

  it('is counted once: the recorder learns that it was committed', async () => {
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({ store: cut.store.usage, onError: (error) => errors.push(error) });
    recorder.record(delta('tok_after'));
    cut.cutter.arm('after');
    await recorder.flush();
    // A later flush writes whatever the first left pending.
    await recorder.close();
    expect(await usageOf('tok_after')).toEqual([{ requests: 1, costMicros: 1500 }]);
    expect(errors).toEqual([]);
  });

  it('is kept and written again when the COMMIT never reached Postgres', async () => {
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({ store: cut.store.usage, onError: (error) => errors.push(error) });
    recorder.record(delta('tok_before'));
    cut.cutter.arm('before');
    await recorder.flush();
    expect(errors).toHaveLength(1);
    expect(await usageOf('tok_before')).toEqual([]);
    await recorder.close();
    expect(await usageOf('tok_before')).toEqual([{ requests: 1, costMicros: 1500 }]);
  });

  it('is given up within the time a connection takes to fail when Postgres cannot say', async () => {
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({ store: cut.store.usage, onError: (error) => errors.push(error) });
    recorder.record(delta('tok_unanswered'));
    cut.cutter.arm('after');
    cut.cutter.silence(true);
    const started = performance.now();
    try {
      // Shutdown with half a second of grace: the write under way is waited for, and no longer
      // than a write to an unreachable server takes anyway (its connection timeout, 5 s).
      await expect(recorder.close(Date.now() + 500)).rejects.toThrow(
        /usage of 1 request .* was never written/,
      );
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      cut.cutter.silence(false);
    }
  }, 60_000);
});
