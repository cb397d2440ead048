/**
 * ipvsadm 1.31's command line, the parts every reader of it needs: the popt
 * option table and popt's way of reading words, ipvsadm's option columns and
 * its command/option and tunnel checks, and its value parsers (addresses,
 * numbers, netmasks, scheduler flags), each with ipvsadm's message.
 *
 * Shared by the `ipvsadm -S` rules reader (`rules.ts`) and the `ipvs-ts adm`
 * command line (`cli/adm-parse.ts`); each turns an {@link IpvsadmOptionError}
 * into its own kind of error.
 *
 * @internal
 * @module
 */

import type { Family, Protocol, TunnelOptions } from '../types.js';
import { inetAton, servicePortFromEtc } from './common.js';
import { numberToIPv4, formatIPv6, parseIPv6 } from '../address.js';

/** ipvsadm's commands (its cmdnames[], in table order). */
export const IPVSADM_COMMANDS = [
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
export type IpvsadmCommand = (typeof IPVSADM_COMMANDS)[number];

/** ipvsadm's option columns (its optnames[]): the names its messages use, in the order it checks them. */
export const OPTION_COLUMNS = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout', 'daemon',
  'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops', 'pe',
  'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info', 'tun-type',
  'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
] as const;
/** One of ipvsadm's option columns. */
export type OptionColumn = (typeof OPTION_COLUMNS)[number];

/** What follows an option: nothing, a required argument, or an optional one (`-p`). */
export type Arity = 'none' | 'required' | 'optional';

/** One entry of ipvsadm's popt option table. */
export interface OptionDef {
  /** Long name, without `--`. */
  long: string;
  /** Short letter, if any. */
  short?: string;
  arity: Arity;
  /** The command it selects (`help`/`version` print and exit); undefined for options. */
  command?: IpvsadmCommand | 'help' | 'version';
  /** The column it sets; undefined for commands, `--sort` and `-6`, which set none. */
  column?: OptionColumn;
}

/** ipvsadm's options_table, in its order. */
export const OPTION_DEFS: readonly OptionDef[] = [
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
  { long: 'tcp-service', short: 't', arity: 'required', column: 'service-address' },
  { long: 'udp-service', short: 'u', arity: 'required', column: 'service-address' },
  { long: 'sctp-service', arity: 'required', column: 'service-address' },
  { long: 'fwmark-service', short: 'f', arity: 'required', column: 'service-address' },
  { long: 'scheduler', short: 's', arity: 'required', column: 'scheduler' },
  { long: 'persistent', short: 'p', arity: 'optional', column: 'persistent' },
  { long: 'netmask', short: 'M', arity: 'required', column: 'netmask' },
  { long: 'real-server', short: 'r', arity: 'required', column: 'real-server' },
  { long: 'masquerading', short: 'm', arity: 'none', column: 'forwarding-method' },
  { long: 'ipip', short: 'i', arity: 'none', column: 'forwarding-method' },
  { long: 'gatewaying', short: 'g', arity: 'none', column: 'forwarding-method' },
  { long: 'weight', short: 'w', arity: 'required', column: 'weight' },
  { long: 'u-threshold', short: 'x', arity: 'required', column: 'u-threshold' },
  { long: 'l-threshold', short: 'y', arity: 'required', column: 'l-threshold' },
  { long: 'numeric', short: 'n', arity: 'none', column: 'numeric' },
  { long: 'connection', short: 'c', arity: 'none', column: 'connection' },
  { long: 'mcast-interface', arity: 'required', column: 'mcast-interface' },
  { long: 'syncid', arity: 'required', column: 'syncid' },
  { long: 'timeout', arity: 'none', column: 'timeout' },
  { long: 'daemon', arity: 'none', column: 'daemon' },
  { long: 'stats', arity: 'none', column: 'stats' },
  { long: 'rate', arity: 'none', column: 'rate' },
  { long: 'thresholds', arity: 'none', column: 'thresholds' },
  { long: 'persistent-conn', arity: 'none', column: 'persistent-conn' },
  { long: 'nosort', arity: 'none', column: 'nosort' },
  { long: 'sort', arity: 'none' },
  { long: 'exact', short: 'X', arity: 'none', column: 'exact' },
  { long: 'ipv6', short: '6', arity: 'none' },
  { long: 'ops', short: 'o', arity: 'none', column: 'ops' },
  { long: 'pe', arity: 'required', column: 'pe' },
  { long: 'sched-flags', short: 'b', arity: 'required', column: 'sched-flags' },
  { long: 'mcast-group', arity: 'required', column: 'mcast-group' },
  { long: 'mcast-port', arity: 'required', column: 'mcast-port' },
  { long: 'mcast-ttl', arity: 'required', column: 'mcast-ttl' },
  { long: 'sync-maxlen', arity: 'required', column: 'sync-maxlen' },
  { long: 'tun-info', arity: 'none', column: 'tun-info' },
  { long: 'tun-type', arity: 'required', column: 'tun-type' },
  { long: 'tun-port', arity: 'required', column: 'tun-port' },
  { long: 'tun-nocsum', arity: 'none', column: 'tun-nocsum' },
  { long: 'tun-csum', arity: 'none', column: 'tun-csum' },
  { long: 'tun-remcsum', arity: 'none', column: 'tun-remcsum' },
];

