/**
 * The text `ipvsadm -L` prints, byte for byte as ipvsadm 1.31 does: the table
 * with its `--stats`, `--rate`, `--exact`, `--thresholds`, `--persistent-conn`
 * and `--tun-info` variants, `--timeout` and `--daemon`.
 *
 * Column widths, the K/M/G/T scaling of counters, the sort order (including
 * its wrap-around quirks) and the truncation of long IPv4 names follow
 * ipvsadm.c and libipvs.c of ipvsadm 1.31; the unit tests hold them to output
 * captured from the real program.
 *
 * @module
 */

import type { Daemon, Destination, Info, ServiceWithDestinations, Timeouts } from '../types.js';
import { type NameResolver, addrPortName, canonicalAddress, compareDestinations, compareServices, defaultNameResolver, fwmarkText, glibcMergeSort, isFwmark, schedFlagNames, serviceFamily } from './common.js';
import { numberToIPv4 } from '../address.js';
import { netmaskValue, schedFlagBits } from '../convert.js';

export type { NameResolver } from './common.js';

/** Which `ipvsadm -L` variant to print. Flags combine as in ipvsadm (the first of stats, rate, thresholds, persistentConn, tunInfo wins). */
export interface ListingOptions {
  /** `-n`: numeric addresses and ports. Default `true`; `false` looks names up through {@link ListingOptions.names}. */
  numeric?: boolean;
  /** Name lookups for `numeric: false`; default: ports from `/etc/services`, hosts stay numeric (the CLI passes a resolver that asks the C library). */
  names?: NameResolver;
  /** `--stats`: connection, packet and byte counters. */
  stats?: boolean;
  /** `--rate`: rate estimates. */
  rate?: boolean;
  /** `--exact`: counters in full instead of K/M/G/T. */
  exact?: boolean;
  /** `--thresholds`: upper and lower connection thresholds. */
  thresholds?: boolean;
  /** `--persistent-conn`: persistence templates per real server. */
  persistentConn?: boolean;
  /** `--tun-info`: tunnel type, port and checksum mode. */
  tunInfo?: boolean;
  /** `--nosort` when `false`: keep the given order. Default `true` (sorted as ipvsadm sorts). */
  sort?: boolean;
}

type Format = Required<Omit<ListingOptions, 'names' | 'numeric'>> & { names: NameResolver | undefined };

function resolveFormat(options: ListingOptions): Format {
  return {
    stats: options.stats ?? false,
    rate: options.rate ?? false,
    exact: options.exact ?? false,
    thresholds: options.thresholds ?? false,
    persistentConn: options.persistentConn ?? false,
    tunInfo: options.tunInfo ?? false,
    sort: options.sort ?? true,
    names: options.numeric === false ? (options.names ?? defaultNameResolver) : undefined,
  };
}

/** C's `%-Ns`. */
function left(text: string, width: number): string {
  return text.padEnd(width);
}

/** C's `%Ns`. */
function right(text: string, width: number): string {
  return text.padStart(width);
}

function toBig(n: bigint | number): bigint {
  return typeof n === 'bigint' ? n : BigInt(Math.trunc(n));
}

/**
 * ipvsadm's `print_largenum`: nine columns; with `exact`, the full number and
 * at least one leading space; without, numbers from 100 million on are
 * divided down and suffixed K, M, G or T.
 */
