/**
 * Pure mapping between the public types (`lib/types.ts`) and the native
 * addon's kernel-level types (`lib/native.ts`), plus the address text helpers
 * and the wording of services and destinations in messages.
 *
 * Nothing here validates: callers run `lib/validate.ts` first, and these
 * functions assume well-formed input.
 *
 * Shape of values read back (`rawTo*`): optional fields are omitted rather than
 * set to `false`, `[]` or `undefined`, so a service without persistence has no
 * `persistence` key, one without scheduler flags no `schedulerFlags` key, and
 * so on. This keeps `Object.keys` and deep equality meaningful and lets a value
 * read back be fed straight into an update.
 *
 * @internal
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';

import {
  AF_INET,
  AF_INET6,
  DAEMON_BACKUP,
  DAEMON_MASTER,
  FWD_DROUTE,
  FWD_LOCALNODE,
  FWD_MASQ,
  FWD_TUNNEL,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  TUN_F_CSUM,
  TUN_F_NOCSUM,
  TUN_F_REMCSUM,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
} from './kernel.js';
import type { RawDaemon } from './native-types.js';
import type {
  Daemon,
  DaemonSpec,
  DaemonState,
  Family,
  Forwarding,
  Info,
  Protocol,
  SchedulerFlag,
  ServiceKey,
  Timeouts,
  TunnelOptions,
} from './types.js';

// ---------------------------------------------------------------------------
// Defaults

/** Scheduler used when a spec names none (as `ipvsadm`). */
export const DEFAULT_SCHEDULER = 'wlc';
/** Destination weight when a spec gives none (as `ipvsadm`). */
export const DEFAULT_WEIGHT = 1;
/** IPv4 persistence netmask when none is given: each client on its own. */
export const DEFAULT_NETMASK_V4 = 0xffffffff;
/** IPv6 persistence prefix length when none is given: each client on its own. */
export const DEFAULT_NETMASK_V6 = 128;

// ---------------------------------------------------------------------------
// Address text

/**
 * The family of an address text, or `undefined` when it is neither a plain
 * IPv4 dotted quad nor an IPv6 address. Scoped IPv6 text (`fe80::1%eth0`) is
 * refused: the kernel's service and destination addresses carry no scope.
 */
export function addressFamily(text: string): Family | undefined {
  // By hand rather than node:net's isIPv4: a batch checks every address, and
  // the regular expression leaves garbage behind each time.
  if (parseDottedTail(text, 0) >= 0) return 'inet';
  if (isIPv6(text) && !text.includes('%')) return 'inet6';
  return undefined;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** Parses a strict dotted quad (no leading zeros) at `text[from..]` to the end; -1 if malformed. */
function parseDottedTail(text: string, from: number): number {
  let value = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    const start = i;
    let octet = 0;
    while (i < text.length && i - start < 3) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || octet > 255 || (digits > 1 && text.charCodeAt(start) === 48)) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (text.charCodeAt(i) !== 46) return -1; // '.'
      i++;
    }
  }
  return i === text.length ? value : -1;
}

/**
 * Parses IPv6 text into its eight 16-bit groups, or `undefined` when the text
 * is not IPv6 (scoped text included). Accepts exactly what `node:net`'s
 * `isIPv6` accepts, less zone ids; written by hand because it runs for every
 * IPv6 address read from the kernel.
 */
export function parseIPv6(text: string): number[] | undefined {
  const n = text.length;
  if (n < 2 || n > 45) return undefined;
  const words: number[] = [];
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    // A leading ':' is only valid as '::'.
    if (text.charCodeAt(1) !== 58) return undefined;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0;
    let h: number;
    while (i < n && i - start < 4 && (h = hexValue(text.charCodeAt(i))) >= 0) {
      value = value * 16 + h;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // A dotted IPv4 tail: the last two groups.
      if (words.length > 6) return undefined;
      const v4 = parseDottedTail(text, start);
      if (v4 < 0) return undefined;
      words.push(v4 >>> 16, v4 & 0xffff);
      i = n;
      break;
    }
    if (i === start || words.length === 8) return undefined;
    words.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap !== -1) return undefined;
      gap = words.length;
      i++;
    } else if (i === n) {
      return undefined; // a single trailing ':'
    }
  }
  const count = words.length;
  if (gap === -1) return count === 8 ? words : undefined;
  // '::' stands for at least one zero group.
  if (count > 7) return undefined;
  // Move the groups after '::' to the end, zeros between.
  const tail = count - gap;
  for (let k = 0; k < tail; k++) words[7 - k] = words[count - 1 - k] ?? 0;
  for (let k = gap; k < 8 - tail; k++) words[k] = 0;
  return words;
}

