/**
 * Validation of every public input before anything reaches the kernel.
 *
 * Each validator throws a `TypeError` for a wrong type, a wrong shape, an
 * unknown enumeration value or an unknown property, and a `RangeError` for a
 * number (or a name's length) out of range. The message names the field path
 * and shows the offending value:
 *
 *     RangeError: destination.weight must be an integer 0–2147483647, got -1
 *     TypeError: service.address is not an IPv4 or IPv6 address: '10.0.0.300'
 *
 * Rules follow what the kernel (`net/netfilter/ipvs/ip_vs_ctl.c`,
 * `ip_vs_sync.c`) accepts, narrowed to what `ipvsadm` accepts where the kernel
 * would silently store something meaningless or something `ipvsadm -S` could
 * not write back (port 0 without persistence, one-packet scheduling on TCP,
 * tunnel options that do not fit the tunnel type, …).
 *
 * Unknown properties are errors, so a typo such as `wieght` cannot silently
 * fall back to a default. The fields that only the kernel reports (`stats`,
 * `rates`, connection counts, `family`) are accepted and ignored, so a value
 * read back can be fed straight into an update (but for forwarding `'local'`,
 * which is never written); a `family` given must agree with the address.
 *
 * @internal
 * @module
 */
import { Buffer } from 'node:buffer';
import { inspect } from 'node:util';

import { describeServiceKey, isFwmarkKey, schedulerFlagNames, serviceKeyFamily } from './convert.js';
import { addressFamily, ipv4ToNumber, isContiguousMask, parseIPv6 } from './address.js';
import { IFNAME_MAXLEN, SCHEDNAME_MAXLEN } from './kernel.js';
import type {
  DaemonSpec,
  DaemonState,
  DestinationKey,
  DestinationSpec,
  Family,
  BatchOp,
  SchedulerFlag,
  ServiceKey,
  ServiceSpec,
  Timeouts,
} from './types.js';

// ---------------------------------------------------------------------------
// Limits

/** Largest u32, the kernel's bound for fwmarks and thresholds. */
export const U32_MAX = 0xffffffff;
/** Largest weight: the kernel reads the u32 attribute into an `int` and refuses negatives. */
export const WEIGHT_MAX = 0x7fffffff;
/**
 * Largest persistence timeout in seconds: `ipvsadm`'s 31 days. The kernel
 * stores `timeout * HZ` in 32 bits without a check, so larger values could
 * wrap; 31 days stays clear of that for every HZ up to 1000.
 */
export const PERSISTENCE_TIMEOUT_MAX = 86400 * 31;
/**
 * Largest connection timeout in seconds: the kernel refuses more than
 * `INT_MAX / HZ`; HZ is invisible from user space, so this is the bound for the
 * largest HZ (1000), valid on every kernel.
 */
export const TIMEOUT_MAX = Math.floor(0x7fffffff / 1000);
/** Longest scheduler name (`IP_VS_SCHEDNAME_MAXLEN` less the NUL). */
export const SCHEDULER_NAME_MAX = SCHEDNAME_MAXLEN - 1;
/** Longest interface name (`IFNAMSIZ` less the NUL). */
export const INTERFACE_NAME_MAX = IFNAME_MAXLEN - 1;

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
const FAMILIES = ['inet', 'inet6'] as const;
const FORWARDINGS = ['route', 'masq', 'tunnel'] as const;
const TUNNEL_TYPES = ['ipip', 'gue', 'gre'] as const;
const CHECKSUMS = ['nocsum', 'csum', 'remcsum'] as const;
const DAEMON_STATES = ['master', 'backup'] as const;
const SCHEDULER_FLAGS: readonly SchedulerFlag[] = [
  'sh-fallback',
  'sh-port',
  'mh-fallback',
  'mh-port',
  'flag-1',
  'flag-2',
  'flag-3',
];
const BATCH_TYPES = [
  'addService',
  'updateService',
  'deleteService',
  'addDestination',
  'updateDestination',
  'deleteDestination',
] as const;
const SCHEDULER_NAME = /^[A-Za-z0-9_-]+$/;