export function formatLargeNumber(value: bigint | number, exact: boolean): string {
  const i = toBig(value);
  if (exact) {
    const s = i.toString();
    return right(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100_000_000n) return right(i.toString(), 9);
  if (i < 1_000_000_000n) return right((i / 1_000n).toString(), 8) + 'K';
  if (i < 100_000_000_000n) return right((i / 1_000_000n).toString(), 8) + 'M';
  if (i < 100_000_000_000_000n) return right((i / 1_000_000_000n).toString(), 8) + 'G';
  return right((i / 1_000_000_000_000n).toString(), 8) + 'T';
}

function title(f: Format): string {
  const head = left('Prot LocalAddress:Port', 33);
  if (f.stats)
    return `${head} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((s) => right(s, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (f.rate)
    return `${head} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((s) => right(s, 8)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (f.thresholds)
    return `${head} ${['Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn'].map((s) => left(s, 10)).join(' ')}\n  -> RemoteAddress:Port\n`;
  if (f.persistentConn)
    return `${head} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  if (f.tunInfo)
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
    );
  return (
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
  );
}

const PROTOCOL_NAME = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;

/** The service column: `TCP  10.0.0.1:80`, `FWM  1`, `FWM  2 IPv6`. */
function serviceName(svc: ServiceWithDestinations, f: Format): string {
  const family = serviceFamily(svc);
  if (isFwmark(svc)) return `FWM  ${fwmarkText(svc.fwmark)}${family === 'inet6' ? ' IPv6' : ''}`;
  const name = `${PROTOCOL_NAME[svc.protocol].padEnd(4)} ${addrPortName(svc.address, family, svc.port, svc.protocol, f.names)}`;
  // ipvsadm cuts IPv4 service names at 33 bytes (only reachable with host names).
  return family === 'inet6' ? name : name.slice(0, 33);
}

const FORWARD_NAME = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' } as const;
const CSUM_SHORT = { nocsum: '-c', csum: '+c', remcsum: 'r+c' } as const;

/** ipvsadm's `fwd_tun_info`: `ipip`, `gue:PORT:±c`, `gre:±c`, or `n/a`. */
function tunnelInfo(d: Destination): string {
  if (d.forwarding !== 'tunnel') return 'n/a';
  const t = d.tunnel ?? { type: 'ipip', port: 0, checksum: 'nocsum' };
  if (t.type === 'ipip') return 'ipip';
  if (t.type === 'gue') return `gue:${t.port}:${CSUM_SHORT[t.checksum]}`;
  return `gre:${CSUM_SHORT[t.checksum]}`;
}

function serviceLine(svc: ServiceWithDestinations, f: Format): string {
  const name = serviceName(svc, f);
  if (f.stats) {
    const s = svc.stats;
    return left(name, 33) + [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes].map((v) => formatLargeNumber(v, f.exact)).join('') + '\n';
  }
  if (f.rate) {
    const r = svc.rates;
    return left(name, 33) + [r.cps, r.inPps, r.outPps, r.inBps, r.outBps].map((v) => formatLargeNumber(v, f.exact)).join('') + '\n';
  }
  let line = `${name} ${svc.scheduler}`;
  const flags = schedFlagBits(svc.schedulerFlags);
  if (flags) line += ` (${schedFlagNames(svc.scheduler, flags).join(',')})`;
  if (svc.persistence) {
    line += ` persistent ${svc.persistence.timeout}`;
    const family = serviceFamily(svc);
    const mask = netmaskValue(family, svc.persistence.netmask);
    if (family === 'inet' && mask !== 0xffffffff) line += ` mask ${numberToIPv4(mask)}`;
    if (family === 'inet6' && mask !== 128) line += ` mask ${mask}`;
    if (svc.persistenceEngine) line += ` pe ${svc.persistenceEngine}`;
  }
  if (svc.onePacket) line += ' ops';
  return line + '\n';
}

function destinationLine(svc: ServiceWithDestinations, d: Destination, f: Format): string {
  const protocol = isFwmark(svc) ? undefined : svc.protocol;
  let name = addrPortName(d.address, d.family, d.port, protocol, f.names);
  if (d.family !== 'inet6') name = name.slice(0, 28);
  const head = `  -> ${left(name, 28)}`;
  if (f.stats) {
    const s = d.stats;
    return head + [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes].map((v) => formatLargeNumber(v, f.exact)).join('') + '\n';
  }
  if (f.rate) {
    // ipvsadm prints the per-server cps and pps with a plain %8llu, never scaled.
    const r = d.rates;
    return (
      head +
      [r.cps, r.inPps, r.outPps].map((v) => ' ' + right(toBig(v).toString(), 8)).join('') +
      formatLargeNumber(r.inBps, f.exact) +
      formatLargeNumber(r.outBps, f.exact) +
      '\n'
    );
  }
  if (f.thresholds)
    return `${head} ${[d.upperThreshold, d.lowerThreshold, d.activeConnections, d.inactiveConnections].map((v) => left(String(v), 10)).join(' ')}\n`;
  if (f.persistentConn)
    return `${head} ${left(String(d.weight), 9)} ${left(String(d.persistentConnections), 11)} ${left(String(d.activeConnections), 10)} ${left(String(d.inactiveConnections), 10)}\n`;
  const fwd = left(FORWARD_NAME[d.forwarding], 7);
  const tail = `${left(String(d.weight), 6)} ${left(String(d.activeConnections), 10)} ${left(String(d.inactiveConnections), 10)}\n`;
  if (f.tunInfo) return `${head} ${fwd} ${left(tunnelInfo(d), 13)} ${tail}`;
  return `${head} ${fwd} ${tail}`;
}

function serviceEntry(svc: ServiceWithDestinations, f: Format): string {
  const dests = f.sort ? glibcMergeSort(svc.destinations, compareDestinations) : svc.destinations;
  return serviceLine(svc, f) + dests.map((d) => destinationLine(svc, d, f)).join('');
}

/**
 * What `ipvsadm -L` prints for the whole table: the version line, the title
 * and every service with its real servers.
 *
 * Give services and destinations in the kernel's order (as a dump returns
 * them): ipvsadm's sort is not a total order, so the order it starts from can
 * show through. `ipvsadm -Ln` is `formatListing(info, services)`;
 * `ipvsadm -Ln --stats --exact` is `formatListing(info, services, { stats: true, exact: true })`.
 *
 * @param info - IPVS version and connection table size, for the first line.
 * @param services - The table, each service with its destinations.
 * @param options - The listing variant; default the plain numeric listing.
 * @returns The text, each line ending in `\n`.
 */
export function formatListing(
  info: Info,
  services: readonly ServiceWithDestinations[],
  options: ListingOptions = {},
): string {
  const f = resolveFormat(options);
  const sorted = f.sort ? glibcMergeSort(services, compareServices) : services;
  return (
    `IP Virtual Server version ${info.version} (size=${info.connectionTableSize})\n` +
    title(f) +
    sorted.map((s) => serviceEntry(s, f)).join('')
  );
}

/**
 * What `ipvsadm -L -t|-u|--sctp-service|-f SERVICE` prints for one service:
 * the title and the service, without the version line.
 *
 * @param service - The service with its destinations.
 * @param options - The listing variant.
 * @returns The text, each line ending in `\n`.
 */
export function formatServiceListing(service: ServiceWithDestinations, options: ListingOptions = {}): string {
  const f = resolveFormat(options);
  return title(f) + serviceEntry(service, f);
}

/**
 * What `ipvsadm -L --timeout` prints.
 *
 * @param timeouts - The connection timeouts in seconds.
 * @returns `Timeout (tcp tcpfin udp): 900 120 300\n` for the kernel defaults.
 */
export function formatTimeouts(timeouts: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${timeouts.tcp} ${timeouts.tcpFin} ${timeouts.udp}\n`;
}

/**
 * What `ipvsadm -L --daemon` prints: one line per running daemon, in the
 * order given (the kernel reports the master first), nothing when none runs.
 * Optional values print only when known and non-zero, as in ipvsadm.
 *
 * @param daemons - The running synchronisation daemons.
 * @returns Lines such as `master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n`.
 */
export function formatDaemons(daemons: readonly Daemon[]): string {
  return daemons
    .map((d) => {
      let line = `${d.state} sync daemon (mcast=${d.interface}, syncid=${d.syncId}`;
      if (d.maxLength) line += `, maxlen=${d.maxLength}`;
      if (d.group) line += `, group=${canonicalGroup(d.group)}`;
      if (d.port) line += `, port=${d.port}`;
      if (d.ttl) line += `, ttl=${d.ttl}`;
      return line + ')\n';
    })
    .join('');
}

function canonicalGroup(group: string): string {
  try {
    return canonicalAddress(group);
  } catch {
    return group;
  }
}
