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
import {
  type NameResolver,
  addrPortName,
  canonicalSchedFlags,
  compareDestinations,
  compareServices,
  defaultNameResolver,
  formatIpv4,
  formatIpv6,
  fwmarkText,
  glibcMergeSort,
  inetAton,
  inetPton6,
  isFwmark,
  netmaskValue,
  schedFlagBits,
  schedFlagNames,
  serviceFamily,
  servicePortFromEtc,
} from './common.js';

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
  service: ServiceSpec & { scheduler: string };
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
    port: number;
    forwarding: Forwarding;
    weight: number;
    upperThreshold: number;
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
// Options as ipvsadm (popt) knows them

type Arity = 'none' | 'required' | 'optional';

interface OptionDef {
  long: string;
  short?: string;
  arity: Arity;
  /** Command name (cmdnames[]) for commands; undefined for options. */
  command?: string;
}

const OPTION_DEFS: OptionDef[] = [
  { long: 'add-service', short: 'A', arity: 'none', command: 'add-service' },
  { long: 'edit-service', short: 'E', arity: 'none', command: 'edit-service' },
  { long: 'delete-service', short: 'D', arity: 'none', command: 'delete-service' },
  { long: 'clear', short: 'C', arity: 'none', command: 'flush' },
  { long: 'list', short: 'L', arity: 'none', command: 'list' },
  { long: 'list', short: 'l', arity: 'none', command: 'list' },
  { long: 'zero', short: 'Z', arity: 'none', command: 'zero' },
  { long: 'add-server', short: 'a', arity: 'none', command: 'add-server' },
  { long: 'edit-server', short: 'e', arity: 'none', command: 'edit-server' },
  { long: 'delete-server', short: 'd', arity: 'none', command: 'delete-server' },
  { long: 'set', arity: 'none', command: 'set' },
  { long: 'help', short: 'h', arity: 'none', command: 'help' },
  { long: 'version', short: 'v', arity: 'none', command: 'version' },
  { long: 'restore', short: 'R', arity: 'none', command: 'restore' },
  { long: 'save', short: 'S', arity: 'none', command: 'save' },
  { long: 'start-daemon', arity: 'required', command: 'start-daemon' },
  { long: 'stop-daemon', arity: 'required', command: 'stop-daemon' },
  { long: 'tcp-service', short: 't', arity: 'required' },
  { long: 'udp-service', short: 'u', arity: 'required' },
  { long: 'sctp-service', arity: 'required' },
  { long: 'fwmark-service', short: 'f', arity: 'required' },
  { long: 'scheduler', short: 's', arity: 'required' },
  { long: 'persistent', short: 'p', arity: 'optional' },
  { long: 'netmask', short: 'M', arity: 'required' },
  { long: 'real-server', short: 'r', arity: 'required' },
  { long: 'masquerading', short: 'm', arity: 'none' },
  { long: 'ipip', short: 'i', arity: 'none' },
  { long: 'gatewaying', short: 'g', arity: 'none' },
  { long: 'weight', short: 'w', arity: 'required' },
  { long: 'u-threshold', short: 'x', arity: 'required' },
  { long: 'l-threshold', short: 'y', arity: 'required' },
  { long: 'numeric', short: 'n', arity: 'none' },
  { long: 'connection', short: 'c', arity: 'none' },
  { long: 'mcast-interface', arity: 'required' },
  { long: 'syncid', arity: 'required' },
  { long: 'timeout', arity: 'none' },
  { long: 'daemon', arity: 'none' },
  { long: 'stats', arity: 'none' },
  { long: 'rate', arity: 'none' },
  { long: 'thresholds', arity: 'none' },
  { long: 'persistent-conn', arity: 'none' },
  { long: 'nosort', arity: 'none' },
  { long: 'sort', arity: 'none' },
  { long: 'exact', short: 'X', arity: 'none' },
  { long: 'ipv6', short: '6', arity: 'none' },
  { long: 'ops', short: 'o', arity: 'none' },
  { long: 'pe', arity: 'required' },
  { long: 'sched-flags', short: 'b', arity: 'required' },
  { long: 'mcast-group', arity: 'required' },
  { long: 'mcast-port', arity: 'required' },
  { long: 'mcast-ttl', arity: 'required' },
  { long: 'sync-maxlen', arity: 'required' },
  { long: 'tun-info', arity: 'none' },
  { long: 'tun-type', arity: 'required' },
  { long: 'tun-port', arity: 'required' },
  { long: 'tun-nocsum', arity: 'none' },
  { long: 'tun-csum', arity: 'none' },
  { long: 'tun-remcsum', arity: 'none' },
];