const SERVICE_KEY_FIELDS = ['protocol', 'address', 'port', 'fwmark', 'family'];
const SERVICE_SPEC_FIELDS = [...SERVICE_KEY_FIELDS, 'scheduler', 'persistence', 'onePacket', 'schedulerFlags', 'persistenceEngine'];
// Reported by the kernel only; tolerated so a read-back value can be passed back.
const SERVICE_READ_ONLY = ['stats', 'rates', 'destinations'];
const DEST_SPEC_FIELDS = ['address', 'port', 'forwarding', 'weight', 'upperThreshold', 'lowerThreshold', 'tunnel'];
const DEST_READ_ONLY = ['family', 'activeConnections', 'inactiveConnections', 'persistentConnections', 'stats', 'rates'];
// Field lists are constants, not literals at the call: an array literal is a
// new array on every call, garbage that a 100 000-op batch would pay per op.
const PERSISTENCE_FIELDS = ['timeout', 'netmask'];
const TUNNEL_FIELDS = ['type', 'port', 'checksum'];
const TIMEOUT_FIELDS = ['tcp', 'tcpFin', 'udp'] as const;
const DAEMON_FIELDS = ['state', 'interface', 'syncId', 'maxLength', 'group', 'port', 'ttl'];
const SERVICE_OP_FIELDS = ['type', 'service'];
const DESTINATION_OP_FIELDS = ['type', 'service', 'destination'];
const NO_FIELDS: readonly string[] = [];
const PERSISTENCE_ENGINES = ['sip'] as const;

// ---------------------------------------------------------------------------
// Helpers

type Obj = Record<string, unknown>;

// Field paths. Messages name the field they are about (`ops[3].destination.weight`),
// but the path is only put into words when a message is: the validators push
// and pop segments, so a valid input concatenates no strings. (A 100 000-op
// batch used to build a dozen strings per op, 700 bytes of garbage each, and
// the collections they caused stalled the event loop.)
const pathSegments: (string | number)[] = [];
let pathDepth = 0; // segments in use; the array itself only grows (a shrunk one would be re-grown, allocating)

/** Makes `segment` (a name, or an index shown as `[i]`) the innermost field; returns the depth to go back to. */
function enter(segment: string | number): number {
  pathSegments[pathDepth] = segment;
  return pathDepth++;
}

/** Returns to the path as it was before the `enter()` that gave `depth`. */
function leave(depth: number): void {
  pathDepth = depth;
}

/** The current field's path, or that of its child `key`. */
function at(key?: string | number): string {
  let path = '';
  const segments = pathSegments.slice(0, pathDepth);
  if (key !== undefined) segments.push(key);
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else path += path === '' ? segment : `.${segment}`;
  }
  return path;
}

/** The offending value as it appears in messages: strings quoted, objects inline. */
function show(value: unknown): string {
  return inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 8, maxStringLength: 80 });
}

function quoteList(values: readonly string[]): string {
  const q = values.map((v) => `'${v}'`);
  return q.length <= 1 ? q.join('') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1] ?? ''}`;
}

function familyWord(f: Family): string {
  return f === 'inet6' ? 'IPv6' : 'IPv4';
}

/** The current field must be a plain object. */
function checkObject(value: unknown): asserts value is Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${at()} must be an object, got ${show(value)}`);
  }
}

