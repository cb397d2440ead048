/**
 * The rules format of `ipvsadm -S` / `ipvsadm -R`: one ipvsadm command line
 * per rule, `-A` for a virtual service and `-a` for a real server.
 *
 * {@link parseIpvsadmRules} reads what `ipvsadm -R` reads, with ipvsadm
 * 1.31's option syntax, defaults and checks (and its error wording);
 * {@link formatIpvsadmRules} writes what `ipvsadm -S` writes, byte for byte.
 *
 * @module
 */

import type {
  DestinationSpec,
  Family,
  Forwarding,
  Protocol,
  ServiceKey,
  ServiceSpec,
  ServiceWithDestinations,
  TunnelOptions,
} from '../types.js';
import { type NameResolver, addrPortName, canonicalSchedFlags, compareDestinations, compareServices, defaultNameResolver, fwmarkText, glibcMergeSort, isFwmark, schedFlagNames, serviceFamily } from './common.js';
import { numberToIPv4 } from '../address.js';
import { netmaskValue, schedFlagBits } from '../convert.js';
import {
  IpvsadmOptionError,
  type OptionColumn,
  type ParsedAddress,
  Popt,
  type PoptErrorText,
  type PoptItem,
  TUN_CSUM_BITS,
  checkCommandOptions,
  checkTunnelOptions,
  optionFail as fail,
  intOption,
  numberOption,
  parseNetmask,
  parseSchedFlags,
  parseServiceAddress,
  timeoutOption,
  tunnelOptions,
  tunnelTypeOption,
} from './options.js';

export type { NameResolver } from './common.js';

/** An `-A` line: a virtual service with every setting ipvsadm would send filled in. */
export interface ServiceRule {
  /** Discriminant. */
  kind: 'service';
  /** 1-based line number in the parsed text. */
  line: number;
  /** The line as written. */
  text: string;
  /** The service; `scheduler` is always set (ipvsadm's default `wlc`). */
  service: ServiceSpec & {
    /** The scheduler, `wlc` when the line names none. */
    scheduler: string;
  };
}

/** An `-a` line: a real server of a virtual service, with ipvsadm's defaults filled in. */
export interface DestinationRule {
  /** Discriminant. */
  kind: 'destination';
  /** 1-based line number in the parsed text. */
  line: number;
  /** The line as written. */
  text: string;
  /** The virtual service it belongs to, keyed exactly as the `-A` rule's service. */
  service: ServiceKey;
  /** The real server; port, forwarding, weight and thresholds are always set. */
  destination: DestinationSpec & {
    /** Real server port (the service's when the line gives none). */
    port: number;
    /** `-g` (the default), `-m` or `-i`. */
    forwarding: Forwarding;
    /** `-w`, default 1. */
    weight: number;
    /** `-x`, default 0. */
    upperThreshold: number;
    /** `-y`, default 0. */
    lowerThreshold: number;
  };
}

/** One rule of an `ipvsadm -S` text. */
export type ParsedRule = ServiceRule | DestinationRule;

/** A rule that ipvsadm would refuse; the message names the line: `line 3: unknown option '--foo'`. */
export class IpvsadmRulesError extends Error {
  /** 1-based line number. */
  readonly line: number;
  /** The offending line as written. */
  readonly text: string;
  /** What is wrong, in ipvsadm's words where it has some. */
  readonly reason: string;

  /**
   * @param line - 1-based line number.
   * @param text - The line as written.
   * @param reason - What is wrong.
   */
  constructor(line: number, text: string, reason: string) {
    super(`line ${line}: ${reason}`);
    this.name = 'IpvsadmRulesError';
    this.line = line;
    this.text = text;
    this.reason = reason;
  }
}