const BY_LONG = new Map(OPTION_DEFS.map((d) => [d.long, d]));
const BY_SHORT = new Map(OPTION_DEFS.filter((d) => d.short).map((d) => [d.short as string, d]));

// ---------------------------------------------------------------------------
// popt

/** popt's error kinds, in its words. */
export type PoptErrorText = 'unknown option' | 'option does not take an argument' | 'missing argument';

/**
 * One option as popt hands it over, or a popt error. `bad` is
 * `poptBadOption()` (the last word popt consumed); `spelled` is the option
 * alone, `--name` or `-x`, for messages that name it.
 */
export type PoptItem =
  | { kind: 'option'; def: OptionDef; value?: string; bad: string; spelled: string }
  | { kind: 'error'; text: PoptErrorText; bad: string; spelled: string };

/**
 * popt's reading of an argument vector, one option at a time (ipvsadm acts on
 * each before popt looks at the next, so a bad value fails before a later
 * unknown option is seen). Long options take `--name=value`; short ones
 * cluster (`-At`, `-w5`, `-w=5`: popt skips one `=`). Words that are not
 * options are kept in {@link Popt.leftovers} for `poptGetArg`.
 */
export class Popt {
  /** Words that were not options, in order (all after a `--`). */
  readonly leftovers: string[] = [];
  #i = 0;
  #cluster: { word: string; at: number } | undefined;
  #done = false;

  /** @param words - The argument vector, without the program name. */
  constructor(private readonly words: readonly string[]) {}

  /**
   * The next option or popt error.
   *
   * @returns `undefined` when the words are used up.
   */
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
    const spelled = `--${name}`;
    const def = BY_LONG.get(name);
    if (!def) return { kind: 'error', text: 'unknown option', bad: word, spelled };
    if (def.arity === 'none') {
      if (inline !== undefined) return { kind: 'error', text: 'option does not take an argument', bad: word, spelled };
      return { kind: 'option', def, bad: word, spelled };
    }
    if (inline !== undefined) return { kind: 'option', def, value: inline, bad: word, spelled };
    return this.#argument(def, word, spelled);
  }

  #short(): PoptItem {
    const c = this.#cluster as { word: string; at: number };
    const ch = c.word[c.at] as string;
    const spelled = `-${ch}`;
    const def = BY_SHORT.get(ch);
    c.at++;
    const rest = c.word.slice(c.at);
    if (rest === '') this.#cluster = undefined;
    if (!def) {
      this.#cluster = undefined;
      return { kind: 'error', text: 'unknown option', bad: c.word, spelled };
    }
    if (def.arity === 'none') return { kind: 'option', def, bad: c.word, spelled };
    this.#cluster = undefined;
    // popt takes the rest of the word as the argument, skipping one '='.
    if (rest !== '') return { kind: 'option', def, value: rest.startsWith('=') ? rest.slice(1) : rest, bad: c.word, spelled };
    return this.#argument(def, c.word, spelled);
  }

  /** The argument in the next word; an optional one only when that word is not an option. */
  #argument(def: OptionDef, word: string, spelled: string): PoptItem {
    const next = this.words[this.#i];
    if (def.arity === 'optional') {
      if (next === undefined || next.startsWith('-')) return { kind: 'option', def, bad: word, spelled };
      this.#i++;
      return { kind: 'option', def, value: next, bad: next, spelled };
    }
    if (next === undefined) return { kind: 'error', text: 'missing argument', bad: word, spelled };
    this.#i++;
    return { kind: 'option', def, value: next, bad: next, spelled };
  }
}

// ---------------------------------------------------------------------------
// ipvsadm's checks and value parsing

/** Something ipvsadm refuses with `fail(2, …)`; the message is ipvsadm's, without a newline. */
export class IpvsadmOptionError extends Error {
  /** @param message - ipvsadm's words. */
  constructor(message: string) {
    super(message);
    this.name = 'IpvsadmOptionError';
  }
}

