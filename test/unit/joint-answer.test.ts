import { describe, expect, it } from 'vitest';
import { AnswerMemory, JointAnswer } from '../../src/upstream/answer-memory.js';

const KiB = 1024;

/**
 * A request's answers read over several exchanges (an embeddings request in parts) count as one
 * answer, in its first one's place: past the bound, the oldest request's next part proceeds, and
 * a younger one waits until the oldest is released.
 */
describe('JointAnswer', () => {
  it("keeps the oldest request's later parts going past the bound; the younger waits, then resumes", () => {
    const memory = new AnswerMemory(256 * KiB);
    const resumed: string[] = [];
    const older = new JointAnswer(memory);
    const younger = new JointAnswer(memory);
    expect(older.hold(() => resumed.push('older 1')).add(200 * KiB)).toBe(true);
    expect(younger.hold(() => resumed.push('younger 1')).add(100 * KiB)).toBe(false);
    // The older request's second part, a new exchange: it proceeds, as its first part's place is
    // the oldest. Held as an answer of its own, it waited for the older first part, held until its
    // request ends: neither request could end.
    const second = older.hold(() => resumed.push('older 2'));
    expect(second.add(200 * KiB)).toBe(true);
    expect(memory.held).toBe(500 * KiB);
    // A part's own release (its read failed) leaves its bytes to the request.
    second.release();
    expect(memory.held).toBe(500 * KiB);
    older.release();
    expect(memory.held).toBe(100 * KiB);
    expect(resumed).toEqual(['younger 1']);
    // The younger request's next part resumes its own connection when paused.
    const next = younger.hold(() => resumed.push('younger 2'));
    expect(next.add(200 * KiB)).toBe(true);
    younger.release();
    expect(memory.held).toBe(0);
    // Released, a part still arriving counts nothing.
    expect(next.add(KiB)).toBe(true);
    expect(younger.hold(() => undefined).add(KiB)).toBe(true);
    expect(memory.held).toBe(0);
  });
});
