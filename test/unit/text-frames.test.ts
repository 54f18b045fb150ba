import { describe, expect, it } from 'vitest';
import { StreamFailure } from '../../src/canonical/model.js';
import { FrameSplitter } from '../../src/canonical/text-frames.js';

const EVENTS = 'event: a\ndata: 1\n\ndata: two\n\n\n\ndata: {"x":"3"}\n\ndata: tail';

/** Every frame `pieces` make, and what is left at the end. */
function split(splitter: FrameSplitter, pieces: string[]): { frames: string[]; rest: string } {
  const frames = pieces.flatMap((piece) => splitter.push(piece));
  return { frames, rest: splitter.rest() };
}

describe('FrameSplitter', () => {
  const whole = split(new FrameSplitter('\n\n'), [EVENTS]);

  it('finds each frame with its delimiter, and leaves the incomplete one', () => {
    expect(whole).toEqual({
      frames: ['event: a\ndata: 1\n\n', 'data: two\n\n', '\n\n', 'data: {"x":"3"}\n\n'],
      rest: 'data: tail',
    });
  });

  it('finds the same frames wherever the text is cut, a delimiter split across pieces included', () => {
    for (let cut = 0; cut <= EVENTS.length; cut++) {
      const parts = [EVENTS.slice(0, cut), EVENTS.slice(cut)];
      expect(split(new FrameSplitter('\n\n'), parts), `cut at ${cut}`).toEqual(whole);
    }
    expect(split(new FrameSplitter('\n\n'), [...EVENTS])).toEqual(whole);
  });

  it('splits lines on a one-character delimiter', () => {
    expect(split(new FrameSplitter('\n'), ['{"a"', ':1}\n{"b":2}\n', '\n{"c"'])).toEqual({
      frames: ['{"a":1}\n', '{"b":2}\n', '\n'],
      rest: '{"c"',
    });
  });

  it('ends the stream as cut when a frame grows past its ceiling, and holds nothing after', () => {
    const splitter = new FrameSplitter('\n\n', 10);
    expect(splitter.push('data: 1\n\ndata: ')).toEqual(['data: 1\n\n']);
    const failure = (() => {
      try {
        splitter.push('0123456789');
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(StreamFailure);
    expect(failure).toMatchObject({
      reason: 'cut',
      message: expect.stringMatching(/longer than 10 characters/),
    });
    expect(splitter.rest()).toBe('');
  });
});