/** Options of {@link parseIpvsadmRules}. */
export interface ParseRulesOptions {
  /**
   * Port of a service name such as `http` (what `ipvsadm -S` without `-n`
   * prints). Default: `/etc/services`.
   */
  portByName?: (name: string, protocol: Protocol) => number | undefined;
  /**
   * IPv4 address of a host name. Default: none, so host names are refused
   * (name resolution would make parsing slow and depend on the network).
   */
  hostByName?: (name: string) => string | undefined;
}

// ---------------------------------------------------------------------------
// One rule line, read with ipvsadm's option table, popt and checks (options.ts)

/** What one command line set, before the checks that need all of it. */
interface Command {
  command: 'add-service' | 'add-server';
  seen: Set<OptionColumn>;
  protocol?: Protocol;
  svcFamily?: Family;
  address?: string;
  svcPort: number;
  fwmark?: number;
  scheduler?: string;
  persistent?: number;
  netmask?: string | number;
  onePacket: boolean;
  pe?: 'sip';
  schedFlagsArg?: string;
  dest?: ParsedAddress & { port: number };
  forwarding: Forwarding;
  weight: number;
  upper: number;
  lower: number;
  tunType: TunnelOptions['type'];
  tunPort?: number;
  tunFlags: number;
}

/** Splits one line into ipvsadm's argument words: blanks separate, `#` starts a comment, a word `ipvsadm` is dropped. */
function tokenize(line: string): string[] {
  const words: string[] = [];
  for (const w of line.split(/[ \t\r\n\f\v]+/)) {
    if (w === '') continue;
    if (w.startsWith('#')) break;
    // ipvsadm -R skips the program name wherever it appears.
    if (w === 'ipvsadm') continue;
    words.push(w);
  }
  return words;
}

type OptionUse = PoptItem & { kind: 'option' };

/** Our wording of popt's errors, naming the option as written. */
const POPT_WORDING: Record<PoptErrorText, (spelled: string) => string> = {
  'unknown option': (o) => `unknown option '${o}'`,
  'option does not take an argument': (o) => `option '${o}' takes no argument`,
  'missing argument': (o) => `option '${o}' requires an argument`,
};

/** All of a line's options before any is acted on: a popt error anywhere wins over a bad value. */
function readOptions(words: string[]): { uses: OptionUse[]; positionals: string[] } {
  const popt = new Popt(words);
  const uses: OptionUse[] = [];
  for (let item = popt.next(); item; item = popt.next()) {
    if (item.kind === 'error') fail(POPT_WORDING[item.text](item.spelled));
    uses.push(item);
  }
  return { uses, positionals: popt.leftovers };
}

const PROTOCOL_OF: Record<string, Protocol> = { 'tcp-service': 'tcp', 'udp-service': 'udp', 'sctp-service': 'sctp' };

