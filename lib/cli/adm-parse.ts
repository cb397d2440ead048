/**
 * The command line of `ipvs-ts adm`: ipvsadm 1.31's options, read the way
 * popt reads them and checked in the order ipvsadm checks them, with
 * ipvsadm's defaults, messages and exit statuses.
 *
 * Pure: name lookups come in through {@link AdmLookups}, so the caller can
 * resolve host names asynchronously and parse again (see `adm.ts`).
 *
 * @internal
 * @module
 */

import { formatIpv4, formatIpv6, inetAton, inetPton6, servicePortFromEtc } from '../ipvsadm/common.js';
import type { DaemonState, Family, Forwarding, Protocol } from '../types.js';

/** ipvsadm's commands (its cmdnames[], in table order). */
export const ADM_COMMANDS = [
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'list',
  'add-server',
  'delete-server',
  'edit-server',
  'set',
  'start-daemon',
  'stop-daemon',
  'restore',
  'save',
  'zero',
] as const;
/** One of ipvsadm's commands. */
export type AdmCommandName = (typeof ADM_COMMANDS)[number];

/** ipvsadm's option columns (its optnames[]): the names its messages use, in the order it checks them. */
export const ADM_OPTIONS = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon',
  'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe',
  'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type',
  'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
] as const;
/** One of ipvsadm's option columns. */
export type AdmOptionName = (typeof ADM_OPTIONS)[number];

/**
 * ipvsadm's commands_v_options table, one character per column of
 * {@link ADM_OPTIONS}: `+` required, `x` illegal, `1` at most one of these,
 * blank optional.
 */
const COMMANDS_V_OPTIONS: Record<AdmCommandName, string> = {
  'add-service': 'xx+   ' + 'x'.repeat(15) + '   ' + 'x'.repeat(10),
  'edit-service': 'xx+   ' + 'x'.repeat(15) + '   ' + 'x'.repeat(10),
  'delete-service': 'xx+' + 'x'.repeat(31),
  flush: 'x'.repeat(34),
  list: ' 11' + 'x'.repeat(9) + '11' + ' '.repeat(7) + 'x'.repeat(7) + ' ' + 'x'.repeat(5),
  'add-server': 'xx+xxx+    ' + 'x'.repeat(18) + '     ',
  'delete-server': 'xx+xxx+' + 'x'.repeat(27),
  'edit-server': 'xx+xxx+    ' + 'x'.repeat(18) + '     ',
  set: 'x'.repeat(34),
  'start-daemon': 'x'.repeat(11) + ' ' + 'x'.repeat(7) + ' ' + 'x'.repeat(4) + '    ' + 'x'.repeat(6),
  'stop-daemon': 'x'.repeat(19) + ' ' + 'x'.repeat(14),
  restore: 'x'.repeat(34),
  save: ' ' + 'x'.repeat(33),
  zero: 'xx ' + 'x'.repeat(31),
};

/** ipvsadm's tunnel_types_v_options: columns tun-port, tun-nocsum, tun-csum, tun-remcsum. */
const TUNNEL_V_OPTIONS = { ipip: 'xxxx', gue: '+111', gre: 'x11x' } as const;
const TUNNEL_COLUMNS = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const;

/** What ipvsadm exits with, and prints, instead of running a command. */
export class AdmExit extends Error {
  /** Exit status: 0 for help and version, 2 for ipvsadm's `fail(2, …)`, 255 for popt errors. */
  readonly status: number;
  /** Text for standard output (help, version). */
  readonly stdout: string;
  /** Text for standard error, each line ending in `\n`. */
  readonly stderr: string;