/**
 * Formats eight 16-bit groups as glibc's `inet_ntop` does (RFC 5952): lower-case
 * hex without leading zeros; the longest run of two or more zero groups
 * compressed to `::` (the first on a tie); IPv4-mapped (`::ffff:a.b.c.d`) and
 * IPv4-compatible (`::a.b.c.d`) addresses with a dotted tail.
 */
export function formatIPv6(words: readonly number[]): string {
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  if (bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    const w6 = words[6] ?? 0;
    const w7 = words[7] ?? 0;
    const v4 = `${w6 >> 8}.${w6 & 0xff}.${w7 >> 8}.${w7 & 0xff}`;
    return bestLen === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (words[i] ?? 0).toString(16);
  }
  return out;
}

/**
 * The canonical text of an address, as the kernel's replies show it through
 * `inet_ntop`, or `undefined` when the text is not an address. IPv4 text that
 * `node:net` accepts is already canonical (it refuses leading zeros).
 */
export function canonicalAddress(text: string): string | undefined {
  if (isIPv4(text)) return text;
  const words = parseIPv6(text);
  return words && formatIPv6(words);
}

/** Canonical text when valid, the text itself otherwise (for messages). */
function canonicalOrSelf(text: string): string {
  return canonicalAddress(text) ?? text;
}

/** Canonicalizes text from the kernel, cheaply: IPv4 from `inet_ntop` is canonical already. */
function canonicalFromKernel(text: string): string {
  if (!text.includes(':')) return text;
  const words = parseIPv6(text);
  return words ? formatIPv6(words) : text;
}

/** Dotted IPv4 text to its unsigned host-order number (`'255.255.255.0'` → `0xffffff00`). */
export function ipv4ToNumber(text: string): number {
  const o = text.split('.').map(Number);
  return (((o[0] ?? 0) << 24) | ((o[1] ?? 0) << 16) | ((o[2] ?? 0) << 8) | (o[3] ?? 0)) >>> 0;
}

/** An unsigned host-order number to dotted IPv4 text (`0xffffff00` → `'255.255.255.0'`). */
export function numberToIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** True when an IPv4 mask (host-order number) is contiguous ones then zeros. */
export function isContiguousMask(mask: number): boolean {
  const inv = ~mask >>> 0;
  return (inv & (inv + 1)) === 0;
}

// ---------------------------------------------------------------------------
// Names in messages

/** `[addr]` for IPv6, `addr` otherwise. */
function hostPart(address: string): string {
  const a = canonicalOrSelf(address);
  return a.includes(':') ? `[${a}]` : a;
}

/**
 * True for a fwmark service key. A key is one when its `fwmark` is set: a key
 * spread from settings such as `{ protocol, address, port, fwmark: undefined }`
 * is an address key, as validation reads it, and must be sent as one.
 */
export function isFwmarkKey(key: ServiceKey): key is Extract<ServiceKey, { fwmark: number }> {
  return (key as { fwmark?: unknown }).fwmark !== undefined;
}

/**
 * How a service is named in messages: `tcp 10.0.0.1:80`, `udp [2001:db8::1]:53`,
 * `fwmark 7`, `fwmark 7 inet6`. Addresses appear in canonical form.
 */
export function describeServiceKey(key: ServiceKey): string {
  if (isFwmarkKey(key)) return key.family === 'inet6' ? `fwmark ${key.fwmark} inet6` : `fwmark ${key.fwmark}`;
  return `${key.protocol} ${hostPart(key.address)}:${key.port}`;
}

/** How a destination is named in messages: `10.0.0.2:80`, `[2001:db8::2]:80`. */
export function describeDestination(address: string, port: number): string {
  return `${hostPart(address)}:${port}`;
}

