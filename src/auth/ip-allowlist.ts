import { BlockList, isIP } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128); undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [address, bits, extra] = text.trim().split('/');
  if (!address || extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (bits !== undefined && !/^\d+$/.test(bits))
  ) {
    return undefined;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** IPv4 clients arrive as `::ffff:a.b.c.d` on dual-stack sockets. */
function normalise(ip: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address: ip, family: isIP(ip) === 6 ? 'ipv6' : 'ipv4' };
}

/** A set of CIDRs a client address must fall in (node's BlockList does the matching). */
export class IpAllowlist {
  private readonly list = new BlockList();
  readonly cidrs: readonly Cidr[];

  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs.map((text) => {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`not an IP address or CIDR: ${text.slice(0, 64)}`);
      this.list.addSubnet(cidr.address, cidr.prefix, cidr.family);
      return cidr;
    });
  }

  allows(ip: string): boolean {
    const { address, family } = normalise(ip);
    return isIP(address) !== 0 && this.list.check(address, family);
  }

  /** Whether every address of `cidr` is inside this list (for minting narrower tokens). */
  covers(cidr: Cidr): boolean {
    return this.cidrs.some((own) => {
      if (own.family !== cidr.family || own.prefix > cidr.prefix) return false;
      const single = new BlockList();
      single.addSubnet(own.address, own.prefix, own.family);
      return single.check(cidr.address, cidr.family);
    });
  }
}
