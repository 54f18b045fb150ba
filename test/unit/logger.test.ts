import { describe, expect, it } from 'vitest';
import { createLogger, isoTimestamp, Redactor } from '../../src/observability/index.js';

describe('isoTimestamp', () => {
  it('writes what toISOString writes, across milliseconds, seconds and days', () => {
    const base = Date.UTC(2026, 10, 27, 23, 59, 58);
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 1999, 2000, 2005, 2050, 86_400_000 + 7, -1_500];
    let current = 0;
    const stamp = isoTimestamp(() => current);
    for (const offset of times) {
      current = base + offset;
      expect(stamp()).toBe(`,"time":"${new Date(current).toISOString()}"`);
    }
  });

  it('is the time of every log line', () => {
    const lines: string[] = [];
    const { logger } = createLogger({
      level: 'info',
      redactor: new Redactor(),
      destination: { write: (line: string) => void lines.push(line) },
    });
    const before = Date.now();
    logger.info('hello');
    const time = Date.parse(JSON.parse(lines[0]!).time);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
  });
});
