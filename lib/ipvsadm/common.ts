/**
 * Internals shared by the ipvsadm save-format and listing code: glibc's
 * lenient `inet_aton` (the strict address text is lib/address.ts),
 * ipvsadm's sort order, scheduler-flag names and name lookups. Not part of
 * the public API.
 *
 * @internal
 * @module
 */

import { readFileSync } from 'node:fs';

import { addressWords, canonicalAddress as canonical, formatIPv6, numberToIPv4 } from '../address.js';
import { isFwmarkKey } from '../convert.js';
import type { Destination, Family, Protocol, SchedulerFlag, Service, ServiceKey } from '../types.js';

/** Looks up names for `ipvsadm` without `-n`. Either hook may be left out. */
export interface NameResolver {
  /** Host name of an address, or `undefined` to print the address. */
  host?(address: string, family: Family): string | undefined;
  /** Service name of a port (`/etc/services`), or `undefined` to print the number. */
  service?(port: number, protocol: Protocol): string | undefined;
}

// ---------------------------------------------------------------------------
// Address text

/**
 * glibc `inet_aton`: one to four parts, each decimal, octal (leading 0) or hex
 * (0x and at least one digit); the last part fills the remaining bytes, and a
 * blank ends the address (what follows it is ignored). ipvsadm reads IPv4
 * addresses and netmasks with it, so `10.1` means 10.0.0.1.
 */
export function inetAton(text: string): number | undefined {
  const blank = text.search(/[ \t\n\v\f\r]/);
  const parts = (blank < 0 ? text : text.slice(0, blank)).split('.');
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let m: RegExpExecArray | null;
    let v: number;
    // A bare 0x is not a number to glibc: strtoul stops before the x.
    if ((m = /^0[xX]([0-9a-fA-F]+)$/.exec(part))) v = parseInt(m[1] ?? '', 16);
    else if (/^0[0-7]*$/.test(part)) v = parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) v = parseInt(part, 10);
    else return undefined;
    // Hex digits beyond 32 bits are rejected by glibc too (the value overflows).
    if (!Number.isFinite(v) || v > 0xffffffff) return undefined;
    values.push(v);
  }
  const last = values.pop();
  if (last === undefined) return undefined;
  let result = 0;
  values.forEach((v, i) => {
    if (v > 0xff) result = NaN;
    result += v * 2 ** (8 * (3 - i));
  });
  const room = 2 ** (8 * (4 - values.length));
  if (Number.isNaN(result) || last >= room) return undefined;
  return result + last;
}

/** The canonical text of an address, for the ipvsadm code: a TypeError when it is not one. */
export function canonicalAddress(address: string): string {
  const text = canonical(address);
  if (text === undefined) throw new TypeError(`not an IP address: '${address}'`);
  return text;
}

// ---------------------------------------------------------------------------
// Sorting as ipvsadm does it

/** C's conversion of an unsigned difference to `int`: wraps modulo 2³². */
function int32(n: number): number {
  return n | 0;
}

/**
 * glibc 2.36 `qsort`, which is a top-down merge sort (first half `n/2`,
 * ties and "equal" results keep the left element). ipvsadm's comparators are
 * not transitive (they subtract unsigned words into an `int`), so only the
 * very same algorithm gives the very same order.
 */
export function glibcMergeSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const sort = (a: T[]): T[] => {
    if (a.length <= 1) return a;
    const n1 = Math.floor(a.length / 2);
    const left = sort(a.slice(0, n1));
    const right = sort(a.slice(n1));
    const out: T[] = [];
    let i = 0;
    let j = 0;
    while (i < left.length && j < right.length) {
      const l = left[i] as T;
      const r = right[j] as T;
      if (cmp(l, r) <= 0) {
        out.push(l);
        i++;
      } else {
        out.push(r);
        j++;
      }
    }
    return out.concat(left.slice(i), right.slice(j));
  };
  return sort([...items]);
}

const AF_INET = 2;
const AF_INET6 = 10;
const PROTO_NUMBER: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };

/** True for a fwmark service key (the library's own test, under the name this module uses). */
export const isFwmark = isFwmarkKey;

/** Address family of a service key (fwmark services carry it; address services imply it). */
export function serviceFamily(key: ServiceKey & { family?: Family }): Family {
  if (isFwmark(key)) return key.family ?? 'inet';
  return key.family ?? addressWords(key.address).family;
}

/** libipvs `ipvs_cmp_services`, with its `int` wrap-around. */
export function compareServices(a: Service, b: Service): number {
  const fa = isFwmark(a) ? a.fwmark : 0;
  const fb = isFwmark(b) ? b.fwmark : 0;
  let r = int32(fa - fb);
  if (r !== 0) return r;
  const afa = serviceFamily(a) === 'inet6' ? AF_INET6 : AF_INET;
  const afb = serviceFamily(b) === 'inet6' ? AF_INET6 : AF_INET;
  r = afa - afb;
  if (r !== 0) return r;
  // libipvs leaves protocol, address and port zero for fwmark services.
  const pa = isFwmark(a) ? 0 : PROTO_NUMBER[a.protocol];
  const pb = isFwmark(b) ? 0 : PROTO_NUMBER[b.protocol];
  r = pa - pb;
  if (r !== 0) return r;
  const wa = isFwmark(a) ? [0, 0, 0, 0] : addressWords(a.address).words;
  const wb = isFwmark(b) ? [0, 0, 0, 0] : addressWords(b.address).words;
  if (afa === AF_INET6) {
    for (let i = 0; r === 0 && i < 4; i++) r = int32((wa[i] ?? 0) - (wb[i] ?? 0));
  } else r = int32((wa[0] ?? 0) - (wb[0] ?? 0));
  if (r !== 0) return r;
  return (isFwmark(a) ? 0 : a.port) - (isFwmark(b) ? 0 : b.port);
}

