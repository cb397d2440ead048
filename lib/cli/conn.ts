/**
 * `ipvsadm -L -c`: the connection table, read from `/proc/net/ip_vs_conn`
 * (IPVS's generic netlink family has no connection dump) and printed as
 * ipvsadm 1.31's `list_conn`/`print_conn` print it.
 *
 * @internal
 * @module
 */

import { type NameResolver, addrPortName } from '../ipvsadm/common.js';
import { numberToIPv4, formatIPv6, parseIPv6 } from '../address.js';
import type { Family, Protocol } from '../types.js';

/** One line of `/proc/net/ip_vs_conn`, as ipvsadm's sscanf splits it. */
export interface ConnEntry {
  protocol: string;
  /** The client's and the virtual address's family. */
  family: Family;
  /**
   * The destination's own family: it differs from the service's for a tunnel
   * across families, and the kernel writes the field by it (ipvsadm reads it
   * on its own too).
   */
  destinationFamily: Family;
  client: string;
  clientPort: number;
  virtual: string;
  virtualPort: number;
  destination: string;
  destinationPort: number;
  state: string;
  expires: number;
  /** Present when the line carries persistence-engine data. */
  pe?: { name: string; data: string };
}

/** C `strtoul(text, NULL, 16)` cut to 32 bits: leading hex digits, 0 when there are none. */
function hexWord(text: string): number {
  const m = /^[ \t]*(?:0[xX])?([0-9a-fA-F]+)/.exec(text);
  if (!m) return 0;
  const digits = (m[1] ?? '').replace(/^0+/, '');
  // strtoul saturates at ULONG_MAX; the cast to __u32 then keeps the low word.
  if (digits.length > 16) return 0xffffffff;
  return Number(BigInt(`0x${digits || '0'}`) & 0xffffffffn);
}

/** The addresses of one line: IPv6 text when the client is IPv6 (`%pI6`), else hex words. */
function addressOf(text: string, family: Family): string {
  if (family === 'inet6') {
    const w = parseIPv6(text);
    return w ? formatIPv6(w) : '::';
  }
  return numberToIPv4(hexWord(text));
}

/**
 * Parses `/proc/net/ip_vs_conn` (its first line is a header). Lines ipvsadm's
 * sscanf could not read are skipped.
 */
export function parseConnTable(text: string): ConnEntry[] {
  const out: ConnEntry[] = [];
  const lines = text.split('\n').slice(1);
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    if (f.length < 9) continue;
    const [protocol, c, cp, v, vp, d, dp, state, exp, peName, peData] = f as [string, string, string, string, string, string, string, string, string, string?, string?];
    const family: Family = parseIPv6(c) ? 'inet6' : 'inet';
    const destinationFamily: Family = parseIPv6(d) ? 'inet6' : 'inet';
    const entry: ConnEntry = {
      protocol,
      family,
      destinationFamily,
      client: addressOf(c, family),
      clientPort: hexWord(cp) & 0xffff,
      virtual: addressOf(v, family),
      virtualPort: hexWord(vp) & 0xffff,
      destination: addressOf(d, destinationFamily),
      destinationPort: hexWord(dp) & 0xffff,
      state,
      expires: Number.parseInt(exp, 10) || 0,
    };
    if (peName !== undefined && peData !== undefined) entry.pe = { name: peName, data: peData };
    out.push(entry);
  }
  return out;
}

const PROTOCOLS: Record<string, Protocol> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

/**
 * What `ipvsadm -L -c` prints for the entries: with `persistentConn`, the pe
 * name and data columns (ipvsadm's widths, which do not line up with its
 * own title). `names` undefined means `-n`.
 */
export function formatConnections(entries: readonly ConnEntry[], persistentConn: boolean, names: NameResolver | undefined): string {
  let out = 'IPVS connection entries\n';
  out += persistentConn
    ? `pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} ${'destination'.padEnd(18)} ${'pe name'.padEnd(16)} pe_data\n`
    : `pro expire ${'state'.padEnd(11)} ${'source'.padEnd(18)} ${'virtual'.padEnd(18)} destination\n`;
  for (const e of entries) {
    const protocol = PROTOCOLS[e.protocol];
    const name = (a: string, p: number, family = e.family): string => addrPortName(a, family, p, protocol, names);
    const minutes = Math.floor(e.expires / 60);
    const seconds = e.expires % 60;
    const expire = `${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}`;
    const head = `${e.protocol.padEnd(3)} ${expire.padEnd(6)} ${e.state.padEnd(11)} ${name(e.client, e.clientPort).padEnd(18)} ${name(e.virtual, e.virtualPort).padEnd(18)}`;
    out +=
      persistentConn && e.pe
        ? `${head} ${name(e.destination, e.destinationPort, e.destinationFamily).padEnd(16)} ${e.pe.name.padEnd(18)} ${e.pe.data}\n`
        : `${head} ${name(e.destination, e.destinationPort, e.destinationFamily)}\n`;
  }
  return out;
}

/** Every address a listing of `entries` would look up by name. */
export function connectionAddresses(entries: readonly ConnEntry[]): string[] {
  return entries.flatMap((e) => [e.client, e.virtual, e.destination]);
}
