import { describe, expect, it } from 'vitest';
import { ToolCallPositions } from '../../src/providers/openai/call-positions.js';

/** The positions a stream's tool call deltas are given, in order. */
function positions(deltas: Array<Record<string, unknown>>): number[] {
  const calls = new ToolCallPositions();
  return deltas.map((delta) => calls.of(delta));
}

describe('ToolCallPositions', () => {
  it("keeps OpenAI's own numbering, interleaved calls included", () => {
    expect(
      positions([{ index: 0, id: 'call_a' }, { index: 1, id: 'call_b' }, { index: 0 }, { index: 1 }]),
    ).toEqual([0, 1, 0, 1]);
  });

  it('numbers calls without index by their ids, continuations without an id going to the last', () => {
    expect(positions([{ id: 'call_a' }, {}, { id: 'call_a' }, { id: 'call_b' }, {}])).toEqual([
      0, 0, 0, 1, 1,
    ]);
  });

  it('starts another call where an index repeats with a new id (every call at 0)', () => {
    expect(positions([{ index: 0, id: 'call_a' }, { index: 0 }, { index: 0, id: 'call_b' }])).toEqual([
      0, 0, 1,
    ]);
  });

  it('gives a call that came with neither index nor id the id a later delta brings', () => {
    expect(positions([{}, { id: 'call_a' }, { id: 'call_a' }, { id: 'call_b' }])).toEqual([0, 0, 0, 1]);
  });
});