/** Edit distance, for suggesting the property a typo meant. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

function checkKeys(obj: Obj, writable: readonly string[], readOnly: readonly string[] = NO_FIELDS): void {
  // for-in walks the shape's cached key list; Object.keys would copy it.
  for (const k in obj) {
    if (!Object.hasOwn(obj, k) || writable.includes(k) || readOnly.includes(k)) continue;
    let best: string | undefined;
    let bestD = 3;
    for (const w of writable) {
      const d = w.toLowerCase() === k.toLowerCase() ? 0 : distance(k, w);
      if (d < bestD) [best, bestD] = [w, d];
    }
    const hint = best === undefined ? '' : ` (did you mean '${best}'?)`;
    throw new TypeError(`${at()} has an unknown property '${k}'${hint}`);
  }
}

/** Checks field `key` is an integer in `[min, max]`; `undefined` passes when optional. */
function checkInt(value: unknown, key: string | undefined, min: number, max: number, optional: boolean, what = ''): void {
  if (value === undefined && optional) return;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return;
  const msg = `${at(key)} must be an integer ${min}–${max}${what}, got ${show(value)}`;
  throw typeof value === 'number' ? new RangeError(msg) : new TypeError(msg);
}

function checkEnum<T extends string>(value: unknown, key: string | number | undefined, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(`${at(key)} must be ${quoteList(allowed)}, got ${show(value)}`);
  }
}

function checkBoolean(value: unknown, key: string): void {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new TypeError(`${at(key)} must be true or false, got ${show(value)}`);
  }
}

/** Checks address text in field `key` and returns its family. */
function checkAddress(value: unknown, key: string): Family {
  const family = typeof value === 'string' ? addressFamily(value) : undefined;
  if (family === undefined) throw new TypeError(`${at(key)} is not an IPv4 or IPv6 address: ${show(value)}`);
  return family;
}

/** A `family` given beside an address must agree with it. */
function checkFamilyAgrees(obj: Obj, family: Family): void {
  if (obj.family === undefined) return;
  checkEnum(obj.family, 'family', FAMILIES);
  if (obj.family !== family) {
    throw new TypeError(
      `${at('family')} is '${obj.family}' but ${at('address')} ${show(obj.address)} is ${familyWord(family)}`,
    );
  }
}

/** Checks the identifying fields of a service and returns its family. */
function checkServiceKeyFields(obj: Obj): Family {
  const hasFwmark = obj.fwmark !== undefined;
  const hasAddress = obj.protocol !== undefined || obj.address !== undefined || obj.port !== undefined;
  if (hasFwmark && hasAddress) {
    throw new TypeError(`${at()} must name either an fwmark or a protocol, address and port, not both`);
  }
  if (!hasFwmark && !hasAddress) {
    throw new TypeError(`${at()} must have protocol, address and port, or fwmark, got ${show(obj)}`);
  }
  if (hasFwmark) {
    checkInt(obj.fwmark, 'fwmark', 1, U32_MAX, false);
    if (obj.family === undefined) return 'inet';
    checkEnum(obj.family, 'family', FAMILIES);
    return obj.family;
  }
  checkEnum(obj.protocol, 'protocol', PROTOCOLS);
  const family = checkAddress(obj.address, 'address');
  checkInt(obj.port, 'port', 0, 65535, false);
  checkFamilyAgrees(obj, family);
  return family;
}

// ---------------------------------------------------------------------------
// Services