/** One command line → its rule, with ipvsadm's checks in ipvsadm's order. */
function parseCommand(words: string[], options: ParseRulesOptions): Omit<ServiceRule, 'line' | 'text'> | Omit<DestinationRule, 'line' | 'text'> {
  const { uses, positionals } = readOptions(words);
  const first = uses[0];
  if (!first || !first.def.command) {
    fail(positionals.length && !first ? `unexpected argument ${positionals[0]}` : 'a rule must start with -A (add a service) or -a (add a real server)');
  }
  if (first.def.command !== 'add-service' && first.def.command !== 'add-server') {
    fail(`only -A and -a lines are rules; '${first.spelled}' (${first.def.command}) is not`);
  }
  const c: Command = {
    command: first.def.command,
    seen: new Set(),
    svcPort: 0,
    onePacket: false,
    forwarding: 'route',
    weight: 1,
    upper: 0,
    lower: 0,
    tunType: 'ipip',
    tunFlags: 0,
  };

  for (const use of uses.slice(1)) {
    const { def, value = '' } = use;
    if (def.command) fail(`invalid option \`${use.spelled}'`);
    if (def.long === 'sort') continue; // accepted and ignored, as in ipvsadm
    if (def.long === 'ipv6') {
      if (c.fwmark === undefined) fail('-6 used before -f');
      c.svcFamily = 'inet6';
      c.netmask = undefined; // ipvsadm resets the mask to /128 here
      continue;
    }
    const opt = def.column;
    if (opt) {
      if (c.seen.has(opt)) fail(`multiple '${opt}' options specified`);
      c.seen.add(opt);
    }
    switch (def.long) {
      case 'tcp-service':
      case 'udp-service':
      case 'sctp-service': {
        const protocol = PROTOCOL_OF[def.long] as Protocol;
        c.protocol = protocol;
        const a = parseServiceAddress(value, protocol, options);
        if (!a) fail('illegal virtual server address[:port] specified');
        c.svcFamily = a.family;
        c.address = a.address;
        c.svcPort = a.port ?? 0;
        break;
      }
      case 'fwmark-service': {
        // Marks from 2³¹ up are printed negative by `ipvsadm -S`; read them back as the mark.
        const n = /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
        if (!Number.isInteger(n) || n === 0 || n > 0xffffffff || n < -2147483648)
          fail(`invalid fwmark value \`${value}' specified`);
        c.fwmark = n < 0 ? n + 2 ** 32 : n;
        c.svcFamily = 'inet';
        c.protocol = 'tcp'; // ipvsadm's "sane value"; it names ports in -r
        break;
      }
      case 'scheduler':
        c.scheduler = value;
        break;
      case 'persistent':
        c.persistent = timeoutOption(use.value, 1);
        break;
      case 'netmask': {
        const m = parseNetmask(value, c.svcFamily, options);
        // Kept as -S writes it: dotted for IPv4, a prefix length for IPv6.
        c.netmask = c.svcFamily !== 'inet6' ? numberToIPv4(m) : m;
        break;
      }
      case 'real-server': {
        const a = parseServiceAddress(value, c.protocol, options);
        if (!a) fail('illegal real server address[:port] specified');
        // The service port as known at this point, as in ipvsadm.
        c.dest = { ...a, port: a.port ?? c.svcPort };
        break;
      }
      case 'masquerading':
        c.forwarding = 'masq';
        break;
      case 'ipip':
        c.forwarding = 'tunnel';
        break;
      case 'gatewaying':
        c.forwarding = 'route';
        break;
      case 'weight':
        c.weight = intOption(value, 'weight');
        break;
      case 'u-threshold':
        c.upper = intOption(value, 'u_threshold');
        break;
      case 'l-threshold':
        c.lower = intOption(value, 'l_threshold');
        break;
      case 'ops':
        c.onePacket = true;
        break;
      case 'pe':
        if (value !== 'sip') fail(`unknown persistence engine '${value}' (only 'sip' exists)`);
        c.pe = 'sip';
        break;
      case 'sched-flags':
        c.schedFlagsArg = value;
        break;
      case 'tun-type':
        c.tunType = tunnelTypeOption(value);
        break;
      case 'tun-port':
        c.tunPort = numberOption(value, 1, 65535, 'tunnel port');
        break;
      case 'tun-nocsum':
      case 'tun-csum':
      case 'tun-remcsum':
        c.tunFlags |= TUN_CSUM_BITS[def.long];
        break;
      default:
        // Listing and daemon options: recorded above, refused by the command check below.
        break;
    }
  }

  if (positionals.length) fail(`unexpected argument ${positionals[0]}`);

  let schedBits = 0;
  if (c.schedFlagsArg !== undefined) schedBits = parseSchedFlags(c.scheduler || 'wlc', c.schedFlagsArg);

  checkCommandOptions(c.command, c.seen);

  const key: ServiceKey =
    c.fwmark !== undefined
      ? { fwmark: c.fwmark, family: c.svcFamily ?? 'inet' }
      : { protocol: c.protocol as Protocol, address: c.address as string, port: c.svcPort };

  if (c.command === 'add-service') {
    if (c.fwmark === undefined && c.svcPort === 0 && c.persistent === undefined)
      fail('Zero port specified for non-persistent service');
    if (c.onePacket && c.fwmark === undefined && c.protocol !== 'udp')
      fail('One-Packet Scheduling is only for UDP virtual services');
    const scheduler = c.scheduler || 'wlc';
    const service: ServiceSpec & { scheduler: string } = { ...key, scheduler };
    if (c.persistent !== undefined) {
      const netmask = c.netmask;
      if (typeof netmask === 'string' && c.svcFamily === 'inet6')
        fail(`IPv4 netmask '${netmask}' given before the IPv6 service it belongs to`);
      service.persistence = netmask === undefined ? { timeout: c.persistent } : { timeout: c.persistent, netmask };
    }
    if (c.onePacket) service.onePacket = true;
    if (schedBits) service.schedulerFlags = canonicalSchedFlags(scheduler, schedBits);
    if (c.pe) service.persistenceEngine = c.pe;
    return { kind: 'service', service };
  }

  const d = c.dest as ParsedAddress & { port: number };
  // Direct routing and tunnels cannot change the port (ipvsadm forces it).
  const port = c.fwmark === undefined && c.forwarding !== 'masq' ? c.svcPort : d.port;
  if (d.family !== (c.svcFamily ?? 'inet') && c.forwarding !== 'tunnel')
    fail('Different address family is allowed only for tunneling servers');
  const tunnelOpts = (['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const).some((o) => c.seen.has(o));
  if (tunnelOpts && c.forwarding !== 'tunnel') fail('Tunnel options conflict with forward method');
  if (c.forwarding === 'tunnel') checkTunnelOptions(c.tunType, c.seen);

  const destination: DestinationRule['destination'] = {
    address: d.address,
    port,
    forwarding: c.forwarding,
    weight: c.weight,
    upperThreshold: c.upper,
    lowerThreshold: c.lower,
  };
  if (c.forwarding === 'tunnel') destination.tunnel = tunnelOptions(c.tunType, c.tunPort as number, c.tunFlags);
  return { kind: 'destination', service: key, destination };
}

/**
 * Reads the text `ipvsadm -S` writes and `ipvsadm -R` reads.
 *
 * Each non-blank line is one ipvsadm command: `-A` (`--add-service`) with
 * `-t|-u|--sctp-service ADDR[:PORT]` or `-f MARK [-6]`, `-s`, `-p [SECONDS]`,
 * `-M`, `-o`, `-b`, `--pe`; or `-a` (`--add-server`) with the service, `-r
 * ADDR[:PORT]`, `-g|-m|-i`, `-w`, `-x`, `-y` and the `--tun-*` options. Long
 * and short forms, `--opt=value`, clusters such as `-At` or `-w5`, a leading
 * word `ipvsadm`, and `#` comments (which ipvsadm itself does not accept) are
 * read. Defaults are ipvsadm's: scheduler `wlc`, weight 1, direct routing,
 * persistence 360 s for a bare `-p`, the service's port for a real server
 * without one (and always for direct routing and tunnels), tunnel type
 * `ipip`. Addresses come out in canonical text.
 *
 * Beyond ipvsadm: fwmarks written negative (how `ipvsadm -S` prints marks from
 * 2³¹ up) are read as the mark they stand for. Host names need
 * {@link ParseRulesOptions.hostByName}.
 *
 * @param text - The rules, one per line.
 * @param options - Name lookups.
 * @returns The rules in order.
 * @throws {@link IpvsadmRulesError} for the first line ipvsadm would refuse.
 */
export function parseIpvsadmRules(text: string, options: ParseRulesOptions = {}): ParsedRule[] {
  const rules: ParsedRule[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const words = tokenize(raw);
    if (words.length === 0) return;
    try {
      rules.push({ ...parseCommand(words, options), line, text: raw.replace(/\r$/, '') } as ParsedRule);
    } catch (err) {
      if (err instanceof IpvsadmOptionError) throw new IpvsadmRulesError(line, raw.replace(/\r$/, ''), err.message);
      throw err;
    }
  });
  return rules;
}

/** Options of {@link formatIpvsadmRules}. */
export interface FormatRulesOptions {
  /** `-n`: numeric addresses and ports. Default `true` (`ipvsadm -Sn`). */
  numeric?: boolean;
  /** Name lookups for `numeric: false`; default: ports from `/etc/services`, hosts numeric. */
  names?: NameResolver;
}

const PROTOCOL_OPTION = { tcp: '-t', udp: '-u', sctp: '--sctp-service' } as const;
const FORWARD_SWITCH = { masq: '-m', tunnel: '-i', route: '-g', local: '-g' } as const;
const CSUM_OPTION = { nocsum: '--tun-nocsum', csum: '--tun-csum', remcsum: '--tun-remcsum' } as const;

/**
 * Writes what `ipvsadm -Sn` (ipvsadm 1.31) prints for the same table, byte
 * for byte: services and real servers sorted as ipvsadm sorts them, one `-A`
 * line per service followed by its `-a` lines.
 *
 * What `-S` never saves is left out here too: connection thresholds
 * (`-x`/`-y`), and the persistence netmask of a service without persistence.
 * Give services and destinations in the kernel's order (as a dump returns
 * them): ipvsadm's sort is not a total order, so the starting order can show.
 *
 * @param services - The table, each service with its destinations.
 * @param options - `numeric: false` for `ipvsadm -S` without `-n`.
 * @returns The rules, each line ending in `\n`.
 */
export function formatIpvsadmRules(
  services: readonly ServiceWithDestinations[],
  options: FormatRulesOptions = {},
): string {
  const names = options.numeric === false ? (options.names ?? defaultNameResolver) : undefined;
  let out = '';
  for (const svc of glibcMergeSort(services, compareServices)) {
    const family = serviceFamily(svc);
    const name = isFwmark(svc)
      ? `-f ${fwmarkText(svc.fwmark)}${family === 'inet6' ? ' -6' : ''}`
      : `${PROTOCOL_OPTION[svc.protocol]} ${addrPortName(svc.address, family, svc.port, svc.protocol, names)}`;
    out += `-A ${name} -s ${svc.scheduler}`;
    if (svc.persistence) {
      out += ` -p ${svc.persistence.timeout}`;
      const mask = netmaskValue(family, svc.persistence.netmask);
      if (family === 'inet' && mask !== 0xffffffff) out += ` -M ${numberToIPv4(mask)}`;
      if (family === 'inet6' && mask !== 128) out += ` -M ${mask}`;
    }
    if (svc.persistenceEngine) out += ` --pe ${svc.persistenceEngine}`;
    if (svc.onePacket) out += ' -o';
    const bits = schedFlagBits(svc.schedulerFlags);
    if (bits) out += ` -b ${schedFlagNames(svc.scheduler, bits).join(',')}`;
    out += '\n';
    const protocol = isFwmark(svc) ? undefined : svc.protocol;
    for (const d of glibcMergeSort(svc.destinations, compareDestinations)) {
      const dname = addrPortName(d.address, d.family, d.port, protocol, names);
      out += `-a ${name} -r ${dname} ${FORWARD_SWITCH[d.forwarding]} -w ${d.weight}`;
      if (d.forwarding === 'tunnel') {
        // Without tunnel details from the kernel, ipvsadm reads type 0: ipip.
        const t = d.tunnel ?? { type: 'ipip' as const, port: 0, checksum: 'nocsum' as const };
        out += ` --tun-type ${t.type}`;
        if (t.type === 'gue') out += ` --tun-port ${t.port}`;
        if (t.type !== 'ipip') out += ` ${CSUM_OPTION[t.checksum]}`;
      }
      out += '\n';
    }
  }
  return out;
}
