// Helpers for the api-*.test.ts kernel tests: ipvsadm as an independent reader of
// the kernel's IPVS table (its text parsed into ipvs-ts's public shapes), the
// same table as ipvs-ts reads it in the same shapes, and the small network setup
// every file needs (destinations must be routable in the namespace).
//
// The parsers know ipvsadm 1.31's formats (see test/unit/fixtures/ipvsadm/out):
//   -Sn                     one -A/-a rule per line
//   -Ln --thresholds        Uthreshold Lthreshold ActiveConn InActConn
//   -Ln --tun-info          Forward TunnelInfo Weight ActiveConn InActConn
//   -Ln --persistent-conn   Weight PersistConn ActiveConn InActConn
//   -Ln --stats --exact     Conns InPkts OutPkts InBytes OutBytes
//   -L --daemon, -L --timeout

import { expect } from 'vitest';

import type { Ipvs } from '../../lib/index.js';
import type {
  Daemon,
  Destination,
  Family,
  Forwarding,
  SchedulerFlag,
  Service,
  ServiceKey,
  Stats,
  Timeouts,
} from '../../lib/index.js';
import { ok, type FreshNetns } from './support.js';

// ---------------------------------------------------------------------------
// Network setup

/**
 * Makes the usual destination ranges routable inside `ns`: lo up; a dummy link
 * `dummy0` holding 192.168.0.1/16 and 2001:db8::fffe/32, with routes for
 * 10.0.0.0/8, 100.64.0.0/16, 172.16.0.0/12 and fd00::/8 through it. One
 * `ip -batch` (process starts are slow in User-Mode Linux).
 */
export function routeDestinations(ns: FreshNetns): void {
  const script = [
    'link set lo up',
    'link add dummy0 type dummy',
    'link set dummy0 up',
    'address add 192.168.0.1/16 dev dummy0',
    'route add 10.0.0.0/8 dev dummy0',
    'route add 100.64.0.0/16 dev dummy0',
    'route add 172.16.0.0/12 dev dummy0',
    'address add 2001:db8::fffe/32 dev dummy0 nodad',
    'route add fd00::/8 dev dummy0',
  ].join('\n');
  ok(ns.exec('ip', ['-batch', '-'], { input: `${script}\n` }));
}

// ---------------------------------------------------------------------------
// Shapes compared across readers

/** A service's settings without counters, as both readers can tell them. */
export type ServiceSettings = Service extends unknown ? (Service extends infer S ? (S extends unknown ? Omit<S, 'stats' | 'rates'> : never) : never) : never;

/** A destination's settings without counters, as both readers can tell them. */
export type DestinationSettings = Pick<
  Destination,
  'address' | 'family' | 'port' | 'forwarding' | 'weight' | 'upperThreshold' | 'lowerThreshold' | 'tunnel'
>;

/** One service of a table and its destinations, both without counters. */
export interface TableEntry {
  id: string;
  service: ServiceSettings;
  destinations: DestinationSettings[];
}

/** `10.0.0.2:80`, `[2001:db8::2]:80` (addresses as the kernel prints them: canonical). */
export const destId = (d: { address: string; port: number }): string =>
  d.address.includes(':') ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;