/**
 * A string that identifies a service, usable as a `Map` key: equal for every
 * text form of the same key (`2001:DB8:0::1` and `2001:db8::1`; an fwmark key
 * with `family: 'inet'` and one without). Currently the canonical
 * {@link describeServiceKey} text.
 */
export function serviceKeyId(key: ServiceKey): string {
  return describeServiceKey(key);
}

// ---------------------------------------------------------------------------
// Enumerations

/** @internal */
export const PROTOCOL_NUMBER: Record<Protocol, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP };
const FAMILY_NUMBER: Record<Family, number> = { inet: AF_INET, inet6: AF_INET6 };
/** @internal */
export const FORWARDING_NUMBER: Record<Forwarding, number> = { masq: FWD_MASQ, tunnel: FWD_TUNNEL, route: FWD_DROUTE };
/** @internal */
export const TUNNEL_TYPE_NUMBER: Record<TunnelOptions['type'], number> = { ipip: TUN_IPIP, gue: TUN_GUE, gre: TUN_GRE };
/** @internal */
export const CHECKSUM_NUMBER: Record<NonNullable<TunnelOptions['checksum']>, number> = {
  nocsum: TUN_F_NOCSUM,
  csum: TUN_F_CSUM,
  remcsum: TUN_F_REMCSUM,
};
const SCHED_FLAG_BIT: Record<SchedulerFlag, number> = {
  'sh-fallback': SVC_F_SCHED1,
  'mh-fallback': SVC_F_SCHED1,
  'flag-1': SVC_F_SCHED1,
  'sh-port': SVC_F_SCHED2,
  'mh-port': SVC_F_SCHED2,
  'flag-2': SVC_F_SCHED2,
  'flag-3': SVC_F_SCHED3,
};

/** Kernel family number of a public family. */
export function familyToRaw(family: Family): number {
  return FAMILY_NUMBER[family];
}

/** Public family of a kernel family number. Throws on anything but AF_INET/AF_INET6. */
export function rawToFamily(af: number): Family {
  if (af === AF_INET) return 'inet';
  if (af === AF_INET6) return 'inet6';
  throw new Error(`unexpected address family ${af} from the kernel`);
}

/** Public name of a kernel protocol number. Throws on protocols ipvs-ts does not model. */
export function rawToProtocol(proto: number): Protocol {
  if (proto === IPPROTO_TCP) return 'tcp';
  if (proto === IPPROTO_UDP) return 'udp';
  if (proto === IPPROTO_SCTP) return 'sctp';
  throw new Error(`unexpected service protocol ${proto} from the kernel`);
}

/**
 * The names of the scheduler flags a service's scheduler gives to SCHED1..3,
 * as `ipvsadm` prints them: `sh` and `mh` name their first two flags; every
 * other scheduler, and the third flag always, use `flag-N`.
 */
export function schedulerFlagNames(scheduler: string): readonly [SchedulerFlag, SchedulerFlag, SchedulerFlag] {
  if (scheduler === 'sh') return ['sh-fallback', 'sh-port', 'flag-3'];
  if (scheduler === 'mh') return ['mh-fallback', 'mh-port', 'flag-3'];
  return ['flag-1', 'flag-2', 'flag-3'];
}

/** The SCHED1..3 bits of a list of scheduler flag names. */
export function schedulerFlagsToRaw(flags: readonly SchedulerFlag[]): number {
  let bits = 0;
  for (const f of flags) bits |= SCHED_FLAG_BIT[f];
  return bits;
}

// ---------------------------------------------------------------------------
// Services

/** The family of a service key (an fwmark key without one is `'inet'`). */
export function serviceKeyFamily(key: ServiceKey): Family {
  if (isFwmarkKey(key)) return key.family ?? 'inet';
  return addressFamily(key.address) === 'inet6' ? 'inet6' : 'inet';
}

// ---------------------------------------------------------------------------
// Destinations

/**
 * The port a destination key or spec means: its own, or else the service's
 * (0 for fwmark services, which have no port).
 */
