import { describe, expect, it } from 'vitest';
import { RevocationCursor } from '../../src/auth/revocation-cursor.js';

/** The time the cursor asks from, for a look that succeeds. */
const asked = (cursor: RevocationCursor) => cursor.read(async (since) => since);

describe('RevocationCursor', () => {
  it('asks from 30 s before the last look, and from the beginning every five minutes when it reconciles', async () => {
    let now = 1_000_000;
    const clock = () => now;
    const reconciling = new RevocationCursor(clock, true);
    const plain = new RevocationCursor(clock, false);
    now += 250;
    expect(await asked(reconciling)).toBe(1_000_000 - 30_000);
    expect(await asked(plain)).toBe(1_000_000 - 30_000);
    now += 300_000;
    expect(await asked(reconciling)).toBe(0);
    expect(await asked(plain)).toBe(1_000_250 - 30_000);
    now += 250;
    expect(await asked(reconciling)).toBe(1_300_250 - 30_000);
    reconciling.reset();
    now += 299_999;
    expect(await asked(reconciling)).toBe(1_300_500 - 30_000);
  });

  it('moves on only after a look succeeded: a failed one is asked again from as far back', async () => {
    let now = 1_000_000;
    const cursor = new RevocationCursor(() => now, true);
    now += 300_000;
    await expect(cursor.read(async () => Promise.reject(new Error('store unreachable')))).rejects.toThrow();
    now += 250;
    // Still the full read it failed to take, not a look from 30 s before the failure.
    expect(await asked(cursor)).toBe(0);
    now += 250;
    await expect(cursor.read(async () => Promise.reject(new Error('store unreachable')))).rejects.toThrow();
    now += 10_000;
    expect(await asked(cursor)).toBe(1_300_250 - 30_000);
  });

  it('reads everything once the clock went back past its last look', async () => {
    let now = 1_000_000;
    const clock = () => now;
    const reconciling = new RevocationCursor(clock, true);
    const plain = new RevocationCursor(clock, false);
    // Ahead by an hour for a while (looks taken then ask from an hour ahead)…
    now += 3_600_000;
    await asked(reconciling);
    await asked(plain);
    // …then corrected: a revocation stamped by a correct clock meanwhile is behind every look since,
    // and the five-minute reread was an hour away.
    now = 1_000_500;
    expect(await asked(reconciling)).toBe(0);
    expect(await asked(plain)).toBe(0);
    now += 250;
    expect(await asked(reconciling)).toBe(1_000_500 - 30_000);
    expect(await asked(plain)).toBe(1_000_500 - 30_000);
    // The five minutes count from the correction.
    now += 300_000;
    expect(await asked(reconciling)).toBe(0);
  });
});
