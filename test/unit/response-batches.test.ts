import { describe, expect, it } from 'vitest';
import { ResponseBatches } from '../../src/conversations/response-batches.js';
import type { ResponseEntry } from '../../src/conversations/response-entries.js';

const entry = (id: string, owner = 'ada'): ResponseEntry => ({
  id,
  owner,
  createdAt: 0,
  text: '{}',
  items: [],
});
/** What better-sqlite3 throws while another process holds the write lock: a fault of the store's. */
const locked = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
/** A trigger's refusal: the operation's fault, not the store's. */
const constraint = Object.assign(new Error('refused'), { code: 'SQLITE_CONSTRAINT_TRIGGER' });

describe('ResponseBatches', () => {
  it('writes a batch again while the store refuses it for a fault of its own, until it takes it', async () => {
    const attempts: string[][] = [];
    const batches = new ResponseBatches(
      async (entries) => {
        attempts.push(entries.map((e) => e.id));
        if (attempts.length < 3) throw locked;
      },
      async () => undefined,
    );
    await batches.add([entry('a'), entry('b')]);
    expect(attempts).toEqual([
      ['a', 'b'],
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(batches.holds(() => true)).toBe(false);
  });

  it('gives up at once on any other failure: a constraint or a bug is not retried', async () => {
    let attempts = 0;
    const batches = new ResponseBatches(
      async () => {
        attempts++;
        throw constraint;
      },
      async () => undefined,
    );
    await expect(batches.add([entry('a')])).rejects.toBe(constraint);
    expect(attempts).toBe(1);
  });

  it('drops what was deleted, and removes what an attempt under way stored after its deletion', async () => {
    const removed: string[] = [];
    const stored: string[][] = [];
    let attempts = 0;
    const batches = new ResponseBatches(
      async (entries) => {
        attempts++;
        const ids = entries.map((e) => e.id);
        if (attempts === 1) throw locked;
        // The writer reads its entries at the call; the deletion comes while it commits.
        expect(batches.forget((e) => e.id === 'b')).toBe(1);
        stored.push(ids);
      },
      async (id) => {
        removed.push(id);
      },
    );
    const added = batches.add([entry('a'), entry('b'), entry('c', 'bob')]);
    // While the first attempt is refused and the batch waits for the next.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(batches.holds((e) => e.id === 'c')).toBe(true);
    expect(batches.forget((e) => e.owner === 'bob')).toBe(1);
    await added;
    expect(stored).toEqual([['a', 'b']]);
    expect(removed).toEqual(['b']);
  });

  it('gives a refused batch up past 10,000 held responses, and at a stop, counting those', async () => {
    const batches = new ResponseBatches(
      () => Promise.reject(locked),
      async () => undefined,
    );
    const held = batches.add(Array.from({ length: 10_000 }, (_, i) => entry(`r${i}`)));
    // Refused once, and waiting for its next attempt.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(batches.add([entry('one more')])).rejects.toBe(locked);
    expect(batches.lostAtStop).toBe(0);
    batches.stop();
    await expect(held).rejects.toBe(locked);
    expect(batches.lostAtStop).toBe(10_000);
    await expect(batches.add([entry('after')])).rejects.toBe(locked);
    expect(batches.lostAtStop).toBe(10_001);
  });
});
