import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';

/** An IPv4 network (address and prefix length), as on the interface of --host. */
export interface Subnet {
  readonly cidr: string;
  contains(address: string): boolean;
}

const LOOPBACK: Subnet = subnet('127.0.0.0', 8);

/**
 * The subnet of `host` when multicast can be pinned to it: any 127.0.0.0/8 address (Linux
 * resolves all of it to lo for IP_MULTICAST_IF and group joins, verified), or an IPv4 address
 * configured on a local interface. Null otherwise.
 */
export function localSubnet(host: string): Subnet | null {
  if (!isIPv4(host) || host === '0.0.0.0') return null;
  if (LOOPBACK.contains(host)) return LOOPBACK;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family !== 'IPv4' || a.address !== host) continue;
      const prefix = Number(a.cidr?.split('/')[1] ?? 32);
      return subnet(host, prefix);
    }
  }
  return null;
}

function subnet(address: string, prefixLength: number): Subnet {
  const mask = prefixLength === 0 ? 0 : (~0 << (32 - prefixLength)) >>> 0;
  const network = (toUint32(address) & mask) >>> 0;
  return {
    cidr: `${fromUint32(network)}/${prefixLength}`,
    contains: (other) => isIPv4(other) && ((toUint32(other) & mask) >>> 0) === network,
  };
}

function toUint32(address: string): number {
  return address.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

function fromUint32(n: number): string {
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 0xff).join('.');
}