/**
 * Validates a service key: `{ protocol, address, port }` (port 0–65535) or
 * `{ fwmark, family? }` (fwmark 1 to 2³²−1). Other fields of a spec or of a
 * service read back are accepted and ignored; unknown ones are refused.
 *
 * @param key - the value to check
 * @param field - the name of the value in messages
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateServiceKey(key: unknown, field = 'service'): asserts key is ServiceKey {
  const depth = enter(field);
  try {
    checkObject(key);
    checkKeys(key, SERVICE_SPEC_FIELDS, SERVICE_READ_ONLY);
    checkServiceKeyFields(key);
  } finally {
    leave(depth);
  }
}

/**
 * Validates a whole service spec for add or update: its key, and a scheduler
 * name of 1–15 characters from `[A-Za-z0-9_-]`; persistence with a timeout of
 * 1–2678400 s (31 days) and a netmask of the service's family (a contiguous
 * dotted mask for IPv4, a prefix length 1–128 for IPv6); port 0 only with
 * persistence; one-packet scheduling only for UDP and fwmark services;
 * scheduler flags known, unrepeated and named for the scheduler (`sh-*` need
 * `sh`, `mh-*` need `mh`, which call their first two flags by those names
 * rather than `flag-1`/`flag-2`); persistence engine `'sip'`, with persistence.
 *
 * @param spec - the value to check
 * @param field - the name of the value in messages
 * @param index - when given, the value is `field[index]`
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateServiceSpec(spec: unknown, field = 'service', index?: number): asserts spec is ServiceSpec {
  const depth = enter(field);
  if (index !== undefined) enter(index);
  try {
    checkServiceSpec(spec);
  } finally {
    leave(depth);
  }
}

function checkServiceSpec(spec: unknown): asserts spec is ServiceSpec {
  checkObject(spec);
  checkKeys(spec, SERVICE_SPEC_FIELDS, SERVICE_READ_ONLY);
  const family = checkServiceKeyFields(spec);

  let scheduler = 'wlc';
  if (spec.scheduler !== undefined) {
    const s = spec.scheduler;
    if (typeof s !== 'string') throw new TypeError(`${at('scheduler')} must be a scheduler name, got ${show(s)}`);
    if (s.length === 0 || s.length > SCHEDULER_NAME_MAX) {
      throw new RangeError(`${at('scheduler')} must be 1–${SCHEDULER_NAME_MAX} characters long, got ${show(s)}`);
    }
    if (!SCHEDULER_NAME.test(s)) {
      throw new TypeError(`${at('scheduler')} may hold only letters, digits, '_' and '-', got ${show(s)}`);
    }
    scheduler = s;
  }

  const persistent = spec.persistence !== undefined;
  if (persistent) checkPersistence(spec.persistence, family);

  if (spec.port === 0 && !persistent) {
    throw new RangeError(`${at('port')} 0 (all ports) needs persistence, got ${show(spec.port)} without it`);
  }

  checkBoolean(spec.onePacket, 'onePacket');
  if (spec.onePacket === true && spec.protocol !== undefined && spec.protocol !== 'udp') {
    throw new TypeError(`${at('onePacket')} is only for udp and fwmark services, got protocol ${show(spec.protocol)}`);
  }

  if (spec.schedulerFlags !== undefined) checkSchedulerFlags(spec.schedulerFlags, scheduler);

  if (spec.persistenceEngine !== undefined) {
    checkEnum(spec.persistenceEngine, 'persistenceEngine', PERSISTENCE_ENGINES);
    if (!persistent) throw new TypeError(`${at('persistenceEngine')} needs persistence`);
  }
}

function checkPersistence(value: unknown, family: Family): void {
  const depth = enter('persistence');
  try {
    checkObject(value);
    checkKeys(value, PERSISTENCE_FIELDS);
    checkInt(value.timeout, 'timeout', 1, PERSISTENCE_TIMEOUT_MAX, false);
    const m = value.netmask;
    if (m === undefined) return;
    if (family === 'inet') {
      if (typeof m !== 'string' || addressFamily(m) !== 'inet') {
        throw new TypeError(`${at('netmask')} must be a dotted IPv4 mask for an IPv4 service, got ${show(m)}`);
      }
      if (!isContiguousMask(ipv4ToNumber(m))) {
        throw new RangeError(`${at('netmask')} must be a contiguous mask such as '255.255.255.0', got ${show(m)}`);
      }
      return;
    }
    if (typeof m === 'number' && Number.isInteger(m) && m >= 1 && m <= 128) return;
    // The kernel refuses prefix 0 (EINVAL), unlike an IPv4 mask of 0.0.0.0.
    const msg = `${at('netmask')} must be a prefix length 1–128 for an IPv6 service, got ${show(m)}`;
    throw typeof m === 'number' ? new RangeError(msg) : new TypeError(msg);
  } finally {
    leave(depth);
  }
}

function checkSchedulerFlags(value: unknown, scheduler: string): void {
  const depth = enter('schedulerFlags');
  try {
    if (!Array.isArray(value)) throw new TypeError(`${at()} must be an array of scheduler flags, got ${show(value)}`);
    const names = schedulerFlagNames(scheduler);
    const seen = new Set<string>();
    for (let i = 0; i < value.length; i++) {
      const flag: unknown = value[i];
      checkEnum(flag, i, SCHEDULER_FLAGS);
      if (seen.has(flag)) throw new TypeError(`${at()} repeats ${show(flag)}`);
      seen.add(flag);
      if ((names as readonly string[]).includes(flag)) continue;
      const owner = flag.startsWith('sh-') ? 'sh' : flag.startsWith('mh-') ? 'mh' : undefined;
      if (owner !== undefined) throw new TypeError(`${at(i)} ${show(flag)} needs scheduler '${owner}', got ${show(scheduler)}`);
      // flag-1/flag-2 under sh or mh: the kernel holds the same bit, read back by its name.
      const name = names[flag === 'flag-1' ? 0 : 1];
      throw new TypeError(`${at(i)} ${show(flag)} is called '${name}' with scheduler ${show(scheduler)}`);
    }
  } finally {
    leave(depth);
  }
}

// ---------------------------------------------------------------------------
// Destinations

/**
 * Validates a destination key (`{ address, port? }`, port 0–65535) within a
 * service already validated. Other fields of a spec or of a destination read
 * back are accepted and ignored; unknown ones are refused.
 *
 * @param key - the value to check
 * @param serviceKey - the (valid) service the destination belongs to
 * @param field - the name of the value in messages
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateDestinationKey(
  key: unknown,
  serviceKey: ServiceKey,
  field = 'destination',
): asserts key is DestinationKey {
  void serviceKey; // Any family may be named when deleting: the kernel checks none.
  const depth = enter(field);
  try {
    checkObject(key);
    checkKeys(key, DEST_SPEC_FIELDS, DEST_READ_ONLY);
    const family = checkAddress(key.address, 'address');
    checkFamilyAgrees(key, family);
    checkInt(key.port, 'port', 0, 65535, true);
  } finally {
    leave(depth);
  }
}

/**
 * Validates a whole destination spec for add or update within a service
 * already validated: address; port 0–65535, and equal to the service's for
 * `route` and `tunnel` forwarding on non-fwmark services (those packets keep
 * their port; `ipvsadm` forces it); forwarding `route`/`masq`/`tunnel`; weight
 * 0–2147483647; thresholds 0 to 2³²−1 with lower ≤ upper (the kernel refuses
 * lower > upper even when upper is 0, "no limit"); the address family the
 * service's unless forwarding is `tunnel`; tunnel options only with
 * `tunnel` forwarding and fitting the type (`gue` needs a port 1–65535;
 * `ipip` and `gre` take no port, `ipip` no checksum mode, `gre` no
 * `remcsum`; a port of 0 and `nocsum`, as read back, pass).
 *
 * @param spec - the value to check
 * @param serviceKey - the (valid) service the destination belongs to
 * @param field - the name of the value in messages
 * @param index - when given, the value is `field[index]`
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateDestinationSpec(
  spec: unknown,
  serviceKey: ServiceKey,
  field = 'destination',
  index?: number,
): asserts spec is DestinationSpec {
  const depth = enter(field);
  if (index !== undefined) enter(index);
  try {
    checkDestinationSpec(spec, serviceKey);
  } finally {
    leave(depth);
  }
}

function checkDestinationSpec(spec: unknown, serviceKey: ServiceKey): asserts spec is DestinationSpec {
  checkObject(spec);
  checkKeys(spec, DEST_SPEC_FIELDS, DEST_READ_ONLY);
  const family = checkAddress(spec.address, 'address');
  checkFamilyAgrees(spec, family);
  checkInt(spec.port, 'port', 0, 65535, true);
  if (spec.forwarding !== undefined) checkEnum(spec.forwarding, 'forwarding', FORWARDINGS);
  const forwarding = spec.forwarding ?? 'route';
  checkInt(spec.weight, 'weight', 0, WEIGHT_MAX, true);
  checkInt(spec.upperThreshold, 'upperThreshold', 0, U32_MAX, true);
  checkInt(spec.lowerThreshold, 'lowerThreshold', 0, U32_MAX, true);
  const upper = (spec.upperThreshold as number | undefined) ?? 0;
  const lower = (spec.lowerThreshold as number | undefined) ?? 0;
  if (lower > upper) {
    throw new RangeError(`${at('lowerThreshold')} must be at most upperThreshold (${upper}), got ${lower}`);
  }

  const serviceFamily = serviceKeyFamily(serviceKey);
  if (family !== serviceFamily && forwarding !== 'tunnel') {
    throw new TypeError(
      `${at('address')} ${show(spec.address)} is ${familyWord(family)} but service ${describeServiceKey(serviceKey)} ` +
        `is ${familyWord(serviceFamily)}; only forwarding 'tunnel' may mix families`,
    );
  }
  if (!isFwmarkKey(serviceKey) && forwarding !== 'masq' && spec.port !== undefined && spec.port !== serviceKey.port) {
    throw new RangeError(
      `${at('port')} must be the service's port ${serviceKey.port} with forwarding '${forwarding}', got ${show(spec.port)}: ` +
        `only 'masq' rewrites the port; with '${forwarding}' the packet reaches the real server with the port the client used`,
    );
  }

  if (spec.tunnel === undefined) return;
  if (forwarding !== 'tunnel') {
    throw new TypeError(`${at('tunnel')} needs forwarding 'tunnel', got forwarding ${show(forwarding)}`);
  }
  checkTunnel(spec.tunnel);
}

function checkTunnel(value: unknown): void {
  const depth = enter('tunnel');
  try {
    checkObject(value);
    checkKeys(value, TUNNEL_FIELDS);
    checkEnum(value.type, 'type', TUNNEL_TYPES);
    const type = value.type;
    if (type === 'gue') {
      if (value.port === undefined) throw new TypeError(`${at('port')} is required for a 'gue' tunnel`);
      checkInt(value.port, 'port', 1, 65535, false, " for a 'gue' tunnel");
    } else {
      checkInt(value.port, 'port', 0, 65535, true);
      if (value.port !== undefined && value.port !== 0) {
        throw new TypeError(`${at('port')} is only for 'gue' tunnels, got ${show(value.port)} for '${type}'`);
      }
    }
    if (value.checksum === undefined) return;
    checkEnum(value.checksum, 'checksum', CHECKSUMS);
    if (type === 'ipip' && value.checksum !== 'nocsum') {
      throw new TypeError(`${at('checksum')} is only for 'gue' and 'gre' tunnels, got ${show(value.checksum)} for 'ipip'`);
    }
    if (type === 'gre' && value.checksum === 'remcsum') {
      throw new TypeError(`${at('checksum')} 'remcsum' is only for 'gue' tunnels`);
    }
  } finally {
    leave(depth);
  }
}

// ---------------------------------------------------------------------------
// Timeouts and daemons

/**
 * Validates timeouts for `setTimeouts`: any of `tcp`, `tcpFin`, `udp`, each an
 * integer 0–2147483 seconds (0 keeps the current value).
 *
 * @param partial - the value to check
 * @param field - the name of the value in messages
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateTimeouts(partial: unknown, field = 'timeouts'): asserts partial is Partial<Timeouts> {
  const depth = enter(field);
  try {
    checkObject(partial);
    checkKeys(partial, TIMEOUT_FIELDS);
    for (const k of TIMEOUT_FIELDS) checkInt(partial[k], k, 0, TIMEOUT_MAX, true);
  } finally {
    leave(depth);
  }
}

const SNAPSHOT_FIELDS = ['consistent', 'maxReads'] as const;
/** The most reads a consistent snapshot may take. */
export const SNAPSHOT_READS_MAX = 100;