const BY_LONG = new Map(OPTION_DEFS.map((d) => [d.long, d]));
const BY_SHORT = new Map(OPTION_DEFS.filter((d) => d.short).map((d) => [d.short as string, d]));

/**
 * ipvsadm's option columns (optnames[], in order): the names its messages
 * use and the order in which its command/option check reports problems.
 */
const OPT_NAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon',
  'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe',
  'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type',
  'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
] as const;
type OptName = (typeof OPT_NAMES)[number];

/** Which column each option sets (several options share one, such as -t/-u/-f). */
const OPT_OF: Record<string, OptName | undefined> = {
  'tcp-service': 'service-address', 'udp-service': 'service-address', 'sctp-service': 'service-address',
  'fwmark-service': 'service-address', scheduler: 'scheduler', persistent: 'persistent', netmask: 'netmask',
  'real-server': 'real-server', masquerading: 'forwarding-method', ipip: 'forwarding-method',
  gatewaying: 'forwarding-method', weight: 'weight', 'u-threshold': 'u-threshold', 'l-threshold': 'l-threshold',
  numeric: 'numeric', connection: 'connection', 'mcast-interface': 'mcast-interface', syncid: 'syncid',
  timeout: 'timeout', daemon: 'daemon', stats: 'stats', rate: 'rate', thresholds: 'thresholds',
  'persistent-conn': 'persistent-conn', nosort: 'nosort', exact: 'exact', ops: 'ops', pe: 'pe',
  'sched-flags': 'sched-flags', 'mcast-group': 'mcast-group', 'mcast-port': 'mcast-port',
  'mcast-ttl': 'mcast-ttl', 'sync-maxlen': 'sync-maxlen', 'tun-info': 'tun-info', 'tun-type': 'tun-type',
  'tun-port': 'tun-port', 'tun-nocsum': 'tun-nocsum', 'tun-csum': 'tun-csum', 'tun-remcsum': 'tun-remcsum',
};

/**
 * ipvsadm's commands_v_options rows for the two rule commands, one character
 * per column of {@link OPT_NAMES}: '+' required, 'x' illegal, ' ' optional.
 */
const COMMAND_OPTIONS: Record<'add-service' | 'add-server', string> = {
  'add-service': 'xx+   ' + 'x'.repeat(15) + '   ' + 'x'.repeat(10),
  'add-server': 'xx+xxx+    ' + 'x'.repeat(18) + '     ',
};

const MAX_TIMEOUT = 86400 * 31;
/** libipvs's IPVS_SVC_PERSISTENT_TIMEOUT: what `-p` without a value means (6 minutes). */
const DEFAULT_PERSISTENT_TIMEOUT = 360;
const INT_MAX = 2147483647;

/** Thrown inside one line; turned into an {@link IpvsadmRulesError} with the line number. */
class LineError extends Error {}

function fail(reason: string): never {
  throw new LineError(reason);
}

