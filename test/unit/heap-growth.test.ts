import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from '../../src/cli/heap-growth.js';

describe('heapGrowthFlag', () => {
  it('limits the heap growth of a process started without a choice of its own', () => {
    expect(heapGrowthFlag([], undefined)).toBe(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    expect(heapGrowthFlag(['--enable-source-maps'], '--max-old-space-size=2048')).toBe(
      '--heap-growing-percent=30',
    );
  });

  it("leaves the operator's own growth alone, on the command line or in NODE_OPTIONS", () => {
    expect(heapGrowthFlag(['--heap-growing-percent=80'], undefined)).toBeUndefined();
    expect(heapGrowthFlag([], '--max-old-space-size=512 --heap-growing-percent=10')).toBeUndefined();
    expect(heapGrowthFlag([], '--heap_growing_percent=10')).toBeUndefined();
  });
});