  constructor(status: number, stderr: string, stdout = '') {
    super(stderr.trimEnd() || `exit ${status}`);
    this.name = 'AdmExit';
    this.status = status;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

/**
 * A popt error inside `ipvsadm -R`: ipvsadm prints it and goes on with the
 * next line (only a lone command line exits with it).
 */
export class AdmPoptError extends AdmExit {}

/** Name lookups the parser needs (ipvsadm's gethostbyname/getservbyname). */
export interface AdmLookups {
  /** IPv4 address of a host name, or `undefined`. */
  hostByName?(name: string): string | undefined;
  /** Port of a service name for a protocol, or `undefined`. Default: `/etc/services`. */
  portByName?(name: string, protocol: Protocol): number | undefined;
}

/** The virtual service as the command line gave it (ipvsadm's `ce.svc`). */
export interface AdmService {
  /** Set by -t/-u/--sctp-service; -f sets `tcp` ("a sane value"). */
  protocol?: Protocol;
  /** Address family; unset until a service address or -f is read. */
  family?: Family;
  /** Canonical address text. */
  address?: string;
  port: number;
  /** 0 for none. */
  fwmark: number;
  /** '' until defaulted; cut to 15 bytes as ipvsadm's strncpy does. */
  scheduler: string;
  /** Persistence timeout when -p was given. */
  persistent?: number;
  /** IPv4: the mask as a number; IPv6: the prefix length. */
  netmask: number;
  onePacket: boolean;
  /** Persistence engine name, '' for none. */
  pe: string;
  /** IP_VS_SVC_F_SCHED1..3 bits from -b. */
  schedFlags: number;
}

/** The real server as the command line gave it (ipvsadm's `ce.dest`). */
export interface AdmDest {
  family?: Family;
  address?: string;
  port: number;
  forwarding: Forwarding;
  weight: number;
  upper: number;
  lower: number;
  tunType: 'ipip' | 'gue' | 'gre';
  tunPort: number;
  /** 0 nocsum, 1 csum, 2 remcsum (bits, as ipvsadm keeps them). */
  tunFlags: number;
}

/** The sync daemon as the command line gave it (ipvsadm's `ce.daemon`). */
export interface AdmDaemon {
  state?: DaemonState;
  /** '' until defaulted to eth0; cut to 15 bytes. */
  iface: string;
  syncId: number;
  maxLength?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** The listing flags (ipvsadm's FMT_*). */
export interface AdmFormat {
  numeric: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  nosort: boolean;
  exact: boolean;
  tunInfo: boolean;
}

/** One parsed and checked ipvsadm command line. */
export interface AdmRequest {
  cmd: AdmCommandName;
  options: ReadonlySet<AdmOptionName>;
  format: AdmFormat;
  svc: AdmService;
  dest: AdmDest;
  daemon: AdmDaemon;
  /** For `--set`. */
  timeouts?: { tcp: number; tcpFin: number; udp: number };
}

// ---------------------------------------------------------------------------
// popt

type Arity = 'none' | 'required' | 'optional';

interface OptionDef {
  long: string;
  short?: string;
  arity: Arity;
}

const DEFS: OptionDef[] = [
  { long: 'add-service', short: 'A', arity: 'none' },
  { long: 'edit-service', short: 'E', arity: 'none' },
  { long: 'delete-service', short: 'D', arity: 'none' },
  { long: 'clear', short: 'C', arity: 'none' },
  { long: 'list', short: 'L', arity: 'none' },
  { long: 'list', short: 'l', arity: 'none' },
  { long: 'zero', short: 'Z', arity: 'none' },
  { long: 'add-server', short: 'a', arity: 'none' },
  { long: 'edit-server', short: 'e', arity: 'none' },
  { long: 'delete-server', short: 'd', arity: 'none' },
  { long: 'set', arity: 'none' },
  { long: 'help', short: 'h', arity: 'none' },
  { long: 'version', short: 'v', arity: 'none' },
  { long: 'restore', short: 'R', arity: 'none' },
  { long: 'save', short: 'S', arity: 'none' },
  { long: 'start-daemon', arity: 'required' },
  { long: 'stop-daemon', arity: 'required' },
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
const BY_LONG = new Map(DEFS.map((d) => [d.long, d]));
const BY_SHORT = new Map(DEFS.filter((d) => d.short).map((d) => [d.short as string, d]));

/** One option as popt hands it over, or a popt error. */
type PoptItem =
  | { kind: 'option'; def: OptionDef; value?: string; bad: string }
  | { kind: 'error'; text: string; bad: string };

/**
 * popt's reading of an argument vector, one option at a time (ipvsadm acts on
 * each before popt looks at the next, so a bad value fails before a later
 * unknown option is seen). Words that are not options are kept for
 * `poptGetArg`. `bad` is `poptBadOption()`: the last word popt consumed.
 */
class Popt {
  readonly leftovers: string[] = [];
  #i = 0;
  #cluster: { word: string; at: number } | undefined;
  #done = false;

  constructor(private readonly words: readonly string[]) {}

  next(): PoptItem | undefined {
    if (this.#cluster) return this.#short();
    while (!this.#done && this.#i < this.words.length) {
      const word = this.words[this.#i++] as string;
      if (word === '--') {
        this.leftovers.push(...this.words.slice(this.#i));
        this.#done = true;
        break;
      }
      if (word.startsWith('--')) return this.#long(word);
      if (word.startsWith('-') && word.length > 1) {
        this.#cluster = { word, at: 1 };
        return this.#short();
      }
      this.leftovers.push(word);
    }
    return undefined;
  }

  #long(word: string): PoptItem {
    const eq = word.indexOf('=');
    const name = eq >= 0 ? word.slice(2, eq) : word.slice(2);
    const inline = eq >= 0 ? word.slice(eq + 1) : undefined;
    const def = BY_LONG.get(name);
    if (!def) return { kind: 'error', text: 'unknown option', bad: word };
    if (def.arity === 'none') {
      if (inline !== undefined) return { kind: 'error', text: 'option does not take an argument', bad: word };
      return { kind: 'option', def, bad: word };
    }
    if (inline !== undefined) return { kind: 'option', def, value: inline, bad: word };
    return this.#argument(def, word);
  }

  #short(): PoptItem {
    const c = this.#cluster as { word: string; at: number };
    const ch = c.word[c.at] as string;
    const def = BY_SHORT.get(ch);
    c.at++;
    const rest = c.word.slice(c.at);
    if (rest === '') this.#cluster = undefined;
    if (!def) {
      this.#cluster = undefined;
      return { kind: 'error', text: 'unknown option', bad: c.word };
    }
    if (def.arity === 'none') return { kind: 'option', def, bad: c.word };
    this.#cluster = undefined;
    // popt takes the rest of the word as the argument, skipping one '='.
    if (rest !== '') return { kind: 'option', def, value: rest.startsWith('=') ? rest.slice(1) : rest, bad: c.word };
    return this.#argument(def, c.word);
  }

  /** The argument in the next word; an optional one only when that word is not an option. */
  #argument(def: OptionDef, word: string): PoptItem {
    const next = this.words[this.#i];
    if (def.arity === 'optional') {
      if (next === undefined || next.startsWith('-')) return { kind: 'option', def, bad: word };
      this.#i++;
      return { kind: 'option', def, value: next, bad: next };
    }
    if (next === undefined) return { kind: 'error', text: 'missing argument', bad: word };
    this.#i++;
    return { kind: 'option', def, value: next, bad: next };
  }
}

// ---------------------------------------------------------------------------
// Value parsing, as ipvsadm does it

const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 2147483647;
/** libipvs's IPVS_SVC_PERSISTENT_TIMEOUT: `-p` without a value. */
const DEFAULT_PERSISTENT_TIMEOUT = 360;
const SCHEDNAME_MAX = 15;
const IFNAME_MAX = 15;

function fail(message: string): never {
  throw new AdmExit(2, `${message}\n`);
}

/** C `strtol` over the whole string (blanks and a sign allowed in front), then a range check; -1 when out. */
function stringToNumber(s: string, min: number, max: number): number {
  if (!/^[ \t\n\v\f\r]*[+-]?\d+$/.test(s)) return -1;
  const n = Number(s.trim());
  return n >= min && n <= max ? n : -1;
}

/** C `atoi`. */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n | 0 : 0;
}

/** Cuts text to `max` bytes, as `strncpy` into a fixed buffer does. */
function cut(text: string, max: number): string {
  const b = Buffer.from(text);
  return b.length <= max ? text : b.subarray(0, max).toString();
}

interface ParsedAddress {
  family: Family;
  address: string;
  port?: number;
}

/**
 * ipvsadm's `parse_service`: `[v6]:port`, bare IPv6, or `v4[:port]` read by
 * `inet_aton` or, failing that, `gethostbyname`; the port by number or by
 * service name for the protocol. `undefined` when ipvsadm sees no address.
 */
function parseService(buf: string, protocol: Protocol | undefined, lookups: AdmLookups): ParsedAddress | undefined {
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
      // ipvsadm cut the text at ']' and looks for ':' in what is left: none.
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
      const resolved = lookups.hostByName?.(rest);
      if (resolved !== undefined) v4 = inetAton(resolved);
    }
    if (v4 === undefined) return undefined;
    result = { family: 'inet', address: formatIpv4(v4) };
  }
  if (portText !== undefined) {
    let port = stringToNumber(portText, 0, 65535);
    if (port === -1 && protocol) port = (lookups.portByName ?? servicePortFromEtc)(portText, protocol) ?? -1;
    if (port < 0 || port > 65535) return undefined;
    result.port = port;
  }
  return result;
}

/** ipvsadm's `parse_sched_flags`. */
function parseSchedFlags(scheduler: string, arg: string): number {
  let bits = 0;
  const flags = arg.split(',').filter((f) => f !== '');
  // ipvsadm itself crashes on an empty list; refuse it in its words.
  if (flags.length === 0) fail(`invalid scheduler flag \`${arg}'`);
  for (const flag of flags) {
    if (flag === 'flag-1') bits |= 1;
    else if (flag === 'flag-2') bits |= 2;
    else if (flag === 'flag-3') bits |= 4;
    else {
      const m = /^(sh|mh)-(fallback|port)$/.exec(flag);
      if (!m) fail(`invalid scheduler flag \`${flag}'`);
      bits |= m[2] === 'fallback' ? 1 : 2;
      if (scheduler !== m[1]) fail(`incompatible scheduler flag \`${flag}'`);
    }
  }
  return bits;
}

function isMulticast4(address: string): boolean {
  const v = inetAton(address);
  return v !== undefined && v >>> 28 === 0xe;
}

// ---------------------------------------------------------------------------
// The command line

const COMMAND_OF: Record<string, AdmCommandName> = {
  'add-service': 'add-service',
  'edit-service': 'edit-service',
  'delete-service': 'delete-service',
  clear: 'flush',
  list: 'list',
  zero: 'zero',
  'add-server': 'add-server',
  'edit-server': 'edit-server',
  'delete-server': 'delete-server',
  set: 'set',
  restore: 'restore',
  save: 'save',
  'start-daemon': 'start-daemon',
  'stop-daemon': 'stop-daemon',
};

/** What to print for `-h` and the hint after a bad first option. */
export interface AdmTexts {
  /** `ipvsadm -h` text (ends in `\n`). */
  usage(): string;
  /** `ipvsadm -v` line (ends in `\n`). */
  version(): string;
  /** The program name in "Try `NAME -h'…". */
  program: string;
}

function tryHelp(texts: AdmTexts): AdmExit {
  return new AdmExit(255, `Try \`${texts.program} -h' or '${texts.program} --help' for more information.\n`);
}

/**
 * Reads one ipvsadm command line (the words after the program name) into a
 * checked request, or throws an {@link AdmExit} with exactly what ipvsadm
 * would print and exit with: a bad first option or no command prints the
 * "Try … -h" hint (255), popt errors `WORD: reason` ({@link AdmPoptError},
 * 255), ipvsadm's own checks their message (2), `-h`/`-v` their text (0).
 */
export function parseAdmArgs(words: readonly string[], texts: AdmTexts, lookups: AdmLookups = {}): AdmRequest {
  const popt = new Popt(words);
  const options = new Set<AdmOptionName>();
  const format: AdmFormat = {
    numeric: false,
    stats: false,
    rate: false,
    thresholds: false,
    persistentConn: false,
    nosort: false,
    exact: false,
    tunInfo: false,
  };
  const svc: AdmService = { port: 0, fwmark: 0, scheduler: '', netmask: 0xffffffff, onePacket: false, pe: '', schedFlags: 0 };
  const dest: AdmDest = { port: 0, forwarding: 'route', weight: 1, upper: 0, lower: 0, tunType: 'ipip', tunPort: 0, tunFlags: 0 };
  const daemon: AdmDaemon = { iface: '', syncId: 0 };
  let schedFlagsArg: string | undefined;

  const first = popt.next();
  if (!first || first.kind === 'error') throw tryHelp(texts);
  const firstLong = first.def.long;
  if (firstLong === 'help') throw new AdmExit(0, '', texts.usage());
  if (firstLong === 'version') throw new AdmExit(0, '', texts.version());
  const cmd = COMMAND_OF[firstLong];
  if (!cmd) throw tryHelp(texts);
  if (cmd === 'start-daemon' || cmd === 'stop-daemon') {
    const v = first.value;
    if (v === 'master' || v === 'backup') daemon.state = v;
    else fail(cmd === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
  }

  const set = (opt: AdmOptionName): void => {
    if (options.has(opt)) fail(`multiple '${opt}' options specified`);
    options.add(opt);
  };

  for (let item = popt.next(); item; item = popt.next()) {
    if (item.kind === 'error') throw new AdmPoptError(255, `${item.bad}: ${item.text}\n`);
    const value = item.value ?? '';
    switch (item.def.long) {
      case 'tcp-service':
      case 'udp-service':
      case 'sctp-service': {
        set('service-address');
        svc.protocol = item.def.long === 'tcp-service' ? 'tcp' : item.def.long === 'udp-service' ? 'udp' : 'sctp';
        const a = parseService(value, svc.protocol, lookups);
        if (!a) fail('illegal virtual server address[:port] specified');
        svc.family = a.family;
        svc.address = a.address;
        if (a.family === 'inet6') svc.netmask = 128;
        if (a.port !== undefined) svc.port = a.port;
        break;
      }
      case 'fwmark-service': {
        set('service-address');
        svc.family = 'inet';
        svc.protocol = 'tcp';
        const n = /^[ \t\n\v\f\r]*[+-]?\d+$/.test(value) ? Number(value.trim()) : NaN;
        if (!(n > 0 && n <= 0xffffffff)) fail(`invalid fwmark value \`${value}' specified`);
        svc.fwmark = n;
        break;
      }
      case 'scheduler':
        set('scheduler');
        svc.scheduler = cut(value, SCHEDNAME_MAX);
        break;
      case 'persistent': {
        set('persistent');
        if (item.value === undefined) svc.persistent = DEFAULT_PERSISTENT_TIMEOUT;
        else {
          const t = stringToNumber(value, 1, MAX_TIMEOUT);
          if (t === -1) fail(`invalid timeout value \`${value}' specified`);
          svc.persistent = t;
        }
        break;
      }
      case 'netmask':
        set('netmask');
        if (svc.family !== 'inet6') {
          let m = inetAton(value);
          if (m === undefined) {
            const resolved = lookups.hostByName?.(value);
            if (resolved !== undefined) m = inetAton(resolved);
          }
          if (m === undefined) fail('illegal virtual server persistent mask specified');
          svc.netmask = m;
        } else {
          const m = atoi(value);
          if (m < 1 || m > 128) fail('illegal ipv6 netmask specified');
          svc.netmask = m;
        }
        break;
      case 'real-server': {
        set('real-server');
        const a = parseService(value, svc.protocol, lookups);
        if (!a) fail('illegal real server address[:port] specified');
        dest.family = a.family;
        dest.address = a.address;
        // Without a port, the service's port as known at this point.
        dest.port = a.port ?? svc.port;
        break;
      }
      case 'masquerading':
      case 'ipip':
      case 'gatewaying':
        set('forwarding-method');
        dest.forwarding = item.def.long === 'masquerading' ? 'masq' : item.def.long === 'ipip' ? 'tunnel' : 'route';
        break;
      case 'weight':
        set('weight');
        dest.weight = stringToNumber(value, 0, INT_MAX);
        if (dest.weight === -1) fail('illegal weight specified');
        break;
      case 'u-threshold':
        set('u-threshold');
        dest.upper = stringToNumber(value, 0, INT_MAX);
        if (dest.upper === -1) fail('illegal u_threshold specified');
        break;
      case 'l-threshold':
        set('l-threshold');
        dest.lower = stringToNumber(value, 0, INT_MAX);
        if (dest.lower === -1) fail('illegal l_threshold specified');
        break;
      case 'connection':
        set('connection');
        break;
      case 'numeric':
        set('numeric');
        format.numeric = true;
        break;
      case 'mcast-interface':
        set('mcast-interface');
        daemon.iface = cut(value, IFNAME_MAX);
        break;
      case 'syncid':
        set('syncid');
        daemon.syncId = stringToNumber(value, 0, 255);
        if (daemon.syncId === -1) fail('illegal syncid specified');
        break;
      case 'timeout':
        set('timeout');
        break;
      case 'daemon':
        set('daemon');
        break;
      case 'stats':
        set('stats');
        format.stats = true;
        break;
      case 'rate':
        set('rate');
        format.rate = true;
        break;
      case 'thresholds':
        set('thresholds');
        format.thresholds = true;
        break;
      case 'persistent-conn':
        set('persistent-conn');
        format.persistentConn = true;
        break;
      case 'nosort':
        set('nosort');
        format.nosort = true;
        break;
      case 'sort':
        break; // "does nothing, for backwards compatibility"
      case 'exact':
        set('exact');
        format.exact = true;
        break;
      case 'ipv6':
        if (!svc.fwmark) fail('-6 used before -f\n');
        svc.family = 'inet6';
        svc.netmask = 128;
        break;
      case 'ops':
        set('ops');
        svc.onePacket = true;
        break;
      case 'pe':
        set('pe');
        svc.pe = value;
        break;
      case 'sched-flags':
        set('sched-flags');
        schedFlagsArg = value;
        break;
      case 'mcast-group':
        set('mcast-group');
        if (value.includes(':')) {
          const g = inetPton6(value);
          if (!g || ((g[0] ?? 0) & 0xff00) !== 0xff00) fail(`invalid IPv6 mcast-group \`${value}'`);
          daemon.group = formatIpv6(g);
        } else {
          if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(value) || !isMulticast4(value) || value.split('.').some((o) => Number(o) > 255 || /^0\d/.test(o)))
            fail(`invalid IPv4 mcast-group \`${value}'`);
          daemon.group = value;
        }
        break;
      case 'mcast-port':
        set('mcast-port');
        daemon.port = stringToNumber(value, 1, 65535);
        if (daemon.port === -1) fail('illegal mcast-port specified');
        break;
      case 'mcast-ttl':
        set('mcast-ttl');
        daemon.ttl = stringToNumber(value, 1, 255);
        if (daemon.ttl === -1) fail('illegal mcast-ttl specified');
        break;
      case 'sync-maxlen':
        set('sync-maxlen');
        daemon.maxLength = stringToNumber(value, 1, 65535 - 20 - 8);
        if (daemon.maxLength === -1) fail('illegal sync-maxlen specified');
        break;
      case 'tun-info':
        set('tun-info');
        format.tunInfo = true;
        break;
      case 'tun-type':
        set('tun-type');
        if (value !== 'ipip' && value !== 'gue' && value !== 'gre') fail('illegal tunnel type specified');
        dest.tunType = value;
        break;
      case 'tun-port':
        set('tun-port');
        dest.tunPort = stringToNumber(value, 1, 65535);
        if (dest.tunPort === -1) fail('illegal tunnel port specified');
        break;
      case 'tun-nocsum':
        set('tun-nocsum');
        dest.tunFlags = 0;
        break;
      case 'tun-csum':
        set('tun-csum');
        dest.tunFlags |= 1;
        break;
      case 'tun-remcsum':
        set('tun-remcsum');
        dest.tunFlags |= 2;
        break;
      default:
        // A second command, -h or -v after the command.
        fail(`invalid option \`${item.bad}'`);
    }
  }

  let timeouts: AdmRequest['timeouts'];
  if (cmd === 'set') {
    const [a, b, c] = popt.leftovers.splice(0, 3);
    if (a === undefined || b === undefined || c === undefined) fail('--set option requires 3 timeout values');
    const t = (s: string): number => {
      const v = stringToNumber(s, 0, MAX_TIMEOUT);
      if (v === -1) fail(`invalid timeout value \`${s}' specified`);
      return v;
    };
    timeouts = { tcp: t(a), tcpFin: t(b), udp: t(c) };
  }
  if (popt.leftovers.length) fail(`unexpected argument ${popt.leftovers[0]}`);

  if (schedFlagsArg !== undefined) svc.schedFlags = parseSchedFlags(svc.scheduler || 'wlc', schedFlagsArg);

  // generic_opt_check, column by column.
  const row = COMMANDS_V_OPTIONS[cmd];
  let exclusive: AdmOptionName | undefined;
  ADM_OPTIONS.forEach((name, j) => {
    const rule = row[j];
    if (!options.has(name)) {
      if (rule === '+') fail(`You need to supply the '${name}' option for the '${cmd}' command`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${name}' option with the '${cmd}' command`);
    if (rule === '1') {
      if (exclusive === undefined) exclusive = name;
      else fail(`The option '${name}' conflicts with the '${exclusive}' option in the '${cmd}' command`);
    }
  });

  if (cmd === 'add-service' || cmd === 'edit-service') {
    if (!svc.fwmark && !svc.port && svc.persistent === undefined) fail('Zero port specified for non-persistent service');
    if (svc.onePacket && !svc.fwmark && svc.protocol !== 'udp') fail('One-Packet Scheduling is only for UDP virtual services');
    if (svc.scheduler === '') svc.scheduler = 'wlc';
  }
  if (cmd === 'start-daemon' && daemon.iface === '') daemon.iface = 'eth0';
  if (cmd === 'add-server' || cmd === 'edit-server') {
    // Direct routing and tunnels keep the packet's port: ipvsadm forces the service's.
    if (!svc.fwmark && (dest.forwarding === 'tunnel' || dest.forwarding === 'route')) dest.port = svc.port;
    if (dest.family !== svc.family && dest.forwarding !== 'tunnel')
      fail('Different address family is allowed only for tunneling servers');
    const tunnelOptions = TUNNEL_COLUMNS.some((o) => options.has(o)) || options.has('tun-type');
    if (tunnelOptions && dest.forwarding !== 'tunnel') fail('Tunnel options conflict with forward method');
    checkTunnelOptions(dest.tunType, options);
  }
  if (cmd === 'list') {
    const has = (...o: AdmOptionName[]): boolean => o.some((x) => options.has(x));
    if (
      (has('connection', 'timeout', 'daemon') && has('stats', 'rate', 'thresholds')) ||
      (has('timeout', 'daemon') && has('persistent-conn'))
    )
      fail('options conflicts in the list command');
  }

  const request: AdmRequest = { cmd, options, format, svc, dest, daemon };
  if (timeouts) request.timeouts = timeouts;
  return request;
}

/** ipvsadm's tunnel_opt_check. */
function checkTunnelOptions(type: AdmDest['tunType'], options: ReadonlySet<AdmOptionName>): void {
  const row = TUNNEL_V_OPTIONS[type];
  let exclusive: string | undefined;
  TUNNEL_COLUMNS.forEach((name, j) => {
    const rule = row[j];
    if (!options.has(name)) {
      if (rule === '+') fail(`You need to supply the '${name}' option for the '${type}' tunnel type`);
      return;
    }
    if (rule === 'x') fail(`Illegal '${name}' option with the '${type}' tunnel type`);
    if (rule === '1') {
      if (exclusive === undefined) exclusive = name;
      else fail(`The option '${name}' conflicts with the '${exclusive}' option in the '${type}' tunnel type`);
    }
  });
}

/**
 * Splits one line of `ipvsadm -R` input into words as ipvsadm's
 * config_stream does: blanks separate, every word `ipvsadm` is dropped, `#`
 * is an ordinary character. `undefined` for a line with no words.
 */
export function restoreLineWords(line: string): string[] | undefined {
  const words = line.split(/[ \t\r\n]+/).filter((w) => w !== '' && w !== 'ipvsadm');
  return words.length ? words : undefined;
}
