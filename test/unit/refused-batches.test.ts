import { describe, expect, it } from 'vitest';
import { RefusedBatches } from '../../src/conversations/refused-batches.js';
import type { ResponseEntry } from '../../src/conversations/response-entries.js';

const entry = (id: string, owner = 'ada'): ResponseEntry => ({
  id,
  owner,
  createdAt: 0,
  text: '{}',
  items: [],
});
const refusal = new Error('disk I/O error');

describe('RefusedBatches', () => {
  it('writes a refused batch again until the store takes it', async () => {
    const attempts: string[][] = [];
    const batches = new RefusedBatches(
      async (entries) => {
        attempts.push(entries.map((e) => e.id));
        if (attempts.length < 3) throw refusal;
      },
      async () => undefined,
    );
    await batches.retry([entry('a'), entry('b')], refusal);
    expect(attempts).toEqual([
      ['a', 'b'],
      ['a', 'b'],
      ['a', 'b'],
    ]);
  });

  it('drops what was deleted, and removes one deleted while an attempt held it', async () => {
    const removed: string[] = [];
    let attempts = 0;
    const batches = new RefusedBatches(
      async () => {
        attempts++;
        if (attempts === 1) throw refusal;
        // Deleted while this attempt is under way.
        expect(batches.forget((e) => e.id === 'b')).toBe(1);
      },
      async (id) => {
        removed.push(id);
      },
    );
    const retry = batches.retry([entry('a'), entry('b'), entry('c', 'bob')], refusal);
    expect(batches.forget((e) => e.owner === 'bob')).toBe(1);
    await retry;
    expect(removed).toEqual(['b']);
  });

  it('gives a batch up at once past 10,000 held responses, and at a stop after one more attempt, counting those', async () => {
    const batches = new RefusedBatches(
      () => Promise.reject(refusal),
      async () => undefined,
    );
    const many = Array.from({ length: 10_000 }, (_, i) => entry(`r${i}`));
    const held = batches.retry(many, refusal);
    await expect(batches.retry([entry('one more')], refusal)).rejects.toBe(refusal);
    expect(batches.lostAtStop).toBe(0);
    batches.stop();
    await expect(held).rejects.toBe(refusal);
    expect(batches.lostAtStop).toBe(10_000);
    await expect(batches.retry([entry('after')], refusal)).rejects.toBe(refusal);
    expect(batches.lostAtStop).toBe(10_001);
  });
});
