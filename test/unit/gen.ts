/**
 * Seeded generators of valid public inputs, and what the kernel would hold for
 * them, for the property-style tests of lib/validate.ts and lib/wire.ts (specs
 * written by RecordWriter, echoed as the kernel holds them, decoded back).
 */
import { schedulerFlagNames, serviceKeyFamily } from '../../lib/convert.js';
import { canonicalAddress, formatIPv6 } from '../../lib/address.js';
import { PERSISTENCE_TIMEOUT_MAX, U32_MAX, WEIGHT_MAX } from '../../lib/validate.js';
import type {
  Destination,
  DestinationSpec,
  Family,
  SchedulerFlag,
  Service,
  ServiceKey,
  ServiceSpec,
  TunnelOptions,
} from '../../lib/types.js';

/** mulberry32: small, fast, good enough to drive test cases. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }
  /** Integer in [lo, hi], edges favoured. */
  int(lo: number, hi: number): number {
    const r = this.next();
    if (r < 0.1) return lo;
    if (r < 0.2) return hi;
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
  maybe<T>(p: number, f: () => T): T | undefined {
    return this.bool(p) ? f() : undefined;
  }
  ipv4(): string {
    return [this.int(1, 223), this.int(0, 255), this.int(0, 255), this.int(1, 254)].join('.');
  }
  /** IPv6 text in a random but valid spelling (compressed or not, any case). */
  ipv6(): string {
    const words = Array.from({ length: 8 }, () => (this.bool(0.4) ? 0 : this.int(1, 0xffff)));
    words[0] = this.pick([0x2001, 0xfd00, 0x2a02, words[0] ?? 0]);
    const form = this.int(0, 2);
    if (form === 0) return formatIPv6(words);
    if (form === 1) return words.map((w) => w.toString(16).padStart(4, '0').toUpperCase()).join(':');
    return words.map((w) => w.toString(16)).join(':');
  }
  address(family: Family): string {
    return family === 'inet' ? this.ipv4() : this.ipv6();
  }
}

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'];

/** A random valid service spec. */
export function genServiceSpec(g: Gen): ServiceSpec {
  const family: Family = g.bool(0.6) ? 'inet' : 'inet6';
  const fwmark = g.bool(0.25);
  const persistent = g.bool(0.5);
  const scheduler = g.maybe(0.8, () => g.pick(SCHEDULERS));
  const spec: Record<string, unknown> = {};
  let udpLike = true;
  if (fwmark) {
    spec.fwmark = g.int(1, U32_MAX);
    if (family === 'inet6' || g.bool()) spec.family = family;
  } else {
    const protocol = g.pick(['tcp', 'udp', 'sctp'] as const);
    udpLike = protocol === 'udp';
    spec.protocol = protocol;
    spec.address = g.address(family);
    spec.port = persistent && g.bool(0.2) ? 0 : g.int(1, 65535);
  }
  if (scheduler !== undefined) spec.scheduler = scheduler;
  if (persistent) {
    const p: Record<string, unknown> = { timeout: g.int(1, PERSISTENCE_TIMEOUT_MAX) };
    if (g.bool()) {
      if (family === 'inet') {
        const prefix = g.int(0, 32);
        const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
        p.netmask = `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}`;
      } else {
        p.netmask = g.int(1, 128);
      }
    }
    spec.persistence = p;
    if (g.bool(0.3)) spec.persistenceEngine = 'sip';
  }
  if (g.bool(0.4)) spec.onePacket = udpLike ? g.bool() : false;
  if (g.bool(0.5)) {
    const names = schedulerFlagNames(scheduler ?? 'wlc');
    spec.schedulerFlags = names.filter(() => g.bool()).sort(() => g.next() - 0.5);
  }
  return spec as unknown as ServiceSpec;
}

