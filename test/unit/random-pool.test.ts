import { describe, expect, it } from 'vitest';
import { pooledRandomBytes, pooledRandomHex } from '../../src/keys/random-pool.js';

describe('pooled random bytes', () => {
  it('hands out every byte once, across refills of the pool', () => {
    const seen = new Set<string>();
    // 12-byte draws do not divide 4 KiB: the draws straddle several refills.
    for (let i = 0; i < 3000; i++) seen.add(pooledRandomHex(12));
    expect(seen.size).toBe(3000);
    expect([...seen].every((hex) => /^[0-9a-f]{24}$/.test(hex))).toBe(true);
  });

  it('gives buffers of their own, untouched by later draws', () => {
    const first = pooledRandomBytes(12);
    const copy = Buffer.from(first);
    for (let i = 0; i < 1000; i++) pooledRandomBytes(12);
    expect(first.equals(copy)).toBe(true);
  });

  it('refuses a draw larger than the pool', () => {
    expect(() => pooledRandomBytes(5000)).toThrow(RangeError);
  });
});