/** `tcp 10.0.0.1:80`, `udp [2001:db8::1]:53`, `fwmark 7`, `fwmark 7 inet6`: ipvs-ts's wording of a service. */
export function serviceKeyId(k: ServiceKey): string {
  if ('fwmark' in k) return k.family === 'inet6' ? `fwmark ${k.fwmark} inet6` : `fwmark ${k.fwmark}`;
  return `${k.protocol} ${k.address.includes(':') ? `[${k.address}]` : k.address}:${k.port}`;
}
const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byDest = (a: { address: string; port: number }, b: { address: string; port: number }): number => {
  const x = destId(a);
  const y = destId(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Settings of a service read by ipvs-ts (stats and rates dropped). */
export function serviceSettings(s: Service): ServiceSettings {
  const { stats: _s, rates: _r, destinations: _d, ...rest } = s as Service & { destinations?: unknown };
  return rest;
}

/** Settings of a destination read by ipvs-ts (counters dropped). */
export function destinationSettings(d: Destination): DestinationSettings {
  const out: DestinationSettings = {
    address: d.address,
    family: d.family,
    port: d.port,
    forwarding: d.forwarding,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
  };
  if (d.tunnel) out.tunnel = d.tunnel;
  return out;
}

/** The whole table as ipvs-ts's snapshot() reads it, sorted, without counters. */
export async function tableByIpvs(ipvs: Ipvs): Promise<TableEntry[]> {
  const snap = await ipvs.snapshot();
  return snap
    .map((s) => ({
      id: serviceKeyId(s),
      service: serviceSettings(s),
      destinations: s.destinations.map(destinationSettings).sort(byDest),
    }))
    .sort(byId);
}

/** The whole table as ipvs-ts's listServices() + listDestinations() read it. */
export async function tableByIpvsCalls(ipvs: Ipvs): Promise<TableEntry[]> {
  const services = await ipvs.listServices();
  const out: TableEntry[] = [];
  for (const s of services) {
    const dests = await ipvs.listDestinations(s);
    out.push({ id: serviceKeyId(s), service: serviceSettings(s), destinations: dests.map(destinationSettings).sort(byDest) });
  }
  return out.sort(byId);
}

// ---------------------------------------------------------------------------
// ipvsadm text → public shapes

const familyOf = (address: string): Family => (address.includes(':') ? 'inet6' : 'inet');

/** `10.0.0.1:80` or `[2001:db8::1]:80` → address and port. */
export function splitHostPort(text: string): { address: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new Error(`ipvsadm printed an unexpected address:port ${JSON.stringify(text)}`);
  return { address: m[1]!, port: Number(m[2]) };
}

/** ipvsadm prints fwmarks with %d: 4294967295 reads "-1". */
const fwmarkOf = (text: string): number => Number(text) >>> 0;

const FLAG_ORDER: Record<string, number> = {
  'sh-fallback': 1,
  'mh-fallback': 1,
  'flag-1': 1,
  'sh-port': 2,
  'mh-port': 2,
  'flag-2': 2,
  'flag-3': 3,
};

function sortFlags(flags: string[]): SchedulerFlag[] {
  return [...flags].sort((a, b) => (FLAG_ORDER[a] ?? 9) - (FLAG_ORDER[b] ?? 9)) as SchedulerFlag[];
}

/** Reads a service option list (`-t addr:port`, `-f N [-6]`, …) from tokens at i. */
function readServiceKey(tokens: string[], start: number): { key: ServiceKey & { family: Family }; next: number } {
  const opt = tokens[start];
  const arg = tokens[start + 1] ?? '';
  const proto = opt === '-t' ? 'tcp' : opt === '-u' ? 'udp' : opt === '--sctp-service' ? 'sctp' : undefined;
  if (proto) {
    const { address, port } = splitHostPort(arg);
    return { key: { protocol: proto, address, port, family: familyOf(address) }, next: start + 2 };
  }
  if (opt === '-f') {
    const inet6 = tokens[start + 2] === '-6';
    return { key: { fwmark: fwmarkOf(arg), family: inet6 ? 'inet6' : 'inet' }, next: start + (inet6 ? 3 : 2) };
  }
  throw new Error(`ipvsadm -Sn: unexpected service option ${JSON.stringify(opt)} in ${tokens.join(' ')}`);
}

function orderedKey(key: ServiceKey & { family: Family }): ServiceSettings {
  // Same key order as ipvs-ts (protocol, address, port | fwmark, family; then family).
  if ('fwmark' in key) return { fwmark: key.fwmark, family: key.family, scheduler: '' };
  return { protocol: key.protocol, address: key.address, port: key.port, family: key.family, scheduler: '' };
}

/** A `-Sn` rule set, parsed into services (sorted) with destinations (without thresholds: -S has none). */
export function parseSave(text: string): TableEntry[] {
  const entries = new Map<string, TableEntry>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const t = line.trim().split(/\s+/);
    const cmd = t[0];
    const { key, next } = readServiceKey(t, 1);
    const id = serviceKeyId(key);
    if (cmd === '-A') {
      const svc: ServiceSettings = orderedKey(key);
      let scheduler = '';
      for (let i = next; i < t.length; i++) {
        const o = t[i];
        if (o === '-s') scheduler = t[++i]!;
        else if (o === '-p') {
          const timeout = Number(t[++i]);
          svc.persistence = { timeout, netmask: key.family === 'inet6' ? 128 : '255.255.255.255' };
        } else if (o === '-M') {
          const m = t[++i]!;
          if (!svc.persistence) throw new Error(`ipvsadm -Sn: -M without -p in ${line}`);
          svc.persistence.netmask = key.family === 'inet6' ? Number(m) : m;
        } else if (o === '-o') svc.onePacket = true;
        else if (o === '-b') svc.schedulerFlags = sortFlags(t[++i]!.split(','));
        else if (o === '--pe') svc.persistenceEngine = t[++i] as 'sip';
        else throw new Error(`ipvsadm -Sn: unexpected service option ${JSON.stringify(o)} in ${line}`);
      }
      svc.scheduler = scheduler;
      // Field order as ipvs-ts builds it, so printed diffs line up.
      const { persistence, onePacket, schedulerFlags, persistenceEngine, ...base } = svc;
      const ordered: ServiceSettings = { ...base, scheduler } as ServiceSettings;
      if (persistence) ordered.persistence = persistence;
      if (onePacket) ordered.onePacket = onePacket;
      if (schedulerFlags) ordered.schedulerFlags = schedulerFlags;
      if (persistenceEngine) ordered.persistenceEngine = persistenceEngine;
      if (entries.has(id)) throw new Error(`ipvsadm -Sn: service ${id} twice`);
      entries.set(id, { id, service: ordered, destinations: [] });
    } else if (cmd === '-a') {
      const entry = entries.get(id);
      if (!entry) throw new Error(`ipvsadm -Sn: destination before its service: ${line}`);
      let hp: { address: string; port: number } | undefined;
      let forwarding: Forwarding | undefined;
      let weight: number | undefined;
      let tunType: 'ipip' | 'gue' | 'gre' | undefined;
      let tunPort = 0;
      let checksum: 'nocsum' | 'csum' | 'remcsum' = 'nocsum';
      for (let i = next; i < t.length; i++) {
        const o = t[i];
        if (o === '-r') hp = splitHostPort(t[++i]!);
        else if (o === '-g') forwarding = 'route';
        else if (o === '-m') forwarding = 'masq';
        else if (o === '-i') forwarding = 'tunnel';
        else if (o === '-w') weight = Number(t[++i]);
        else if (o === '--tun-type') tunType = t[++i] as typeof tunType;
        else if (o === '--tun-port') tunPort = Number(t[++i]);
        else if (o === '--tun-nocsum') checksum = 'nocsum';
        else if (o === '--tun-csum') checksum = 'csum';
        else if (o === '--tun-remcsum') checksum = 'remcsum';
        else throw new Error(`ipvsadm -Sn: unexpected destination option ${JSON.stringify(o)} in ${line}`);
      }
      if (!hp || !forwarding || weight === undefined) throw new Error(`ipvsadm -Sn: incomplete destination ${line}`);
      const d: DestinationSettings = {
        address: hp.address,
        family: familyOf(hp.address),
        port: hp.port,
        forwarding,
        weight,
        // -S prints no thresholds: filled from --thresholds by tableByIpvsadm().
        upperThreshold: 0,
        lowerThreshold: 0,
      };
      if (forwarding === 'tunnel') {
        if (!tunType) throw new Error(`ipvsadm -Sn: tunnel destination without --tun-type: ${line}`);
        d.tunnel = { type: tunType, port: tunPort, checksum };
      }
      entry.destinations.push(d);
    } else {
      throw new Error(`ipvsadm -Sn: unexpected line ${JSON.stringify(line)}`);
    }
  }
  const out = [...entries.values()].sort(byId);
  for (const e of out) e.destinations.sort(byDest);
  return out;
}

/** The service part of an `-Ln` header line, parsed into settings. */
export interface ListedService {
  id: string;
  service: ServiceSettings;
}

/**
 * Splits an `-Ln` service line into its key and the words after it: `TCP
 * 10.0.0.1:80 wlc`, `FWM  2 IPv6 wlc persistent 120 mask 64`, `UDP
 * 10.0.0.2:53 sh (sh-fallback,sh-port) ops`, `UDP  10.0.0.4:5060 rr persistent
 * 60 pe sip`; in the --stats layout the words are the counters.
 */
function parseServiceHeader(line: string): { key: ServiceKey & { family: Family }; rest: string[] } {
  const t = line.trim().split(/\s+/);
  const prot = t[0];
  if (prot === 'FWM') {
    const inet6 = t[2] === 'IPv6';
    return { key: { fwmark: fwmarkOf(t[1]!), family: inet6 ? 'inet6' : 'inet' }, rest: t.slice(inet6 ? 3 : 2) };
  }
  const protocol = prot === 'TCP' ? 'tcp' : prot === 'UDP' ? 'udp' : prot === 'SCTP' ? 'sctp' : undefined;
  if (!protocol) throw new Error(`ipvsadm -Ln: unexpected service line ${JSON.stringify(line)}`);
  const { address, port } = splitHostPort(t[1]!);
  return { key: { protocol, address, port, family: familyOf(address) }, rest: t.slice(2) };
}

function headerSettings(key: ServiceKey & { family: Family }, rest: string[]): ServiceSettings {
  const svc = orderedKey(key);
  const scheduler = rest[0]!;
  svc.scheduler = scheduler;
  for (let i = 1; i < rest.length; i++) {
    const w = rest[i]!;
    if (w.startsWith('(')) svc.schedulerFlags = sortFlags(w.slice(1, -1).split(','));
    else if (w === 'ops') svc.onePacket = true;
    else if (w === 'persistent') {
      svc.persistence = { timeout: Number(rest[++i]), netmask: key.family === 'inet6' ? 128 : '255.255.255.255' };
    } else if (w === 'mask') {
      const m = rest[++i]!;
      svc.persistence!.netmask = key.family === 'inet6' ? Number(m) : m;
    } else if (w === 'pe') svc.persistenceEngine = rest[++i] as 'sip';
    else throw new Error(`ipvsadm -Ln: unexpected service word ${JSON.stringify(w)} in ${rest.join(' ')}`);
  }
  return svc;
}

/** An `-Ln` listing of any layout: per service, its header words and per destination the columns. */
export interface Listing {
  id: string;
  /** Settings from the header (only meaningful in layouts that print the scheduler). */
  header: string[];
  key: ServiceKey & { family: Family };
  /** Destination id (`addr:port`) → the columns after it. */
  destinations: Map<string, string[]>;
}

/** Parses any `-Ln …` listing into services and destination columns. */
export function parseListing(text: string): Map<string, Listing> {
  const out = new Map<string, Listing>();
  let current: Listing | undefined;
  for (const line of text.split('\n')) {
    if (/^(TCP|UDP|SCTP|FWM)\s/.test(line)) {
      const { key, rest } = parseServiceHeader(line);
      current = { id: serviceKeyId(key), header: rest, key, destinations: new Map() };
      if (out.has(current.id)) throw new Error(`ipvsadm -Ln: service ${current.id} twice`);
      out.set(current.id, current);
    } else if (/^\s+->\s/.test(line) && !/RemoteAddress:Port/.test(line)) {
      if (!current) throw new Error(`ipvsadm -Ln: destination before a service: ${line}`);
      const t = line.trim().split(/\s+/).slice(1);
      const hp = splitHostPort(t[0]!);
      current.destinations.set(destId(hp), t.slice(1));
    }
  }
  return out;
}

/** Services' settings as `ipvsadm -Ln` prints them in its header lines. */
export function parseListedServices(text: string): Map<string, ServiceSettings> {
  const out = new Map<string, ServiceSettings>();
  for (const [id, l] of parseListing(text)) out.set(id, headerSettings(l.key, l.header));
  return out;
}

const FORWARD_WORD: Record<string, Forwarding | 'local'> = { Route: 'route', Masq: 'masq', Tunnel: 'tunnel', Local: 'local' };

/** `gue:6080:+c`, `gue:6081:r+c`, `gre:-c`, `ipip`, `n/a` → tunnel settings. */
export function parseTunnelInfo(text: string): DestinationSettings['tunnel'] {
  if (text === 'n/a') return undefined;
  const parts = text.split(':');
  const type = parts[0] as 'ipip' | 'gue' | 'gre';
  const csumWord = parts[parts.length - 1]!;
  const checksum = csumWord === '+c' ? 'csum' : csumWord === 'r+c' ? 'remcsum' : 'nocsum';
  if (type === 'ipip') return { type, port: 0, checksum: 'nocsum' };
  if (type === 'gre') return { type, port: 0, checksum };
  if (type === 'gue') return { type, port: Number(parts[1]), checksum };
  throw new Error(`ipvsadm --tun-info: unexpected tunnel info ${JSON.stringify(text)}`);
}

/**
 * The whole table as ipvsadm reads it, in ipvs-ts's shapes: rules from `-Sn`,
 * thresholds from `-Ln --thresholds`; and checks that `-Ln` (headers),
 * `-Ln --tun-info` (forwarding, tunnel, weight) tell the same.
 */
export function tableByIpvsadm(ns: FreshNetns): TableEntry[] {
  const table = parseSave(ok(ns.ipvsadm('-Sn')));
  const thresholds = parseListing(ok(ns.ipvsadm('-Ln', '--thresholds')));
  const tunInfo = parseListing(ok(ns.ipvsadm('-Ln', '--tun-info')));
  const headers = parseListedServices(ok(ns.ipvsadm('-Ln')));
  expect([...thresholds.keys()].sort()).toEqual(table.map((e) => e.id));
  expect([...tunInfo.keys()].sort()).toEqual(table.map((e) => e.id));
  for (const e of table) {
    // -Ln headers say what -Sn says about the service.
    expect(headers.get(e.id), `ipvsadm -Ln header of ${e.id}`).toEqual(e.service);
    const th = thresholds.get(e.id)!;
    const ti = tunInfo.get(e.id)!;
    expect([...th.destinations.keys()].sort()).toEqual(e.destinations.map(destId).sort());
    for (const d of e.destinations) {
      const cols = th.destinations.get(destId(d))!;
      d.upperThreshold = Number(cols[0]);
      d.lowerThreshold = Number(cols[1]);
      const [fwd, info, weight] = ti.destinations.get(destId(d))!;
      expect({ forwarding: FORWARD_WORD[fwd!], tunnel: parseTunnelInfo(info!), weight: Number(weight) }, `--tun-info of ${destId(d)} in ${e.id}`).toEqual({
        forwarding: d.forwarding,
        tunnel: d.tunnel,
        weight: d.weight,
      });
    }
  }
  return table;
}

/** Connection counts per destination from `-Ln --persistent-conn`: id → [weight, persist, active, inactive]. */
export function connectionCounts(ns: FreshNetns): Map<string, Map<string, { weight: number; persistent: number; active: number; inactive: number }>> {
  const out = new Map<string, Map<string, { weight: number; persistent: number; active: number; inactive: number }>>();
  for (const [id, l] of parseListing(ok(ns.ipvsadm('-Ln', '--persistent-conn')))) {
    const m = new Map<string, { weight: number; persistent: number; active: number; inactive: number }>();
    for (const [d, c] of l.destinations) m.set(d, { weight: Number(c[0]), persistent: Number(c[1]), active: Number(c[2]), inactive: Number(c[3]) });
    out.set(id, m);
  }
  return out;
}

/** Exact counters from `-Ln --stats --exact`: per service its stats and each destination's. */
export interface StatsListing {
  stats: Stats;
  destinations: Map<string, Stats>;
}

const statsOf = (cols: string[]): Stats => {
  const [conns, inPkts, outPkts, inBytes, outBytes] = cols.map((c) => BigInt(c));
  return { conns: conns!, inPkts: inPkts!, outPkts: outPkts!, inBytes: inBytes!, outBytes: outBytes! };
};

export function statsByIpvsadm(ns: FreshNetns): Map<string, StatsListing> {
  const out = new Map<string, StatsListing>();
  for (const [id, l] of parseListing(ok(ns.ipvsadm('-Ln', '--stats', '--exact')))) {
    const destinations = new Map<string, Stats>();
    for (const [d, c] of l.destinations) destinations.set(d, statsOf(c));
    out.set(id, { stats: statsOf(l.header), destinations });
  }
  return out;
}

/** The same counters as ipvs-ts's snapshot() reads them. */
export async function statsByIpvs(ipvs: Ipvs): Promise<Map<string, StatsListing>> {
  const out = new Map<string, StatsListing>();
  for (const s of await ipvs.snapshot()) {
    out.set(serviceKeyId(s), { stats: s.stats, destinations: new Map(s.destinations.map((d) => [destId(d), d.stats])) });
  }
  return out;
}

/** `ipvsadm -L --timeout`: "Timeout (tcp tcpfin udp): 900 120 300". */
export function timeoutsByIpvsadm(ns: FreshNetns): Timeouts {
  const text = ok(ns.ipvsadm('-L', '--timeout'));
  const m = /^Timeout \(tcp tcpfin udp\): (\d+) (\d+) (\d+)$/m.exec(text);
  if (!m) throw new Error(`ipvsadm -L --timeout printed ${JSON.stringify(text)}`);
  return { tcp: Number(m[1]), tcpFin: Number(m[2]), udp: Number(m[3]) };
}

/**
 * `ipvsadm -L --daemon`: "master sync daemon (mcast=veth0, syncid=5,
 * maxlen=1400, group=239.1.2.3, port=9000, ttl=2)" per line.
 */
export function daemonsByIpvsadm(ns: FreshNetns): Daemon[] {
  const out: Daemon[] = [];
  for (const line of ok(ns.ipvsadm('-L', '--daemon')).split('\n')) {
    if (!line.trim()) continue;
    const m = /^(master|backup) sync daemon \((.*)\)$/.exec(line.trim());
    if (!m) throw new Error(`ipvsadm -L --daemon printed ${JSON.stringify(line)}`);
    const f = new Map(m[2]!.split(', ').map((kv) => kv.split('=') as [string, string]));
    const d: Daemon = { state: m[1] as 'master' | 'backup', interface: f.get('mcast')!, syncId: Number(f.get('syncid')) };
    if (f.has('maxlen')) d.maxLength = Number(f.get('maxlen'));
    if (f.has('group')) d.group = f.get('group')!;
    if (f.has('port')) d.port = Number(f.get('port'));
    if (f.has('ttl')) d.ttl = Number(f.get('ttl'));
    out.push(d);
  }
  return out;
}

/** `ipvsadm -Sn` as text: the table's fingerprint for "nothing changed" checks. */
export function saved(ns: FreshNetns): string {
  return ok(ns.ipvsadm('-Sn'));
}