export function destinationPort(port: number | undefined, serviceKey: ServiceKey): number {
  if (port !== undefined) return port;
  return isFwmarkKey(serviceKey) ? 0 : serviceKey.port;
}

/** @internal */
export function rawToForwarding(fwd: number): Forwarding | 'local' {
  switch (fwd & 0x7) {
    case FWD_MASQ:
      return 'masq';
    case FWD_LOCALNODE:
      return 'local';
    case FWD_TUNNEL:
      return 'tunnel';
    case FWD_DROUTE:
      return 'route';
    default:
      throw new Error(`unexpected forwarding method ${fwd} from the kernel`);
  }
}

/** @internal */
export function rawToTunnelType(t: number): TunnelOptions['type'] | undefined {
  if (t === TUN_IPIP) return 'ipip';
  if (t === TUN_GUE) return 'gue';
  if (t === TUN_GRE) return 'gre';
  return undefined;
}

/** @internal */
export function rawToChecksum(flags: number): NonNullable<TunnelOptions['checksum']> {
  // The flags are bits; REMCSUM wins over CSUM should a tool set both.
  if (flags & TUN_F_REMCSUM) return 'remcsum';
  if (flags & TUN_F_CSUM) return 'csum';
  return 'nocsum';
}

// ---------------------------------------------------------------------------
// Timeouts, daemons, info

/** Partial timeouts in kernel terms: an absent timeout is sent as 0, which keeps the current value. */
export function timeoutsToRaw(partial: Partial<Timeouts>): Timeouts {
  return { tcp: partial.tcp ?? 0, tcpFin: partial.tcpFin ?? 0, udp: partial.udp ?? 0 };
}

/** Timeouts read from the kernel, in public terms. */
export function rawToTimeouts(raw: { tcp: number; tcpFin: number; udp: number }): Timeouts {
  return { tcp: raw.tcp, tcpFin: raw.tcpFin, udp: raw.udp };
}

/** Kernel number of a daemon role (`IP_VS_STATE_MASTER` / `_BACKUP`). */
export function daemonStateToRaw(state: DaemonState): number {
  return state === 'master' ? DAEMON_MASTER : DAEMON_BACKUP;
}

/** Public name of a kernel daemon role. Throws on anything else. */
export function rawToDaemonState(state: number): DaemonState {
  if (state === DAEMON_MASTER) return 'master';
  if (state === DAEMON_BACKUP) return 'backup';
  throw new Error(`unexpected sync daemon state ${state} from the kernel`);
}

/**
 * A daemon spec in kernel terms. Defaults: sync id 0. Maximum length, group,
 * port and TTL are sent only when given, leaving the kernel's defaults
 * (payload from the MTU, 224.0.0.81, 8848, 1) otherwise.
 */
export function daemonSpecToRaw(spec: DaemonSpec): RawDaemon {
  const raw: RawDaemon = { state: daemonStateToRaw(spec.state), interface: spec.interface, syncId: spec.syncId ?? 0 };
  if (spec.maxLength !== undefined) raw.maxLength = spec.maxLength;
  if (spec.group !== undefined) raw.group = spec.group;
  if (spec.port !== undefined) raw.port = spec.port;
  if (spec.ttl !== undefined) raw.ttl = spec.ttl;
  return raw;
}

/** A daemon read from the kernel, in public terms; fields the kernel did not report are omitted. */
export function rawToDaemon(raw: RawDaemon): Daemon {
  const d: Daemon = { state: rawToDaemonState(raw.state), interface: raw.interface, syncId: raw.syncId };
  if (raw.maxLength !== undefined) d.maxLength = raw.maxLength;
  if (raw.group !== undefined) d.group = canonicalFromKernel(raw.group);
  if (raw.port !== undefined) d.port = raw.port;
  if (raw.ttl !== undefined) d.ttl = raw.ttl;
  return d;
}

/** The kernel's info reply in public terms (`0x010201` → `'1.2.1'`). */
export function rawToInfo(raw: { version: number; connTableSize: number }): Info {
  const v = raw.version;
  return { version: `${(v >> 16) & 0xff}.${(v >> 8) & 0xff}.${v & 0xff}`, connectionTableSize: raw.connTableSize };
}