/** C `strtol` on the whole string, base 10, then a range check; `undefined` when ipvsadm would refuse. */
function stringToNumber(s: string, min: number, max: number): number | undefined {
  if (!/^\s*[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s.trim());
  return n >= min && n <= max ? n : undefined;
}

/** C `atoi`: leading digits, 0 when there are none. */
function atoi(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

interface ParsedAddress {
  family: Family;
  address: string;
  port?: number;
}

/**
 * ipvsadm's `parse_service`: `[v6]:port`, bare IPv6 (no port), or
 * `v4[:port]` read by `inet_aton` (so `10.1` is 10.0.0.1), ports by number
 * or service name. Its quirk that `[v4]:port` drops the port is kept.
 */
function parseAddressPort(
  buf: string,
  protocol: Protocol | undefined,
  options: ParseRulesOptions,
): ParsedAddress | undefined {
  if (/^\d*$/.test(buf)) return undefined;
  let rest = buf;
  let portText: string | undefined;
  let bracketed = false;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return undefined;
    portText = rest.slice(close + 2);
    rest = rest.slice(1, close);
    bracketed = true;
  }
  const v6 = inetPton6(rest);
  let result: ParsedAddress;
  if (v6) {
    result = { family: 'inet6', address: formatIpv6(v6) };
  } else {
    if (bracketed) {
      // ipvsadm cut the text at ']' and finds no ':' left: no port.
      portText = undefined;
    } else {
      const colon = rest.lastIndexOf(':');
      if (colon >= 0) {
        portText = rest.slice(colon + 1);
        rest = rest.slice(0, colon);
      }
    }
    let v4 = inetAton(rest);
    if (v4 === undefined) {
      const resolved = options.hostByName?.(rest);
      if (resolved !== undefined) v4 = inetAton(resolved);
    }
    if (v4 === undefined) return undefined;
    result = { family: 'inet', address: formatIpv4(v4) };
  }
  if (portText !== undefined) {
    let port = stringToNumber(portText, 0, 65535);
    if (port === undefined && protocol) port = (options.portByName ?? servicePortFromEtc)(portText, protocol);
    if (port === undefined || port < 0 || port > 65535) return undefined;
    result.port = port;
  }
  return result;
}

/** What one command line set, before the checks that need all of it. */
interface Command {
  command: 'add-service' | 'add-server';
  seen: Set<OptName>;
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

const TUN_CSUM_BITS = { 'tun-nocsum': 0, 'tun-csum': 1, 'tun-remcsum': 2 } as const;
const CSUM_BY_BITS: Record<number, TunnelOptions['checksum']> = { 0: 'nocsum', 1: 'csum', 2: 'remcsum' };

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

interface OptionUse {
  def: OptionDef;
  /** As written, for messages. */
  spelled: string;
  value?: string;
}

/** popt's reading of one argument vector: long options with `=`, short clusters (`-At`, `-w5`). */
function readOptions(words: string[]): { uses: OptionUse[]; positionals: string[] } {
  const uses: OptionUse[] = [];
  const positionals: string[] = [];
  let i = 0;
  const takeRequired = (spelled: string): string => {
    const next = words[i];
    if (next === undefined) fail(`option '${spelled}' requires an argument`);
    i++;
    return next;
  };
  const takeOptional = (): string | undefined => {
    const next = words[i];
    if (next === undefined || next.startsWith('-')) return undefined;
    i++;
    return next;
  };
  while (i < words.length) {
    const word = words[i++] as string;
    if (word === '--') {
      positionals.push(...words.slice(i));
      break;
    }
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = eq >= 0 ? word.slice(2, eq) : word.slice(2);
      const inline = eq >= 0 ? word.slice(eq + 1) : undefined;
      const def = BY_LONG.get(name);
      const spelled = `--${name}`;
      if (!def) fail(`unknown option '${spelled}'`);
      if (def.arity === 'none') {
        if (inline !== undefined) fail(`option '${spelled}' takes no argument`);
        uses.push({ def, spelled });
      } else if (def.arity === 'required') {
        uses.push({ def, spelled, value: inline ?? takeRequired(spelled) });
      } else {
        const value = inline ?? takeOptional();
        uses.push(value === undefined ? { def, spelled } : { def, spelled, value });
      }
      continue;
    }
    if (word.startsWith('-') && word.length > 1) {
      for (let j = 1; j < word.length; j++) {
        const ch = word[j] as string;
        const def = BY_SHORT.get(ch);
        const spelled = `-${ch}`;
        if (!def) fail(`unknown option '${spelled}'`);
        const attached = word.slice(j + 1);
        if (def.arity === 'none') {
          uses.push({ def, spelled });
          continue;
        }
        if (def.arity === 'required') {
          uses.push({ def, spelled, value: attached !== '' ? attached : takeRequired(spelled) });
        } else {
          const value = attached !== '' ? attached : takeOptional();
          uses.push(value === undefined ? { def, spelled } : { def, spelled, value });
        }
        break;
      }
      continue;
    }
    positionals.push(word);
  }
  return { uses, positionals };
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
    const opt = OPT_OF[def.long];
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
        const a = parseAddressPort(value, protocol, options);
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
      case 'persistent': {
        if (use.value === undefined) c.persistent = DEFAULT_PERSISTENT_TIMEOUT;
        else {
          const t = stringToNumber(value, 1, MAX_TIMEOUT);
          if (t === undefined) fail(`invalid timeout value \`${value}' specified`);
          c.persistent = t;
        }
        break;
      }
      case 'netmask':
        if (c.svcFamily !== 'inet6') {
          const resolved = inetAton(value) === undefined ? options.hostByName?.(value) : undefined;
          const m = inetAton(resolved ?? value);
          if (m === undefined) fail('illegal virtual server persistent mask specified');
          c.netmask = formatIpv4(m);
        } else {
          const m = atoi(value);
          if (m < 1 || m > 128) fail('illegal ipv6 netmask specified');
          c.netmask = m;
        }
        break;
      case 'real-server': {
        const a = parseAddressPort(value, c.protocol, options);
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
      case 'weight': {
        // ipvsadm 1.31 as shipped takes any int here (the kernel's own range).
        const w = stringToNumber(value, 0, INT_MAX);
        if (w === undefined) fail('illegal weight specified');
        c.weight = w;
        break;
      }
      case 'u-threshold': {
        const x = stringToNumber(value, 0, INT_MAX);
        if (x === undefined) fail('illegal u_threshold specified');
        c.upper = x;
        break;
      }
      case 'l-threshold': {
        const y = stringToNumber(value, 0, INT_MAX);
        if (y === undefined) fail('illegal l_threshold specified');
        c.lower = y;
        break;
      }
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
        if (value !== 'ipip' && value !== 'gue' && value !== 'gre') fail('illegal tunnel type specified');
        c.tunType = value;
        break;
      case 'tun-port': {
        const p = stringToNumber(value, 1, 65535);
        if (p === undefined) fail('illegal tunnel port specified');
        c.tunPort = p;
        break;
      }
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

  // ipvsadm's generic_opt_check, column by column.
  const row = COMMAND_OPTIONS[c.command];
  OPT_NAMES.forEach((name, j) => {
    const rule = row[j];
    if (!c.seen.has(name) && rule === '+') fail(`You need to supply the '${name}' option for the '${c.command}' command`);
    if (c.seen.has(name) && rule === 'x') fail(`Illegal '${name}' option with the '${c.command}' command`);
  });

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
  if (c.forwarding === 'tunnel') checkTunnelOptions(c);

  const destination: DestinationRule['destination'] = {
    address: d.address,
    port,
    forwarding: c.forwarding,
    weight: c.weight,
    upperThreshold: c.upper,
    lowerThreshold: c.lower,
  };
  if (c.forwarding === 'tunnel') {
    const checksum = CSUM_BY_BITS[c.tunFlags] ?? 'nocsum';
    destination.tunnel =
      c.tunType === 'ipip'
        ? { type: 'ipip' }
        : c.tunType === 'gue'
          ? { type: 'gue', port: c.tunPort as number, checksum }
          : { type: 'gre', checksum };
  }
  return { kind: 'destination', service: key, destination };
}

/** ipvsadm's tunnel_types_v_options table and messages. */
function checkTunnelOptions(c: Command): void {
  const table = { ipip: 'xxxx', gue: '+111', gre: 'x11x' }[c.tunType];
  const cols = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const;
  let last: string | undefined;
  cols.forEach((name, j) => {
    const rule = table[j];
    if (!c.seen.has(name)) {
      if (rule === '+') fail(`You need to supply the '${name}' option for the '${c.tunType}' tunnel type`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${name}' option with the '${c.tunType}' tunnel type`);
    if (rule === '1') {
      if (last === undefined) last = name;
      else fail(`The option '${name}' conflicts with the '${last}' option in the '${c.tunType}' tunnel type`);
    }
  });
}

/** ipvsadm's parse_sched_flags: a comma list checked against the scheduler. */
function parseSchedFlags(scheduler: string, arg: string): number {
  let bits = 0;
  const flags = arg.split(',').filter((f) => f !== '');
  // strtok on "" yields nothing and ipvsadm then reads a NULL; treat it as invalid.
  if (flags.length === 0) fail(`invalid scheduler flag \`${arg}'`);
  for (const flag of flags) {
    const family = /^(sh|mh)-(fallback|port)$/.exec(flag);
    if (/^flag-[123]$/.test(flag)) bits |= 1 << (Number(flag.slice(5)) - 1);
    else if (family) {
      bits |= family[2] === 'fallback' ? 1 : 2;
      if (scheduler !== family[1]) fail(`incompatible scheduler flag \`${flag}'`);
    } else fail(`invalid scheduler flag \`${flag}'`);
  }
  return bits;
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
      if (err instanceof LineError) throw new IpvsadmRulesError(line, raw.replace(/\r$/, ''), err.message);
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
      if (family === 'inet' && mask !== 0xffffffff) out += ` -M ${formatIpv4(mask)}`;
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
