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

import { inetAton } from '../ipvsadm/common.js';
import { formatIPv6, parseIPv6 } from '../address.js';
import {
  IPVSADM_COMMANDS,
  type IpvsadmCommand,
  IpvsadmOptionError,
  OPTION_COLUMNS,
  type OptionColumn,
  type OptionLookups,
  Popt,
  TUN_CSUM_BITS,
  TUNNEL_COLUMNS,
  checkCommandOptions,
  checkTunnelOptions,
  intOption,
  numberOption,
  // ipvsadm's fail(2, …), as the shared parsers fail: parseAdmArgs makes it an AdmExit.
  optionFail as fail,
  parseNetmask,
  parseSchedFlags,
  parseServiceAddress,
  timeoutOption,
  tunnelTypeOption,
} from '../ipvsadm/options.js';
import type { DaemonState, Family, Forwarding, Protocol } from '../types.js';

/** ipvsadm's commands (its cmdnames[], in table order). */
export const ADM_COMMANDS = IPVSADM_COMMANDS;
/** One of ipvsadm's commands. */
export type AdmCommandName = IpvsadmCommand;

/** ipvsadm's option columns (its optnames[]): the names its messages use, in the order it checks them. */
export const ADM_OPTIONS = OPTION_COLUMNS;
/** One of ipvsadm's option columns. */
export type AdmOptionName = OptionColumn;

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
export type AdmLookups = OptionLookups;

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
// Value parsing, as ipvsadm does it (the rest is in ipvsadm/options.ts)

const SCHEDNAME_MAX = 15;
const IFNAME_MAX = 15;

/** Cuts text to `max` bytes, as `strncpy` into a fixed buffer does. */
function cut(text: string, max: number): string {
  const b = Buffer.from(text);
  return b.length <= max ? text : b.subarray(0, max).toString();
}

function isMulticast4(address: string): boolean {
  const v = inetAton(address);
  return v !== undefined && v >>> 28 === 0xe;
}

// ---------------------------------------------------------------------------
// The command line

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
  try {
    return readAdmArgs(words, texts, lookups);
  } catch (e) {
    // The shared checks and value parsers refuse in ipvsadm's words: its fail(2, …).
    if (e instanceof IpvsadmOptionError) throw new AdmExit(2, `${e.message}\n`);
    throw e;
  }
}