/**
 * Validates the options of `Ipvs.snapshot()`.
 *
 * @param options - the value to check
 * @param field - the name of the value in messages
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateSnapshotOptions(options: unknown, field = 'options'): void {
  const depth = enter(field);
  try {
    checkObject(options);
    checkKeys(options, SNAPSHOT_FIELDS);
    if (options.consistent !== undefined) checkBoolean(options.consistent, 'consistent');
    checkInt(options.maxReads, 'maxReads', 2, SNAPSHOT_READS_MAX, true);
  } finally {
    leave(depth);
  }
}

const OPEN_FIELDS = ['netns', 'replyTimeout'] as const;
/** The longest reply timeout: what a 32-bit millisecond count holds. */
export const REPLY_TIMEOUT_MAX = 2 ** 31 - 1;

/**
 * Validates the options of `Ipvs.open()` (the namespace itself is checked
 * when it is resolved).
 *
 * @param options - the value to check
 * @param field - the name of the value in messages
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateOpenOptions(options: unknown, field = 'options'): void {
  const depth = enter(field);
  try {
    checkObject(options);
    checkKeys(options, OPEN_FIELDS);
    checkInt(options.replyTimeout, 'replyTimeout', 1, REPLY_TIMEOUT_MAX, true, ' ms');
  } finally {
    leave(depth);
  }
}

/**
 * Validates a daemon role: `'master'` or `'backup'`.
 *
 * @param state - the value to check
 * @param field - the name of the value in messages
 * @throws TypeError naming the field and the value
 */
