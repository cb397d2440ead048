/**
 * The connection table: the text of `/proc/net/ip_vs_conn` (IPVS's generic
 * netlink family has no connection dump), read by the addon in the handle's
 * namespace, turned into {@link Connection} objects here, a slice at a time.
 *
 * The kernel writes each entry with `ip_vs_conn_seq_show()`
 * (net/netfilter/ipvs/ip_vs_conn.c):
 *
 *     Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
 *     TCP 0A000002 D0C2 C0000A0A 0050 0A00000B 0050 ESTABLISHED     899
 *
 * IPv4 addresses and every port in hex; IPv6 addresses as `%pI6` (eight
 * groups of four hex digits); the destination by its own family; expiry in
 * whole seconds; persistence-engine name and data when there are any.
 *
 * @internal
 * @module
 */

import { formatIPv6, numberToIPv4, parseIPv6 } from './address.js';
import type { Pacer } from './pace.js';
import type { Connection, ConnectionFilter, Family } from './types.js';

export {};

const PROTOCOL_NAMES: Record<string, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp', IP: 'ip' };

/** An address of the table in canonical text, with its family. */
interface Address {
  address: string;
  family: Family;
}

/**
 * Addresses seen in this read, by the kernel's spelling: a table has few
 * virtual and real addresses, and clients repeat, so each is converted (and
 * allocated) once.
 */
class AddressTexts {
  readonly #seen = new Map<string, Address | null>();

  /** An address in the kernel's spelling (a `:` means `%pI6`; else 8 hex digits); undefined if it is neither. */
  any(field: string): Address | undefined {
    let a = this.#seen.get(field);
    if (a === undefined) {
      a = null;
      if (field.includes(':')) {
        const words = parseIPv6(field);
        if (words) a = { address: formatIPv6(words), family: 'inet6' };
      } else if (field.length === 8 && /^[0-9A-F]{8}$/.test(field)) {
        a = { address: numberToIPv4(Number.parseInt(field, 16)), family: 'inet' };
      }
      this.#seen.set(field, a);
    }
    return a ?? undefined;
  }
}

function hexPort(field: string): number | undefined {
  if (field.length !== 4) return undefined;
  const n = Number.parseInt(field, 16);
  return Number.isNaN(n) ? undefined : n;
}

/**
 * The entries of one read of `/proc/net/ip_vs_conn` that pass `filter`
 * (already validated; its addresses canonical), in the kernel's order. A
 * line that does not have the kernel's shape is an error: it means the
 * format changed, and silently dropping entries would hide connections.
 */
export async function parseConnectionTable(text: string, filter: ConnectionFilter, pace: Pacer): Promise<Connection[]> {
  const out: Connection[] = [];
  const addresses = new AddressTexts();
  const wantProtocol = filter.service?.protocol;
  const wantVirtual = filter.service?.address;
  const wantVirtualPort = filter.service?.port;
  const wantDestination = filter.destination?.address;
  const wantDestinationPort = filter.destination?.port;
  const templates = filter.templates !== false;

  // Fields are cut straight out of the text into one reused array: no line
  // string and no arrays per entry (100 000 entries made 200 000 of them).
  const f: string[] = [];
  let start = text.indexOf('\n') + 1; // the header line
  let lineNumber = 1;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const lineStart = start;
    start = end + 1;
    lineNumber++;
    if (end === lineStart) continue;
    if ((lineNumber & 63) === 0 && pace.due()) await pace.yield();

    f.length = 0;
    for (let i = lineStart; i < end; ) {
      while (i < end && text.charCodeAt(i) === 32) i++;
      if (i >= end) break;
      let j = i;
      while (j < end && text.charCodeAt(j) !== 32) j++;
      f.push(text.slice(i, j));
      i = j;
    }
    const bad = (): Error => new Error(`/proc/net/ip_vs_conn line ${lineNumber} is not in the kernel's format: ${JSON.stringify(text.slice(lineStart, end))}`);
    if (f.length < 9) throw bad();
    const [proto, c, cp, v, vp, d, dp, state, expires] = f as [string, string, string, string, string, string, string, string, string];
    const protocol = PROTOCOL_NAMES[proto] ?? proto;
    const client = addresses.any(c);
    const virtual = addresses.any(v);
    const destination = addresses.any(d);
    const clientPort = hexPort(cp);
    const virtualPort = hexPort(vp);
    const destinationPort = hexPort(dp);
    const seconds = Number(expires);
    if (!client || !virtual || !destination || client.family !== virtual.family) throw bad();
    if (clientPort === undefined || virtualPort === undefined || destinationPort === undefined || !Number.isInteger(seconds)) throw bad();

    const template = clientPort === 0;
    if (!templates && template) continue;
    if (wantProtocol !== undefined && protocol !== wantProtocol) continue;
    if (wantVirtual !== undefined && (virtual.address !== wantVirtual || virtualPort !== wantVirtualPort)) continue;
    if (wantDestination !== undefined && destination.address !== wantDestination) continue;
    if (wantDestinationPort !== undefined && destinationPort !== wantDestinationPort) continue;

    const entry: Connection = {
      protocol,
      family: client.family,
      client: { address: client.address, port: clientPort },
      virtual: { address: virtual.address, port: virtualPort },
      destination: { address: destination.address, port: destinationPort, family: destination.family },
      state,
      expiresMs: seconds * 1000,
      template,
    };
    if (f.length > 9) entry.persistenceEngine = { name: f[9] as string, data: f.slice(10).join(' ') };
    out.push(entry);
  }
  return out;
}