function readAdmArgs(words: readonly string[], texts: AdmTexts, lookups: AdmLookups): AdmRequest {
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
  const command = first.def.command;
  if (command === 'help') throw new AdmExit(0, '', texts.usage());
  if (command === 'version') throw new AdmExit(0, '', texts.version());
  if (!command) throw tryHelp(texts);
  const cmd: AdmCommandName = command;
  if (cmd === 'start-daemon' || cmd === 'stop-daemon') {
    const v = first.value;
    if (v === 'master' || v === 'backup') daemon.state = v;
    else fail(cmd === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
  }

  for (let item = popt.next(); item; item = popt.next()) {
    if (item.kind === 'error') throw new AdmPoptError(255, `${item.bad}: ${item.text}\n`);
    const value = item.value ?? '';
    const column = item.def.column;
    if (column) {
      if (options.has(column)) fail(`multiple '${column}' options specified`);
      options.add(column);
    }
    switch (item.def.long) {
      case 'tcp-service':
      case 'udp-service':
      case 'sctp-service': {
        svc.protocol = item.def.long === 'tcp-service' ? 'tcp' : item.def.long === 'udp-service' ? 'udp' : 'sctp';
        const a = parseServiceAddress(value, svc.protocol, lookups);
        if (!a) fail('illegal virtual server address[:port] specified');
        svc.family = a.family;
        svc.address = a.address;
        if (a.family === 'inet6') svc.netmask = 128;
        if (a.port !== undefined) svc.port = a.port;
        break;
      }
      case 'fwmark-service': {
        svc.family = 'inet';
        svc.protocol = 'tcp';
        const n = /^[ \t\n\v\f\r]*[+-]?\d+$/.test(value) ? Number(value.trim()) : NaN;
        if (!(n > 0 && n <= 0xffffffff)) fail(`invalid fwmark value \`${value}' specified`);
        svc.fwmark = n;
        break;
      }
      case 'scheduler':
        svc.scheduler = cut(value, SCHEDNAME_MAX);
        break;
      case 'persistent':
        svc.persistent = timeoutOption(item.value, 1);
        break;
      case 'netmask':
        svc.netmask = parseNetmask(value, svc.family, lookups);
        break;
      case 'real-server': {
        const a = parseServiceAddress(value, svc.protocol, lookups);
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
        dest.forwarding = item.def.long === 'masquerading' ? 'masq' : item.def.long === 'ipip' ? 'tunnel' : 'route';
        break;
      case 'weight':
        dest.weight = intOption(value, 'weight');
        break;
      case 'u-threshold':
        dest.upper = intOption(value, 'u_threshold');
        break;
      case 'l-threshold':
        dest.lower = intOption(value, 'l_threshold');
        break;
      case 'connection':
      case 'timeout':
      case 'daemon':
        break;
      case 'numeric':
        format.numeric = true;
        break;
      case 'mcast-interface':
        daemon.iface = cut(value, IFNAME_MAX);
        break;
      case 'syncid':
        daemon.syncId = numberOption(value, 0, 255, 'syncid');
        break;
      case 'stats':
        format.stats = true;
        break;
      case 'rate':
        format.rate = true;
        break;
      case 'thresholds':
        format.thresholds = true;
        break;
      case 'persistent-conn':
        format.persistentConn = true;
        break;
      case 'nosort':
        format.nosort = true;
        break;
      case 'sort':
        break; // "does nothing, for backwards compatibility"
      case 'exact':
        format.exact = true;
        break;
      case 'ipv6':
        if (!svc.fwmark) fail('-6 used before -f\n');
        svc.family = 'inet6';
        svc.netmask = 128;
        break;
      case 'ops':
        svc.onePacket = true;
        break;
      case 'pe':
        svc.pe = value;
        break;
      case 'sched-flags':
        schedFlagsArg = value;
        break;
      case 'mcast-group':
        if (value.includes(':')) {
          const g = parseIPv6(value);
          if (!g || ((g[0] ?? 0) & 0xff00) !== 0xff00) fail(`invalid IPv6 mcast-group \`${value}'`);
          daemon.group = formatIPv6(g);
        } else {
          if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(value) || !isMulticast4(value) || value.split('.').some((o) => Number(o) > 255 || /^0\d/.test(o)))
            fail(`invalid IPv4 mcast-group \`${value}'`);
          daemon.group = value;
        }
        break;
      case 'mcast-port':
        daemon.port = numberOption(value, 1, 65535, 'mcast-port');
        break;
      case 'mcast-ttl':
        daemon.ttl = numberOption(value, 1, 255, 'mcast-ttl');
        break;
      case 'sync-maxlen':
        daemon.maxLength = numberOption(value, 1, 65535 - 20 - 8, 'sync-maxlen');
        break;
      case 'tun-info':
        format.tunInfo = true;
        break;
      case 'tun-type':
        dest.tunType = tunnelTypeOption(value);
        break;
      case 'tun-port':
        dest.tunPort = numberOption(value, 1, 65535, 'tunnel port');
        break;
      case 'tun-nocsum':
      case 'tun-csum':
      case 'tun-remcsum':
        dest.tunFlags |= TUN_CSUM_BITS[item.def.long];
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
    timeouts = { tcp: timeoutOption(a, 0), tcpFin: timeoutOption(b, 0), udp: timeoutOption(c, 0) };
  }
  if (popt.leftovers.length) fail(`unexpected argument ${popt.leftovers[0]}`);

  // ipvsadm parses the flags only when the argument is not empty (-b '' sets none).
  if (schedFlagsArg) svc.schedFlags = parseSchedFlags(svc.scheduler || 'wlc', schedFlagsArg);

  checkCommandOptions(cmd, options);

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

/**
 * Splits one line of `ipvsadm -R` input into words as ipvsadm's
 * config_stream does: blanks separate, every word `ipvsadm` is dropped, `#`
 * is an ordinary character. `undefined` for a line with no words.
 */
export function restoreLineWords(line: string): string[] | undefined {
  const words = line.split(/[ \t\r\n]+/).filter((w) => w !== '' && w !== 'ipvsadm');
  return words.length ? words : undefined;
}