export function validateDaemonState(state: unknown, field = 'state'): asserts state is DaemonState {
  const depth = enter(field);
  try {
    checkEnum(state, undefined, DAEMON_STATES);
  } finally {
    leave(depth);
  }
}

/**
 * Validates a sync daemon spec: state; interface a valid Linux interface name
 * (1–15 bytes, none of `/`, `:`, white space, not `.` or `..`); sync id 0–255;
 * multicast group IPv4 224.0.0.0/4 or IPv6 ff00::/8; port 1–65535; TTL 1–255;
 * maximum length within what the kernel keeps rather than clamps: from 1
 * (master) or 1024 (backup) to 65535 less the IP and UDP headers (65507 for an
 * IPv4 group, 65487 for IPv6).
 *
 * @param spec - the value to check
 * @param field - the name of the value in messages
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateDaemonSpec(spec: unknown, field = 'daemon'): asserts spec is DaemonSpec {
  const depth = enter(field);
  try {
    checkDaemonSpec(spec);
  } finally {
    leave(depth);
  }
}

function checkDaemonSpec(spec: unknown): asserts spec is DaemonSpec {
  checkObject(spec);
  checkKeys(spec, DAEMON_FIELDS);
  checkEnum(spec.state, 'state', DAEMON_STATES);
  const ifname = spec.interface;
  if (typeof ifname !== 'string') throw new TypeError(`${at('interface')} must be an interface name, got ${show(ifname)}`);
  const bytes = Buffer.byteLength(ifname);
  if (bytes === 0 || bytes > INTERFACE_NAME_MAX) {
    throw new RangeError(`${at('interface')} must be 1–${INTERFACE_NAME_MAX} bytes long, got ${show(ifname)}`);
  }
  // The kernel's dev_valid_name().
  if (ifname === '.' || ifname === '..' || /[/:\s\0]/.test(ifname)) {
    throw new TypeError(`${at('interface')} is not a valid interface name: ${show(ifname)}`);
  }
  checkInt(spec.syncId, 'syncId', 0, 255, true);
  let groupFamily: Family = 'inet';
  if (spec.group !== undefined) {
    groupFamily = checkAddress(spec.group, 'group');
    if (!isMulticast(spec.group as string, groupFamily)) {
      throw new RangeError(`${at('group')} must be a multicast address (224.0.0.0/4 or ff00::/8), got ${show(spec.group)}`);
    }
  }
  checkInt(spec.port, 'port', 1, 65535, true);
  checkInt(spec.ttl, 'ttl', 1, 255, true);
  const min = spec.state === 'backup' ? 1024 : 1;
  const max = 65535 - (groupFamily === 'inet6' ? 40 : 20) - 8;
  checkInt(spec.maxLength, 'maxLength', min, max, true, ` for a ${spec.state} daemon with an ${familyWord(groupFamily)} group`);
}

function isMulticast(address: string, family: Family): boolean {
  if (family === 'inet') return ipv4ToNumber(address) >>> 28 === 0xe;
  return ((parseIPv6(address)?.[0] ?? 0) & 0xff00) === 0xff00;
}

// ---------------------------------------------------------------------------
// Batches

/**
 * The operations of a batch must be an array (each is checked by
 * {@link validateBatchOp}).
 *
 * @throws TypeError naming `ops` and the value
 */