/** libipvs `ipvs_cmp_dests`: the first entry's family decides how many words count. */
export function compareDestinations(a: Destination, b: Destination): number {
  const wa = addressWords(a.address).words;
  const wb = addressWords(b.address).words;
  let r = 0;
  if (a.family === 'inet6') {
    for (let i = 0; r === 0 && i < 4; i++) r = int32((wa[i] ?? 0) - (wb[i] ?? 0));
  } else r = int32((wa[0] ?? 0) - (wb[0] ?? 0));
  if (r !== 0) return r;
  return a.port - b.port;
}

// ---------------------------------------------------------------------------
// Scheduler flags

/**
 * ipvsadm's `print_sched_flags`: names by scheduler, in bit order. For `sh` and
 * `mh` only the two named bits print (a set `flag-3` prints nothing).
 */
export function schedFlagNames(scheduler: string, bits: number): SchedulerFlag[] {
  const out: SchedulerFlag[] = [];
  if (scheduler === 'sh' || scheduler === 'mh') {
    if (bits & 1) out.push(scheduler === 'sh' ? 'sh-fallback' : 'mh-fallback');
    if (bits & 2) out.push(scheduler === 'sh' ? 'sh-port' : 'mh-port');
  } else {
    if (bits & 1) out.push('flag-1');
    if (bits & 2) out.push('flag-2');
    if (bits & 4) out.push('flag-3');
  }
  return out;
}

/** The same names a parsed `-b` list keeps: like {@link schedFlagNames}, but `flag-3` survives for sh/mh. */
export function canonicalSchedFlags(scheduler: string, bits: number): SchedulerFlag[] {
  const out = schedFlagNames(scheduler, bits);
  if ((scheduler === 'sh' || scheduler === 'mh') && bits & 4) out.push('flag-3');
  return out;
}

// ---------------------------------------------------------------------------
// Names

/** `getservbyport` from `/etc/services`: the first entry for the port and protocol. */
export function serviceNameFromEtc(port: number, protocol: Protocol): string | undefined {
  return loadEtcServices().byPort.get(`${port}/${protocol}`);
}

/** `getservbyname` from `/etc/services` (names and aliases). */
export function servicePortFromEtc(name: string, protocol: Protocol): number | undefined {
  const v = loadEtcServices().byName.get(`${name}/${protocol}`);
  return v === undefined ? undefined : Number(v);
}

let etcCache: { byPort: Map<string, string>; byName: Map<string, string> } | undefined;

function loadEtcServices(): { byPort: Map<string, string>; byName: Map<string, string> } {
  if (etcCache) return etcCache;
  const byPort = new Map<string, string>();
  const byName = new Map<string, string>();
  let text = '';
  try {
    text = readFileSync('/etc/services', 'utf8');
  } catch {
    // No services database: every port stays numeric, as with glibc.
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(portProto ?? '');
    if (!name || !m) continue;
    const key = `${m[1]}/${m[2]}`;
    if (!byPort.has(key)) byPort.set(key, name);
    for (const n of [name, ...aliases]) {
      const nk = `${n}/${m[2]}`;
      if (!byName.has(nk)) byName.set(nk, m[1] ?? '');
    }
  }
  etcCache = { byPort, byName };
  return etcCache;
}

/** The resolver used when names are asked for and none is given: ports from `/etc/services`, no host names. */
export const defaultNameResolver: NameResolver = {
  service: serviceNameFromEtc,
};

/**
 * ipvsadm's `addrport_to_anyname`: `addr:port`, IPv6 in brackets, names when a
 * resolver is given; cut to the 59 characters of its buffer.
 */
export function addrPortName(
  address: string,
  family: Family,
  port: number,
  protocol: Protocol | undefined,
  names: NameResolver | undefined,
): string {
  const words = addressWords(address);
  const text =
    words.family === 'inet6'
      ? formatIPv6(words.words.flatMap((w) => [Math.floor(w / 65536), w % 65536]))
      : numberToIPv4(words.words[0]);
  const host = names?.host?.(text, family) ?? text;
  const portName = (protocol && names?.service?.(port, protocol)) ?? String(port);
  const open = family === 'inet' ? '' : '[';
  const close = family === 'inet' ? '' : ']';
  return `${open}${host}${close}:${portName}`.slice(0, 59);
}

/** A fwmark as ipvsadm 1.31 prints it: a signed 32-bit number (marks ≥ 2³¹ come out negative). */
export function fwmarkText(fwmark: number): string {
  return String(fwmark | 0);
}
