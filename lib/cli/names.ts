/**
 * Name lookups for the listings ipvsadm prints without `-n`, done ahead of
 * time (the formatters are synchronous) through the C library's resolver,
 * so `/etc/hosts`, DNS and nsswitch answer as they would for ipvsadm.
 *
 * @internal
 * @module
 */

import { promises as dns } from 'node:dns';

import { type NameResolver, serviceNameFromEtc } from '../ipvsadm/common.js';
import type { ServiceWithDestinations } from '../types.js';

/**
 * A resolver knowing the host name of each address given, IPv4 and IPv6
 * (looked up in parallel with `getnameinfo`, as ipvsadm's `gethostbyaddr`,
 * which ipvsadm 1.31 calls with each family's own address size), and port
 * names from `/etc/services`.
 */
export async function reverseResolver(addresses: Iterable<string>): Promise<NameResolver> {
  const wanted = [...new Set(addresses)];
  const names = new Map<string, string>();
  await Promise.all(
    wanted.map(async (address) => {
      try {
        const { hostname } = await dns.lookupService(address, 0);
        if (hostname && hostname !== address) names.set(address, hostname);
      } catch {
        // No name: ipvsadm prints the address.
      }
    }),
  );
  return {
    host: (address) => names.get(address),
    service: serviceNameFromEtc,
  };
}

/** Every address a listing of `services` shows. */
export function tableAddresses(services: readonly ServiceWithDestinations[]): string[] {
  const out: string[] = [];
  for (const s of services) {
    if ('address' in s) out.push(s.address);
    for (const d of s.destinations) out.push(d.address);
  }
  return out;
}

/** IPv4 address of a host name (`gethostbyname`), or `undefined`. */
export async function lookupHost(name: string): Promise<string | undefined> {
  try {
    return (await dns.lookup(name, { family: 4 })).address;
  } catch {
    return undefined;
  }
}