/** What the kernel holds for a spec, as `decodeServices` should present it. */
export function expectedService(spec: ServiceSpec): Service {
  const family = serviceKeyFamily(spec);
  const key: ServiceKey =
    'fwmark' in spec
      ? { fwmark: spec.fwmark, family }
      : { protocol: spec.protocol, address: canonicalAddress(spec.address) ?? '', port: spec.port };
  const scheduler = spec.scheduler ?? 'wlc';
  const names = schedulerFlagNames(scheduler);
  const flags = names.filter((n) => spec.schedulerFlags?.includes(n));
  const out: Record<string, unknown> = { ...key, family, scheduler };
  if (spec.persistence) {
    out.persistence = {
      timeout: spec.persistence.timeout,
      netmask: spec.persistence.netmask ?? (family === 'inet' ? '255.255.255.255' : 128),
    };
  }
  if (spec.onePacket) out.onePacket = true;
  if (flags.length > 0) out.schedulerFlags = flags as SchedulerFlag[];
  if (spec.persistenceEngine) out.persistenceEngine = 'sip';
  out.stats = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
  out.rates = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  return out as unknown as Service;
}

/** A random valid destination spec for a service. */
export function genDestinationSpec(g: Gen, serviceKey: ServiceKey): DestinationSpec {
  const forwarding = g.pick([undefined, 'route', 'masq', 'tunnel'] as const);
  const fwd = forwarding ?? 'route';
  const svcFamily = serviceKeyFamily(serviceKey);
  const family: Family = fwd === 'tunnel' && g.bool(0.3) ? (svcFamily === 'inet' ? 'inet6' : 'inet') : svcFamily;
  const spec: Record<string, unknown> = { address: g.address(family) };
  if (forwarding !== undefined) spec.forwarding = forwarding;
  if ('fwmark' in serviceKey || fwd === 'masq') {
    if (g.bool(0.7)) spec.port = g.int(0, 65535);
  } else if (g.bool(0.3)) {
    spec.port = serviceKey.port;
  }
  if (g.bool(0.7)) spec.weight = g.int(0, WEIGHT_MAX);
  if (g.bool(0.5)) {
    const upper = g.int(0, U32_MAX);
    spec.upperThreshold = upper;
    if (g.bool()) spec.lowerThreshold = g.int(0, upper);
  }
  if (fwd === 'tunnel' && g.bool(0.7)) {
    const type = g.pick(['ipip', 'gue', 'gre'] as const);
    const t: Record<string, unknown> = { type };
    if (type === 'gue') t.port = g.int(1, 65535);
    if (type === 'gue' && g.bool()) t.checksum = g.pick(['nocsum', 'csum', 'remcsum']);
    if (type === 'gre' && g.bool()) t.checksum = g.pick(['nocsum', 'csum']);
    spec.tunnel = t as unknown as TunnelOptions;
  }
  return spec as unknown as DestinationSpec;
}

/** What the kernel holds for a destination spec, as `decodeDestinations` should present it. */
export function expectedDestination(spec: DestinationSpec, serviceKey: ServiceKey): Destination {
  const forwarding = spec.forwarding ?? 'route';
  const out: Record<string, unknown> = {
    address: canonicalAddress(spec.address),
    family: spec.address.includes(':') ? 'inet6' : 'inet',
    port: spec.port ?? ('fwmark' in serviceKey ? 0 : serviceKey.port),
    forwarding,
    weight: spec.weight ?? 1,
    upperThreshold: spec.upperThreshold ?? 0,
    lowerThreshold: spec.lowerThreshold ?? 0,
  };
  if (forwarding === 'tunnel') {
    out.tunnel = {
      type: spec.tunnel?.type ?? 'ipip',
      port: spec.tunnel?.port ?? 0,
      checksum: spec.tunnel?.checksum ?? 'nocsum',
    };
  }
  out.activeConnections = 0;
  out.inactiveConnections = 0;
  out.persistentConnections = 0;
  out.stats = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
  out.rates = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  return out as unknown as Destination;
}
