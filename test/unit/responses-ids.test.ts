import { afterEach, describe, expect, it, vi } from 'vitest';
import { newId } from '../../src/surfaces/responses/items.js';

describe('generated Responses ids', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sort by the time they were made, so the store appends them to its indexes', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const ids: string[] = [];
    for (const at of [
      Date.UTC(2026, 0, 1),
      Date.UTC(2026, 0, 1) + 1,
      Date.UTC(2026, 5, 30),
      Date.UTC(2100, 0, 1),
    ]) {
      vi.setSystemTime(at);
      ids.push(newId('resp'));
    }
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]!.slice(5, 17)).toBe(Date.UTC(2026, 0, 1).toString(16).padStart(12, '0'));
  });

  it('stay unique within one millisecond: 96 random bits after the time', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.UTC(2026, 0, 1));
    const ids = Array.from({ length: 5000 }, () => newId('msg'));
    expect(new Set(ids).size).toBe(5000);
    expect(ids.every((id) => /^msg_[0-9a-f]{36}$/.test(id))).toBe(true);
  });
});
