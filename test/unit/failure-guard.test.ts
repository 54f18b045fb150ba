import { describe, expect, it } from 'vitest';
import { addressSubject } from '../../src/auth/address-subject.js';
import { FailureGuard, failureSubjects } from '../../src/auth/failure-guard.js';

describe('FailureGuard', () => {
  it('counts an IPv6 client per /64 and a mapped IPv4 client as itself', () => {
    expect(addressSubject('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressSubject('2001:db8:1:2:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(addressSubject('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressSubject('::1')).toBe('0:0:0:0::/64');
    expect(addressSubject('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressSubject('192.0.2.1')).toBe('192.0.2.1');
  });

  it('counts an address as a proxy may write it, with a port or in another form of the mapped range, as the address', () => {
    // Azure's Application Gateway appends the client's port: each connection was a subject.
    expect(addressSubject('203.0.113.9:40001')).toBe('203.0.113.9');
    expect(addressSubject('[2001:db8:1:2::7]:443')).toBe('2001:db8:1:2::/64');
    expect(addressSubject('[2001:db8:1:2::7]')).toBe('2001:db8:1:2::/64');
    // Two IPv4 clients in the long mapped form collapsed into one /64 and locked each other out.
    expect(addressSubject('0:0:0:0:0:ffff:cb00:710a')).toBe('203.0.113.10');
    expect(addressSubject('0:0:0:0:0:ffff:c633:6401')).toBe('198.51.100.1');
    expect(addressSubject('::FFFF:c633:6401')).toBe('198.51.100.1');
    expect(addressSubject('0:0:0:0:0:ffff:198.51.100.1')).toBe('198.51.100.1');
    expect(addressSubject('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressSubject('64:ff9b::198.51.100.1')).toBe('64:ff9b:0:0::/64');
    expect(addressSubject('not an address')).toBe('not an address');
  });

  it('counts a mapped IPv4 client written with its port and no brackets as the IPv4 address, whatever the port', () => {
    // A dotted quad ends an IPv6 address: a `:port` after it cannot be a group, so this is no
    // ambiguous IPv6 text but the mapped address and its port. Kept, each port was a subject.
    expect(addressSubject('::ffff:203.0.113.9:40001')).toBe('203.0.113.9');
    expect(addressSubject('::ffff:203.0.113.9:40002')).toBe('203.0.113.9');
    expect(addressSubject('::FFFF:203.0.113.9:80')).toBe('203.0.113.9');
    expect(addressSubject('0:0:0:0:0:ffff:203.0.113.9:80')).toBe('203.0.113.9');
    expect(addressSubject('64:ff9b::198.51.100.1:443')).toBe('64:ff9b:0:0::/64');
    // Eight hex groups are a whole IPv6 address: its last group is no port.
    expect(addressSubject('::ffff:cb00:710a:80')).toBe('0:0:0:0::/64');
  });

  it('names the token id of a gateway-token-shaped credential as a subject', () => {
    const token = `kw_abcdefghijkl_${'A'.repeat(43)}`;
    expect(failureSubjects('192.0.2.1', token)).toEqual(['192.0.2.1', 'token:abcdefghijkl']);
    expect(failureSubjects('192.0.2.1', 'some-static-key')).toEqual(['192.0.2.1']);
    expect(failureSubjects('192.0.2.1', undefined)).toEqual(['192.0.2.1']);
  });

  it('answers 429 past the limit until the minute is over', () => {
    let now = 1_000_000;
    const guard = new FailureGuard(3, () => now);
    for (let i = 0; i < 3; i++) expect(guard.failed(['a'])).toBeUndefined();
    const refused = guard.failed(['b', 'a']);
    expect(refused?.status).toBe(429);
    expect(refused?.headers).toEqual({ 'retry-after': '60' });
    now += 60_000;
    expect(guard.failed(['a'])).toBeUndefined();
  });

  it('refuses for a minute at most, and lets no more through, when the clock steps back', () => {
    let now = 1_000_000;
    const guard = new FailureGuard(3, () => now);
    for (let i = 0; i < 3; i++) expect(guard.failed(['a'])).toBeUndefined();
    expect(guard.failed(['a'])?.status).toBe(429);
    // Ten minutes back: the window counts on from now, not from a start the clock is short of.
    now -= 10 * 60_000;
    expect(guard.failed(['a'])?.headers).toEqual({ 'retry-after': '60' });
    now += 60_000;
    expect(guard.failed(['a'])).toBeUndefined();
  });
});

describe('FailureGuard in a worker of --workers N', () => {
  it('shares the subjects of each failure it did not refuse, and no more', () => {
    const now = 1_000_000;
    const shared: string[][] = [];
    const guard = new FailureGuard(
      2,
      () => now,
      (subjects) => shared.push(subjects),
    );
    for (let i = 0; i < 2; i++) expect(guard.failed(['a', 'b'])).toBeUndefined();
    expect(guard.failed(['a'])?.status).toBe(429);
    expect(guard.failed(['a', 'c'])?.status).toBe(429);
    expect(shared).toEqual([['a', 'b'], ['a', 'b'], ['c']]);
  });

  it("refuses a subject the primary counted full, for the rest of the primary's window and a minute at most", () => {
    let now = 1_000_000;
    const guard = new FailureGuard(30, () => now);
    guard.full('a', 20_000);
    expect(guard.failed(['b'])).toBeUndefined();
    expect(guard.failed(['a'])?.headers).toEqual({ 'retry-after': '20' });
    now += 20_000;
    expect(guard.failed(['a'])).toBeUndefined();
    guard.full('c', 10 * 60_000);
    expect(guard.failed(['c'])?.headers).toEqual({ 'retry-after': '60' });
  });

  it("tallies the primary's count: the failures in the subject's window and the time it has left", () => {
    let now = 1_000_000;
    const guard = new FailureGuard(3, () => now);
    expect(guard.tally('a')).toEqual({ failures: 1, waitMs: 60_000 });
    now += 15_000;
    expect(guard.tally('a')).toEqual({ failures: 2, waitMs: 45_000 });
  });
});
