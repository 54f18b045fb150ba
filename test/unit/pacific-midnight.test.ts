import { describe, expect, it } from 'vitest';
import { nextPacificMidnight } from '../../src/providers/key-probe.js';
import { nextPacificMidnight as stepped } from '../support/pacific.js';

describe("Gemini's per-day quota reset (midnight Pacific time)", () => {
  it.each([
    ['a summer afternoon', '2025-06-15T12:00:00Z', '2025-06-16T07:00:00.000Z'],
    ['a winter evening, across the year', '2025-12-31T23:00:00Z', '2026-01-01T08:00:00.000Z'],
    ['half a second before it', '2025-06-16T06:59:59.500Z', '2025-06-16T07:00:00.000Z'],
    ['at it: the next one', '2025-06-16T07:00:00Z', '2025-06-17T07:00:00.000Z'],
    ['the night daylight saving starts, after 00:00', '2025-03-09T08:30:00Z', '2025-03-10T07:00:00.000Z'],
    ['the evening before daylight saving starts', '2025-03-09T06:00:00Z', '2025-03-09T08:00:00.000Z'],
    ['the night daylight saving ends, after 00:00', '2025-11-02T07:30:00Z', '2025-11-03T08:00:00.000Z'],
    ['the evening before daylight saving ends', '2025-11-02T06:59:00Z', '2025-11-02T07:00:00.000Z'],
  ])('%s', (_, now, midnight) => {
    expect(new Date(nextPacificMidnight(Date.parse(now))).toISOString()).toBe(midnight);
    expect(stepped(Date.parse(now))).toBe(Date.parse(midnight));
  });
});
