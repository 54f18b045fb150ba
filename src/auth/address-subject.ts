import { isIPv4, isIPv6 } from 'node:net';

/**
 * An address as a proxy may write it with its port: `a.b.c.d:port`, `[v6]:port`, `[v6]`, and an
 * address ending in a dotted quad with its port and no brackets (`::ffff:a.b.c.d:port`): a dotted
 * quad ends IPv6 text, so what follows it can only be a port.
 */
const WITH_PORT = /^(?:((?:[\da-f]*:)*\d+\.\d+\.\d+\.\d+):\d+|\[([^\]]+)\](?::\d+)?)$/i;

/**
 * The subject a client address is counted under: for failed credentials, guest limits and open
 * connections. An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d` (or in any other
 * form of the mapped address a proxy writes); an IPv6 client usually holds a whole /64, so counting
 * per address would let it take a fresh one for every guess, guest login or connection. A port
 * some proxies append to the address they forward (`203.0.113.9:40001`, Azure's Application
 * Gateway) is not part of it: kept, every connection was a subject of its own.
 */
export function addressSubject(raw: string): string {
  const ported = WITH_PORT.exec(raw);
  const ip = ported ? (ported[1] ?? ported[2]!) : raw;
  if (isIPv4(ip)) return ip;
  const groups = ipv6Groups(ip);
  if (!groups) return ip;
  // The IPv4-mapped range, ::ffff:0:0/96.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** An IPv6 address's eight groups (a zone dropped, a dotted IPv4 tail read as two); undefined for no IPv6 address. */
function ipv6Groups(address: string): number[] | undefined {
  const ip = address.replace(/%.*$/, '');
  if (!isIPv6(ip)) return undefined;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  const hex = dotted
    ? `${ip.slice(0, dotted.index)}${((+dotted[1]! << 8) | +dotted[2]!).toString(16)}:${((+dotted[3]! << 8) | +dotted[4]!).toString(16)}`
    : ip;
  const [head = '', tail = ''] = hex.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const all = hex.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return all.map((group) => Number.parseInt(group, 16));
}
