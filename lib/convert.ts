/**
 * Pure mapping between the public types (`lib/types.ts`) and the native
 * addon's kernel-level types (`lib/native-types.ts`), and the wording of
 * services and destinations in messages. Address text is lib/address.ts.
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
import { addressFamily, canonicalFromKernel, canonicalOrSelf, parseIPv4 } from './address.js';
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

// ---------------------------------------------------------------------------
// Scheduler flag bits and persistence netmasks, as numbers to compare

/** Bits of a flag list, numbered as ipvsadm prints them (flag-1 = 1, flag-2 = 2, flag-3 = 4). */
export function schedFlagBits(flags: readonly SchedulerFlag[] | undefined): number {
  // ipvsadm counts the flags from 1; the kernel keeps them from SCHED1 (0x8) up.
  return schedulerFlagsToRaw(flags ?? []) / SVC_F_SCHED1;
}

/** A service's persistence netmask as the kernel's value: IPv4 mask number, or IPv6 prefix length. */
export function netmaskValue(family: Family, netmask: string | number | undefined): number {
  if (family === 'inet6') {
    if (netmask === undefined) return 128;
    return typeof netmask === 'number' ? netmask : Number(netmask);
  }
  if (netmask === undefined) return 0xffffffff;
  if (typeof netmask === 'number') {
    // A prefix length given for an IPv4 service.
    return netmask <= 0 ? 0 : (0xffffffff - (2 ** (32 - Math.min(netmask, 32)) - 1)) >>> 0;
  }
  const v = parseIPv4(netmask);
  if (v === undefined) throw new TypeError(`not an IPv4 netmask: '${netmask}'`);
  return v;
}