/**
 * Refuses the command line with ipvsadm's message.
 *
 * @param message - ipvsadm's words.
 * @throws {@link IpvsadmOptionError} always.
 */
export function optionFail(message: string): never {
  throw new IpvsadmOptionError(message);
}

/** ipvsadm's upper bound for timeouts (`-p`, `--set`): 31 days. */
export const MAX_TIMEOUT = 86400 * 31;
const INT_MAX = 2147483647;
/** libipvs's IPVS_SVC_PERSISTENT_TIMEOUT: what `-p` without a value means (6 minutes). */
const DEFAULT_PERSISTENT_TIMEOUT = 360;

/**
 * ipvsadm's `string_to_number`: C `strtol` over the whole string (C blanks
 * and a sign allowed in front), then a range check.
 *
 * @returns The number, or `undefined` where ipvsadm gets -1.
 */
export function stringToNumber(s: string, min: number, max: number): number | undefined {
  if (!/^[ \t\n\v\f\r]*[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s.trim());
  return n >= min && n <= max ? n : undefined;
}

/**
 * A numeric option value in `[min, max]`, refused as ipvsadm does:
 * `illegal WHAT specified`.
 *
 * @param what - ipvsadm's name for it in the message (`weight`, `u_threshold`…).
 */
export function numberOption(value: string, min: number, max: number, what: string): number {
  const n = stringToNumber(value, min, max);
  if (n === undefined) optionFail(`illegal ${what} specified`);
  return n;
}

/** A weight or connection threshold: ipvsadm 1.31 as shipped takes any non-negative int (the kernel's own range). */
export function intOption(value: string, what: 'weight' | 'u_threshold' | 'l_threshold'): number {
  return numberOption(value, 0, INT_MAX, what);
}

/**
 * A timeout (`-p SECONDS`, `--set`), up to 31 days.
 *
 * @param value - The text; `undefined` for a bare `-p`, which means 360 s.
 * @param min - 1 for `-p`, 0 for `--set`.
 */
export function timeoutOption(value: string | undefined, min: number): number {
  if (value === undefined) return DEFAULT_PERSISTENT_TIMEOUT;
  const t = stringToNumber(value, min, MAX_TIMEOUT);
  if (t === undefined) optionFail(`invalid timeout value \`${value}' specified`);
  return t;
}

/** C `atoi`: leading digits after C blanks, as an `int`; 0 when there are none. */
export function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n | 0 : 0;
}

/** ipvsadm's gethostbyname/getservbyname, as the caller provides them. */
export interface OptionLookups {
  /** IPv4 address of a host name, or `undefined`. */
  hostByName?(name: string): string | undefined;
  /** Port of a service name for a protocol, or `undefined`. Default: `/etc/services`. */
  portByName?(name: string, protocol: Protocol): number | undefined;
}

/** An address as `-t`/`-u`/`-r` gave it. */
export interface ParsedAddress {
  family: Family;
  /** Canonical text. */
  address: string;
  /** Absent when the text had none. */
  port?: number;
}

/**
 * ipvsadm's `parse_service`: `[v6]:port`, bare IPv6 (no port), or
 * `v4[:port]` read by `inet_aton` (so `10.1` is 10.0.0.1) or, failing that,
 * the host lookup; ports by number or by service name for the protocol. Its
 * quirk that `[v4]:port` drops the port is kept.
 *
 * @returns `undefined` where ipvsadm sees no address.
 */
export function parseServiceAddress(
  buf: string,
  protocol: Protocol | undefined,
  lookups: OptionLookups,
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
  const v6 = parseIPv6(rest);
  let result: ParsedAddress;
  if (v6) {
    result = { family: 'inet6', address: formatIPv6(v6) };
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
    result = { family: 'inet', address: numberToIPv4(v4) };
  }
  if (portText !== undefined) {
    let port = stringToNumber(portText, 0, 65535);
    if (port === undefined && protocol) port = (lookups.portByName ?? servicePortFromEtc)(portText, protocol);
    if (port === undefined || port < 0 || port > 65535) return undefined;
    result.port = port;
  }
  return result;
}

/**
 * `-M`: for an IPv4 service (or none yet) a mask by `inet_aton` or host
 * lookup; for IPv6 a prefix length 1..128 read by `atoi`.
 *
 * @param family - The service's family as known at this point.
 * @returns The IPv4 mask as a number, or the IPv6 prefix length.
 */