export function validateBatchOps(ops: unknown): asserts ops is readonly unknown[] {
  if (!Array.isArray(ops)) throw new TypeError(`ops must be an array of operations, got ${show(ops)}`);
}

/**
 * Validates one {@link BatchOp}: its `type`, and its `service` (a whole spec
 * for add/update of a service, a key otherwise) and `destination` (a whole spec
 * for add/update of a destination, a key for delete; absent for service ops),
 * with the same rules as the single calls. Field paths start at `field`.
 *
 * @param op - the value to check
 * @param field - the name of the value in messages, such as `ops`
 * @param index - when given, the value is `field[index]` (`ops[3]`)
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateBatchOp(op: unknown, field = 'op', index?: number): asserts op is BatchOp {
  const depth = enter(field);
  if (index !== undefined) enter(index);
  try {
    checkObject(op);
    checkEnum(op.type, 'type', BATCH_TYPES);
    const type = op.type;
    if (type === 'addService' || type === 'updateService' || type === 'deleteService') {
      checkKeys(op, SERVICE_OP_FIELDS);
      if (type === 'deleteService') validateServiceKey(op.service, 'service');
      else validateServiceSpec(op.service, 'service');
      return;
    }
    checkKeys(op, DESTINATION_OP_FIELDS);
    validateServiceKey(op.service, 'service');
    if (type === 'deleteDestination') validateDestinationKey(op.destination, op.service, 'destination');
    else validateDestinationSpec(op.destination, op.service, 'destination');
  } finally {
    leave(depth);
  }
}

const CONNECTION_FILTER_FIELDS = ['service', 'destination', 'templates'] as const;
const CONNECTION_DESTINATION_FIELDS = ['address', 'port'] as const;

/**
 * Validates the filter of `Ipvs.connections()`: a service by protocol,
 * address and port (not a fwmark: the connection table does not record
 * marks), a real server's address and optional port, `templates` a boolean.
 *
 * @param filter - the value to check
 * @param field - the name of the value in messages
 * @throws TypeError | RangeError naming the field and the value
 */
export function validateConnectionFilter(filter: unknown, field = 'filter'): void {
  const depth = enter(field);
  try {
    checkObject(filter);
    checkKeys(filter, CONNECTION_FILTER_FIELDS);
    if (filter.service !== undefined) {
      const inner = enter('service');
      checkObject(filter.service);
      if (filter.service.fwmark !== undefined) {
        throw new TypeError(`${at()} is a fwmark service, which the connection table cannot tell apart (it records no marks): filter by destination`);
      }
      leave(inner);
      validateServiceKey(filter.service, at('service'));
    }
    if (filter.destination !== undefined) {
      const inner = enter('destination');
      checkObject(filter.destination);
      checkKeys(filter.destination, CONNECTION_DESTINATION_FIELDS);
      checkAddress(filter.destination.address, 'address');
      checkInt(filter.destination.port, 'port', 0, 65535, true);
      leave(inner);
    }
    if (filter.templates !== undefined) checkBoolean(filter.templates, 'templates');
  } finally {
    leave(depth);
  }
}
