import { describe, expect, it } from 'vitest';
import { RevocationCursor } from '../../src/auth/revocation-cursor.js';

describe('RevocationCursor', () => {
  it('asks from 30 s before the last look, and from the beginning every five minutes when it reconciles', () => {
    let now = 1_000_000;
    const clock = () => now;
    const reconciling = new RevocationCursor(clock, true);
    const plain = new RevocationCursor(clock, false);
    now += 250;
    expect(reconciling.next()).toBe(1_000_000 - 30_000);
    expect(plain.next()).toBe(1_000_000 - 30_000);
    now += 300_000;
    expect(reconciling.next()).toBe(0);
    expect(plain.next()).toBe(1_000_250 - 30_000);
    now += 250;
    expect(reconciling.next()).toBe(1_300_250 - 30_000);
    reconciling.reset();
    now += 299_999;
    expect(reconciling.next()).toBe(1_300_500 - 30_000);
  });
});
