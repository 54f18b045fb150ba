import { isIPv6 } from 'node:net';

/**
 * The subject a client address is counted under: for failed credentials, guest limits and open
 * connections. An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`; an IPv6 client
 * usually holds a whole /64, so counting per address would let it take a fresh one for every
 * guess, guest login or connection.
 */
export function addressSubject(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
