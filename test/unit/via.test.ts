import { describe, expect, it } from 'vitest';
import { GATEWAY_ID, LOOP_FIX, loopIn, MAX_VIA_HOPS, onwardVia, viaHops } from '../../src/upstream/via.js';

const id = (digit: string) => digit.repeat(16);

describe('x-keyward-via', () => {
  it('reads only what a gateway writes: lowercase 16-hex ids, comma-separated, at most MAX_VIA_HOPS', () => {
    expect(viaHops(undefined)).toEqual([]);
    expect(viaHops(`${id('a')}, ${id('b')}`)).toEqual([id('a'), id('b')]);
    expect(viaHops(`${id('a')},${id('b')}`)).toEqual([id('a'), id('b')]);
    for (const malformed of ['', 'x', id('A'), `${id('a')},`, `${id('a')},,${id('b')}`, `${id('a')}0`]) {
      expect(viaHops(malformed)).toEqual([]);
    }
    // An array is no header a gateway sends; nor is a value longer than MAX_VIA_HOPS ids.
    expect(viaHops([id('a')])).toEqual([]);
    const many = Array.from({ length: MAX_VIA_HOPS + 1 }, () => id('c')).join(', ');
    expect(viaHops(many)).toEqual([]);
    expect(viaHops(`${id('c')}${' '.repeat(10_000)}`)).toEqual([]);
  });

  it('passes the hops on with this gateway last, and refuses a return or too many hops', () => {
    expect(GATEWAY_ID).toMatch(/^[0-9a-f]{16}$/);
    expect(onwardVia(undefined)).toBe(GATEWAY_ID);
    expect(onwardVia('not ours')).toBe(GATEWAY_ID);
    expect(onwardVia(`${id('a')}, ${id('b')}`)).toBe(`${id('a')}, ${id('b')}, ${GATEWAY_ID}`);

    expect(loopIn([])).toBeUndefined();
    expect(loopIn([id('a'), GATEWAY_ID])).toBe('returned');
    const nine = Array.from({ length: MAX_VIA_HOPS - 1 }, (_, i) => id(i.toString(16)));
    expect(loopIn(nine)).toBeUndefined();
    expect(loopIn([...nine, id('f')])).toBe('too_many_hops');
    // What is sent onward is always read back whole by the next gateway.
    expect(viaHops(onwardVia(nine.join(', ')))).toHaveLength(MAX_VIA_HOPS);
    expect(LOOP_FIX).toContain('baseUrl');
  });
});