export function parseNetmask(value: string, family: Family | undefined, lookups: OptionLookups): number {
  if (family !== 'inet6') {
    let m = inetAton(value);
    if (m === undefined) {
      const resolved = lookups.hostByName?.(value);
      if (resolved !== undefined) m = inetAton(resolved);
    }
    if (m === undefined) optionFail('illegal virtual server persistent mask specified');
    return m;
  }
  const m = atoi(value);
  if (m < 1 || m > 128) optionFail('illegal ipv6 netmask specified');
  return m;
}

/**
 * ipvsadm's `parse_sched_flags`: a comma list checked against the scheduler.
 *
 * @returns IP_VS_SVC_F_SCHED1..3 bits.
 */
export function parseSchedFlags(scheduler: string, arg: string): number {
  let bits = 0;
  const flags = arg.split(',').filter((f) => f !== '');
  // strtok on "" yields nothing and ipvsadm then reads a NULL (and crashes); refuse it in its words.
  if (flags.length === 0) optionFail(`invalid scheduler flag \`${arg}'`);
  for (const flag of flags) {
    if (/^flag-[123]$/.test(flag)) bits |= 1 << (Number(flag.slice(5)) - 1);
    else {
      const m = /^(sh|mh)-(fallback|port)$/.exec(flag);
      if (!m) optionFail(`invalid scheduler flag \`${flag}'`);
      bits |= m[2] === 'fallback' ? 1 : 2;
      if (scheduler !== m[1]) optionFail(`incompatible scheduler flag \`${flag}'`);
    }
  }
  return bits;
}

/** `--tun-type`: ipip, gue or gre. */
export function tunnelTypeOption(value: string): TunnelOptions['type'] {
  if (value !== 'ipip' && value !== 'gue' && value !== 'gre') optionFail('illegal tunnel type specified');
  return value;
}

/** ipvsadm's tun_flags bits as set by `--tun-nocsum` (none), `--tun-csum` and `--tun-remcsum`. */
export const TUN_CSUM_BITS = { 'tun-nocsum': 0, 'tun-csum': 1, 'tun-remcsum': 2 } as const;
const CHECKSUM_OF_BITS = ['nocsum', 'csum', 'remcsum'] as const;

/**
 * A tunnel real server's settings from ipvsadm's tun_type/tun_port/tun_flags.
 *
 * @param flags - {@link TUN_CSUM_BITS} or-ed together; anything else reads as `nocsum`.
 */
export function tunnelOptions(type: TunnelOptions['type'], port: number, flags: number): TunnelOptions {
  const checksum = CHECKSUM_OF_BITS[flags] ?? 'nocsum';
  return type === 'ipip' ? { type: 'ipip' } : type === 'gue' ? { type: 'gue', port, checksum } : { type: 'gre', checksum };
}

/**
 * ipvsadm's commands_v_options table, one character per column of
 * {@link OPTION_COLUMNS}: `+` required, `x` illegal, `1` at most one of these,
 * blank optional.
 */
const COMMANDS_V_OPTIONS: Record<IpvsadmCommand, string> = {
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
/** The tunnel columns {@link TUNNEL_V_OPTIONS} speaks of. */
export const TUNNEL_COLUMNS = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const;

/** One row of a `+`/`x`/`1` table over columns, with ipvsadm's three messages ending in `what`. */
function checkRow(row: string, columns: readonly string[], seen: ReadonlySet<string>, what: string): void {
  let exclusive: string | undefined;
  columns.forEach((name, j) => {
    const rule = row[j];
    if (!seen.has(name)) {
      if (rule === '+') optionFail(`You need to supply the '${name}' option for the ${what}`);
      return;
    }
    if (rule === 'x') optionFail(`Illegal '${name}' option with the ${what}`);
    if (rule === '1') {
      if (exclusive === undefined) exclusive = name;
      else optionFail(`The option '${name}' conflicts with the '${exclusive}' option in the ${what}`);
    }
  });
}

/**
 * ipvsadm's `generic_opt_check`: the columns a command needs, refuses and
 * allows one of, checked in column order.
 *
 * @param seen - The columns the command line set.
 */
export function checkCommandOptions(cmd: IpvsadmCommand, seen: ReadonlySet<OptionColumn>): void {
  checkRow(COMMANDS_V_OPTIONS[cmd], OPTION_COLUMNS, seen, `'${cmd}' command`);
}

/**
 * ipvsadm's `tunnel_opt_check`: the `--tun-*` options a tunnel type needs,
 * refuses and allows one of.
 *
 * @param seen - The columns the command line set.
 */
export function checkTunnelOptions(type: TunnelOptions['type'], seen: ReadonlySet<OptionColumn>): void {
  checkRow(TUNNEL_V_OPTIONS[type], TUNNEL_COLUMNS, seen, `'${type}' tunnel type`);
}
