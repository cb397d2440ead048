/**
 * The addon's record format, both ways (`native/ipvs/records.h`).
 *
 * Requests: validated service and destination commands packed into
 * fixed-size records, numbers only, names by index. Writing a record
 * allocates nothing, so a batch of a hundred thousand operations costs the
 * garbage collector next to nothing.
 *
 * Replies: services and destinations come back the same way and are read
 * straight into the public objects, with no intermediate objects built by
 * the addon.
 *
 * @internal
 * @module
 */
import { DEFAULT_NETMASK_V4, DEFAULT_NETMASK_V6, DEFAULT_SCHEDULER, DEFAULT_WEIGHT, CHECKSUM_NUMBER, FORWARDING_NUMBER, PROTOCOL_NUMBER, TUNNEL_TYPE_NUMBER, destinationPort, isFwmarkKey, rawToChecksum, rawToFamily, rawToForwarding, rawToProtocol, rawToTunnelType, schedulerFlagNames, schedulerFlagsToRaw } from './convert.js';
import { formatIPv6, ipv4ToNumber, numberToIPv4, parseIPv6 } from './address.js';
import {
  AF_INET,
  AF_INET6,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
} from './kernel.js';
import type { Reply } from './native-types.js';
import type {
  Destination,
  DestinationKey,
  DestinationSpec,
  Rates,
  SchedulerFlag,
  Service,
  ServiceKey,
  ServiceSpec,
  ServiceWithDestinations,
  Stats,
} from './types.js';

// Word offsets; must match native/ipvs/records.h.
const W_CMD = 0;
const W_SVC_FAMILY = 1;
const W_SVC_PROTOCOL = 2;
const W_SVC_ADDR = 3;
const W_SVC_PORT = 7;
const W_SVC_FWMARK = 8;
const W_SVC_SCHEDULER = 9;
const W_SVC_FLAGS = 10;
const W_SVC_TIMEOUT = 11;
const W_SVC_NETMASK = 12;
const W_SVC_PE = 13;
const W_DEST_FAMILY = 14;
const W_DEST_ADDR = 15;
const W_DEST_PORT = 19;
const W_DEST_FWD = 20;
const W_DEST_WEIGHT = 21;
const W_DEST_UPPER = 22;
const W_DEST_LOWER = 23;
const W_DEST_TUN_TYPE = 24;
const W_DEST_TUN_PORT = 25;
const W_DEST_TUN_FLAGS = 26;
/** Words per record. */
export const RECORD_WORDS = 28;
const NO_NAME = 0xffffffff;
/** Service flags that show as settings (persistence, one-packet, scheduler flags). */
const SERVICE_OPTION_FLAGS = SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;

/**
 * A growable run of records and the names they index. `reset()` makes it
 * reusable: the addon copies the records out during the call that takes them.
 */
export class RecordWriter {
  #words: Uint32Array;
  #bytes: Uint8Array;
  #names: string[] = [];
  #nameIndex = new Map<string, number>();
  /** Records written since the last reset. */
  count = 0;

  constructor(capacity = 64) {
    this.#words = new Uint32Array(capacity * RECORD_WORDS);
    this.#bytes = new Uint8Array(this.#words.buffer);
  }

  /** Forgets every record and name; keeps the memory. */
  reset(): void {
    this.count = 0;
    this.#names.length = 0;
    this.#nameIndex.clear();
  }

  /** The records written, as the addon takes them (a view, not a copy). */
  get records(): Uint8Array {
    return this.#bytes.subarray(0, this.count * RECORD_WORDS * 4);
  }

  /** The names the records index. */
  get names(): string[] {
    return this.#names;
  }

  #start(cmd: number): number {
    if ((this.count + 1) * RECORD_WORDS > this.#words.length) {
      const grown = new Uint32Array(Math.max(this.#words.length * 2, RECORD_WORDS));
      grown.set(this.#words);
      this.#words = grown;
      this.#bytes = new Uint8Array(grown.buffer);
    }
    const base = this.count++ * RECORD_WORDS;
    this.#words.fill(0, base, base + RECORD_WORDS);
    this.#words[base + W_CMD] = cmd;
    this.#words[base + W_SVC_SCHEDULER] = NO_NAME;
    this.#words[base + W_SVC_PE] = NO_NAME;
    return base;
  }

  #name(name: string): number {
    let i = this.#nameIndex.get(name);
    if (i === undefined) {
      i = this.#names.push(name) - 1;
      this.#nameIndex.set(name, i);
    }
    return i;
  }

  /** Address bytes in network order at word `at`; returns AF_INET or AF_INET6. */
  #address(at: number, text: string): number {
    const byteAt = at * 4;
    if (text.includes(':')) {
      const groups = parseIPv6(text) ?? [];
      for (let g = 0; g < 8; g++) {
        const v = groups[g] ?? 0;
        this.#bytes[byteAt + 2 * g] = v >>> 8;
        this.#bytes[byteAt + 2 * g + 1] = v & 0xff;
      }
      return AF_INET6;
    }
    // Validated dotted quad: parse by character, no temporary strings.
    let octet = 0;
    let i = 0;
    for (let c = 0; c < text.length; c++) {
      const ch = text.charCodeAt(c);
      if (ch === 46 /* . */) {
        this.#bytes[byteAt + i++] = octet;
        octet = 0;
      } else {
        octet = octet * 10 + (ch - 48);
      }
    }
    this.#bytes[byteAt + i] = octet;
    return AF_INET;
  }

  #serviceKey(base: number, key: ServiceKey): void {
    const w = this.#words;
    if (isFwmarkKey(key)) {
      w[base + W_SVC_FAMILY] = key.family === 'inet6' ? AF_INET6 : AF_INET;
      w[base + W_SVC_FWMARK] = key.fwmark;
      w[base + W_SVC_NETMASK] = key.family === 'inet6' ? DEFAULT_NETMASK_V6 : DEFAULT_NETMASK_V4;
      return;
    }
    w[base + W_SVC_FAMILY] = this.#address(base + W_SVC_ADDR, key.address);
    w[base + W_SVC_PROTOCOL] = PROTOCOL_NUMBER[key.protocol];
    w[base + W_SVC_PORT] = key.port;
    w[base + W_SVC_NETMASK] = w[base + W_SVC_FAMILY] === AF_INET6 ? DEFAULT_NETMASK_V6 : DEFAULT_NETMASK_V4;
  }

  /** A command that names a service only (DEL_SERVICE, ZERO, GET). */
  serviceKey(cmd: number, key: ServiceKey): void {
    this.#serviceKey(this.#start(cmd), key);
  }

  /**
   * A command that carries a whole service (NEW/SET_SERVICE). Defaults:
   * scheduler `'wlc'`; netmask all ones unless persistence gives one (sent
   * for non-persistent services too, as `ipvsadm` does); no persistence
   * engine, which clears one on update.
   */
  serviceSpec(cmd: number, spec: ServiceSpec): void {
    const base = this.#start(cmd);
    this.#serviceKey(base, spec);
    const w = this.#words;
    w[base + W_SVC_SCHEDULER] = this.#name(spec.scheduler ?? DEFAULT_SCHEDULER);
    let flags = 0;
    if (spec.persistence) {
      flags |= SVC_F_PERSISTENT;
      w[base + W_SVC_TIMEOUT] = spec.persistence.timeout;
      const m = spec.persistence.netmask;
      if (typeof m === 'number') w[base + W_SVC_NETMASK] = m;
      else if (typeof m === 'string') w[base + W_SVC_NETMASK] = ipv4ToNumber(m);
    }
    if (spec.onePacket) flags |= SVC_F_ONEPACKET;
    if (spec.schedulerFlags) flags |= schedulerFlagsToRaw(spec.schedulerFlags);
    w[base + W_SVC_FLAGS] = flags;
    if (spec.persistenceEngine) w[base + W_SVC_PE] = this.#name(spec.persistenceEngine);
  }

  #destinationKey(base: number, service: ServiceKey, dest: DestinationKey): void {
    this.#words[base + W_DEST_FAMILY] = this.#address(base + W_DEST_ADDR, dest.address);
    this.#words[base + W_DEST_PORT] = destinationPort(dest.port, service);
  }

  /** DEL_DEST: the service's key and the destination's address and port. */
  destinationKey(cmd: number, service: ServiceKey, dest: DestinationKey): void {
    const base = this.#start(cmd);
    this.#serviceKey(base, service);
    this.#destinationKey(base, service, dest);
  }

  /**
   * NEW/SET_DEST: the service's key and a whole destination. Defaults: port
   * the service's; forwarding `'route'`; weight 1; thresholds 0; tunnel
   * forwarding carries type `ipip`, port 0 and no checksum unless given.
   */
  destinationSpec(cmd: number, service: ServiceKey, spec: DestinationSpec): void {
    const base = this.#start(cmd);
    this.#serviceKey(base, service);
    this.#destinationKey(base, service, spec);
    const w = this.#words;
    const forwarding = spec.forwarding ?? 'route';
    w[base + W_DEST_FWD] = FORWARDING_NUMBER[forwarding];
    w[base + W_DEST_WEIGHT] = spec.weight ?? DEFAULT_WEIGHT;
    w[base + W_DEST_UPPER] = spec.upperThreshold ?? 0;
    w[base + W_DEST_LOWER] = spec.lowerThreshold ?? 0;
    if (forwarding === 'tunnel') {
      w[base + W_DEST_TUN_TYPE] = TUNNEL_TYPE_NUMBER[spec.tunnel?.type ?? 'ipip'];
      w[base + W_DEST_TUN_PORT] = spec.tunnel?.port ?? 0;
      w[base + W_DEST_TUN_FLAGS] = CHECKSUM_NUMBER[spec.tunnel?.checksum ?? 'nocsum'];
    }
  }

  /** A command with no payload (FLUSH, ZERO of every service). */
  bare(cmd: number): void {
    this.#start(cmd);
  }

  /** Reads back one word of record `index` (for tests). */
  word(index: number, offset: number): number {
    return this.#words[index * RECORD_WORDS + offset] ?? 0;
  }
}

/** Word offsets, exported for tests that decode records. */
export const RECORD_OFFSETS = {
  cmd: W_CMD,
  svcFamily: W_SVC_FAMILY,
  svcProtocol: W_SVC_PROTOCOL,
  svcAddr: W_SVC_ADDR,
  svcPort: W_SVC_PORT,
  svcFwmark: W_SVC_FWMARK,
  svcScheduler: W_SVC_SCHEDULER,
  svcFlags: W_SVC_FLAGS,
  svcTimeout: W_SVC_TIMEOUT,
  svcNetmask: W_SVC_NETMASK,
  svcPe: W_SVC_PE,
  destFamily: W_DEST_FAMILY,
  destAddr: W_DEST_ADDR,
  destPort: W_DEST_PORT,
  destFwd: W_DEST_FWD,
  destWeight: W_DEST_WEIGHT,
  destUpper: W_DEST_UPPER,
  destLower: W_DEST_LOWER,
  destTunType: W_DEST_TUN_TYPE,
  destTunPort: W_DEST_TUN_PORT,
  destTunFlags: W_DEST_TUN_FLAGS,
} as const;

// ---------------------------------------------------------------------------
// Replies: fixed-size records from native/ipvs/records.h, read straight into
// the public objects.

// Word offsets of reply records; must match native/ipvs/records.h.
const R_WORDS = 40;
const RS_DEST_COUNT = 0;
const RS_FAMILY = 1;
const RS_PROTOCOL = 2;
const RS_ADDR = 3;
const RS_PORT = 7;
const RS_FWMARK = 8;
const RS_SCHEDULER = 9;
const RS_FLAGS = 10;
const RS_TIMEOUT = 11;
const RS_NETMASK = 12;
const RS_PE = 13;
const RD_FAMILY = 0;
const RD_ADDR = 1;
const RD_PORT = 5;
const RD_FWD = 6;
const RD_WEIGHT = 7;
const RD_UPPER = 8;
const RD_LOWER = 9;
const RD_HAS_TUNNEL = 10;
const RD_TUN_TYPE = 11;
const RD_TUN_PORT = 12;
const RD_TUN_FLAGS = 13;
const RD_ACTIVE = 14;
const RD_INACTIVE = 15;
const RD_PERSISTENT = 16;
const R_HAS_STATS = 18;
const R_STATS = 20;

/** Reply word offsets, exported for tests that check them against records.h. */
export const REPLY_OFFSETS = {
  replyWords: R_WORDS,
  rsDestCount: RS_DEST_COUNT,
  rsFamily: RS_FAMILY,
  rsProtocol: RS_PROTOCOL,
  rsAddr: RS_ADDR,
  rsPort: RS_PORT,
  rsFwmark: RS_FWMARK,
  rsScheduler: RS_SCHEDULER,
  rsFlags: RS_FLAGS,
  rsTimeout: RS_TIMEOUT,
  rsNetmask: RS_NETMASK,
  rsPe: RS_PE,
  rdFamily: RD_FAMILY,
  rdAddr: RD_ADDR,
  rdPort: RD_PORT,
  rdFwd: RD_FWD,
  rdWeight: RD_WEIGHT,
  rdUpper: RD_UPPER,
  rdLower: RD_LOWER,
  rdHasTunnel: RD_HAS_TUNNEL,
  rdTunType: RD_TUN_TYPE,
  rdTunPort: RD_TUN_PORT,
  rdTunFlags: RD_TUN_FLAGS,
  rdActive: RD_ACTIVE,
  rdInactive: RD_INACTIVE,
  rdPersistent: RD_PERSISTENT,
  replyHasStats: R_HAS_STATS,
  replyStats: R_STATS,
} as const;

/** One scratch array per text length, for {@link ipv4Text}. */
const CHAR_CODES: number[][] = Array.from({ length: 16 }, (_, n) => new Array<number>(n).fill(0));

const decimalDigits = (v: number): number => (v >= 100 ? 3 : v >= 10 ? 2 : 1);

/**
 * Dotted-quad text of the 4 bytes at `at`. Built from character codes in one
 * step: a template literal makes a string per piece on the way, four times
 * the garbage of the result, which in a table read is most of what is left.
 */
function ipv4Text(b: Uint8Array, at: number): string {
  const a0 = b[at]!;
  const a1 = b[at + 1]!;
  const a2 = b[at + 2]!;
  const a3 = b[at + 3]!;
  const codes = CHAR_CODES[3 + decimalDigits(a0) + decimalDigits(a1) + decimalDigits(a2) + decimalDigits(a3)]!;
  let n = putDecimal(codes, 0, a0);
  codes[n++] = 0x2e; // '.'
  n = putDecimal(codes, n, a1);
  codes[n++] = 0x2e;
  n = putDecimal(codes, n, a2);
  codes[n++] = 0x2e;
  putDecimal(codes, n, a3);
  return String.fromCharCode.apply(null, codes);
}

/** Writes the decimal digits of byte `v` at `n`; returns the index after them. */
function putDecimal(codes: number[], n: number, v: number): number {
  if (v >= 100) codes[n++] = 0x30 + ((v / 100) | 0);
  if (v >= 10) codes[n++] = 0x30 + (((v / 10) | 0) % 10);
  codes[n++] = 0x30 + (v % 10);
  return n;
}

/**
 * IPv4 address texts already made, by address. Real servers and VIPs repeat
 * across services (a handful of servers behind many ports), and a table is
 * read again and again: a string made once is old by the next read, so the
 * objects that point at it give the young-generation collector nothing to
 * trace or copy. Cleared when full, so it never holds more than this many.
 */
const IPV4_TEXTS_MAX = 8192;
const ipv4Texts = new Map<number, string>();

function cachedIPv4Text(b: Uint8Array, i: number): string {
  const key = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  let text = ipv4Texts.get(key);
  if (text === undefined) {
    if (ipv4Texts.size >= IPV4_TEXTS_MAX) ipv4Texts.clear();
    text = ipv4Text(b, i);
    ipv4Texts.set(key, text);
  }
  return text;
}

class ReplyReader {
  readonly words: Uint32Array;
  readonly view: DataView;
  readonly bytes: Uint8Array;
  readonly count: number;

  constructor(readonly reply: Reply) {
    this.words = new Uint32Array(reply.records, 0, reply.length / 4);
    this.view = new DataView(reply.records, 0, reply.length);
    this.bytes = new Uint8Array(reply.records, 0, reply.length);
    this.count = this.words.length / R_WORDS;
  }

  /** Canonical text of the address at word `at` (inet_ntop's form). */
  address(at: number, family: number): string {
    const b = this.bytes;
    const i = at * 4;
    if (family === AF_INET) return cachedIPv4Text(b, i);
    const groups: number[] = [];
    for (let g = 0; g < 8; g++) groups.push((b[i + 2 * g]! << 8) | b[i + 2 * g + 1]!);
    return formatIPv6(groups);
  }

  name(index: number): string {
    return index === NO_NAME ? '' : (this.reply.names[index] ?? '');
  }

  /** A u64 counter; idle entries are common, and 0n costs no allocation. */
  counter(word: number): bigint {
    const w = this.words;
    if (w[word] === 0 && w[word + 1] === 0) return 0n;
    return this.view.getBigUint64(word * 4, true);
  }

  /**
   * A u64 rate as a number (exact below 2^53, which rates never reach). Small
   * rates stay small integers: one double stored in a field makes V8 box that
   * field in every object of the shape, 16 bytes more per rate.
   */
  rate(word: number): number {
    const high = this.words[word + 1]!;
    const low = this.words[word]!;
    return high === 0 ? low : low + high * 0x100000000;
  }

  stats(base: number): Stats {
    const at = base + R_STATS;
    if (!this.words[base + R_HAS_STATS]) return { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
    return {
      conns: this.counter(at),
      inPkts: this.counter(at + 2),
      outPkts: this.counter(at + 4),
      inBytes: this.counter(at + 6),
      outBytes: this.counter(at + 8),
    };
  }

  rates(base: number): Rates {
    const at = base + R_STATS;
    return {
      cps: this.rate(at + 10),
      inPps: this.rate(at + 12),
      outPps: this.rate(at + 14),
      inBps: this.rate(at + 16),
      outBps: this.rate(at + 18),
    };
  }

  /** The service at `index`; `destinations`, when given, become its last field. */
  service(index: number, destinations?: Destination[]): Service {
    const w = this.words;
    const base = index * R_WORDS;
    const family = rawToFamily(w[base + RS_FAMILY]!);
    const scheduler = this.name(w[base + RS_SCHEDULER]!);
    const flags = w[base + RS_FLAGS]!;
    const fwmark = w[base + RS_FWMARK]!;
    const sip = this.name(w[base + RS_PE]!) === 'sip';
    // The common shape, a plain address service, as one literal (see destination()).
    if (fwmark === 0 && (flags & SERVICE_OPTION_FLAGS) === 0 && !sip) {
      const protocol = rawToProtocol(w[base + RS_PROTOCOL]!);
      const address = this.address(base + RS_ADDR, w[base + RS_FAMILY]!);
      const port = w[base + RS_PORT]!;
      const stats = this.stats(base);
      const rates = this.rates(base);
      if (destinations) return { protocol, address, port, family, scheduler, stats, rates, destinations } as Service;
      return { protocol, address, port, family, scheduler, stats, rates };
    }
    const key: ServiceKey =
      fwmark !== 0
        ? { fwmark, family }
        : {
            protocol: rawToProtocol(w[base + RS_PROTOCOL]!),
            address: this.address(base + RS_ADDR, w[base + RS_FAMILY]!),
            port: w[base + RS_PORT]!,
          };
    // Settings first, counters last: the order lib/types.ts documents and logs show.
    const service = { ...key, family, scheduler } as Service;
    if (flags & SVC_F_PERSISTENT) {
      const netmask = w[base + RS_NETMASK]!;
      service.persistence = {
        timeout: w[base + RS_TIMEOUT]!,
        netmask: family === 'inet6' ? netmask : numberToIPv4(netmask),
      };
    }
    if (flags & SVC_F_ONEPACKET) service.onePacket = true;
    if (flags & (SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3)) {
      const names = schedulerFlagNames(scheduler);
      const set: SchedulerFlag[] = [];
      if (flags & SVC_F_SCHED1) set.push(names[0]);
      if (flags & SVC_F_SCHED2) set.push(names[1]);
      if (flags & SVC_F_SCHED3) set.push(names[2]);
      service.schedulerFlags = set;
    }
    if (sip) service.persistenceEngine = 'sip';
    service.stats = this.stats(base);
    service.rates = this.rates(base);
    if (destinations) (service as ServiceWithDestinations).destinations = destinations;
    return service;
  }

  destination(index: number): Destination {
    const w = this.words;
    const base = index * R_WORDS;
    const af = w[base + RD_FAMILY]!;
    const forwarding = rawToForwarding(w[base + RD_FWD]!);
    // One literal per shape, every field in place: V8 then allocates each
    // object once at its final size (no property store grown afterwards),
    // and may allocate it straight in old space when most survive.
    // Kernels before 5.2 report no tunnel attributes: then there is nothing to show.
    const tunnelType = forwarding === 'tunnel' && w[base + RD_HAS_TUNNEL] ? rawToTunnelType(w[base + RD_TUN_TYPE]!) : undefined;
    if (tunnelType === undefined) {
      return {
        address: this.address(base + RD_ADDR, af),
        family: rawToFamily(af),
        port: w[base + RD_PORT]!,
        forwarding,
        weight: w[base + RD_WEIGHT]!,
        upperThreshold: w[base + RD_UPPER]!,
        lowerThreshold: w[base + RD_LOWER]!,
        activeConnections: w[base + RD_ACTIVE]!,
        inactiveConnections: w[base + RD_INACTIVE]!,
        persistentConnections: w[base + RD_PERSISTENT]!,
        stats: this.stats(base),
        rates: this.rates(base),
      } as Destination;
    }
    return {
      address: this.address(base + RD_ADDR, af),
      family: rawToFamily(af),
      port: w[base + RD_PORT]!,
      forwarding,
      weight: w[base + RD_WEIGHT]!,
      upperThreshold: w[base + RD_UPPER]!,
      lowerThreshold: w[base + RD_LOWER]!,
      tunnel: { type: tunnelType, port: w[base + RD_TUN_PORT]!, checksum: rawToChecksum(w[base + RD_TUN_FLAGS]!) },
      activeConnections: w[base + RD_ACTIVE]!,
      inactiveConnections: w[base + RD_INACTIVE]!,
      persistentConnections: w[base + RD_PERSISTENT]!,
      stats: this.stats(base),
      rates: this.rates(base),
    } as Destination;
  }
}

/**
 * Records decoded per turn of the event loop by the `*Slices` decoders: a
 * 10 000-service table is 110 000 records and ~30 MB of objects, seconds of
 * work in a slow guest, which must not hold the event loop in one piece.
 * A slice of 1024 takes ~0.2 ms when V8 has memory at hand.
 */
export const DECODE_SLICE = 1024;

/**
 * A decoder that yields after every {@link DECODE_SLICE} records and returns
 * the result; {@link decodeAll} runs one to the end at once.
 */
export type SlicedDecode<T> = Generator<undefined, T, undefined>;

/** Runs a sliced decoder to the end in one go. */
export function decodeAll<T>(decoder: SlicedDecode<T>): T {
  for (;;) {
    const step = decoder.next();
    if (step.done) return step.value;
  }
}

/** Every record of a reply read by `read`, a slice at a time. */
function* recordSlices<T>(reply: Reply, read: (r: ReplyReader, index: number) => T): SlicedDecode<T[]> {
  const r = new ReplyReader(reply);
  const out: T[] = [];
  for (let i = 0; i < r.count; i++) {
    out.push(read(r, i));
    if ((i + 1) % DECODE_SLICE === 0) yield;
  }
  return out;
}

/** Services of a `listServices`/`getService` reply. */
export const servicesSlices = (reply: Reply): SlicedDecode<Service[]> => recordSlices(reply, (r, i) => r.service(i));

/** Destinations of a `listDests` reply. */
export const destinationsSlices = (reply: Reply): SlicedDecode<Destination[]> =>
  recordSlices(reply, (r, i) => r.destination(i));

/** A `snapshot` reply: each service record is followed by its destinations. */
export function* snapshotSlices(reply: Reply): SlicedDecode<ServiceWithDestinations[]> {
  const r = new ReplyReader(reply);
  const out: ServiceWithDestinations[] = [];
  let sliceEnd = DECODE_SLICE;
  for (let i = 0; i < r.count; ) {
    const at = i;
    const count = r.words[at * R_WORDS + RS_DEST_COUNT]!;
    const destinations: Destination[] = new Array(count);
    for (let j = 0; j < count; j++) destinations[j] = r.destination(at + 1 + j);
    out.push(r.service(at, destinations) as ServiceWithDestinations);
    i = at + 1 + count;
    if (i >= sliceEnd) {
      sliceEnd = i + DECODE_SLICE;
      yield;
    }
  }
  return out;
}

/**
 * What a reply says of the table's shape and settings, counters aside: two
 * reads with the same fingerprint hold the same services, destinations,
 * schedulers, weights, thresholds and tunnels (up to a 2^-64 chance of two
 * different tables hashing alike). Connection counts, stats and rates are
 * left out: they move with traffic.
 */
export function tableFingerprint(reply: Reply): string {
  const words = new Uint32Array(reply.records, 0, reply.length / 4);
  // Words 0–13 of a record are its identity and settings (the records.h
  // layout: services up to RS_PE, destinations up to RD_TUN_FLAGS).
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let base = 0; base < words.length; base += R_WORDS) {
    for (let w = base; w < base + RD_ACTIVE; w++) {
      const v = words[w]!;
      a = Math.imul(a ^ v, 0x01000193);
      b = Math.imul(b ^ v ^ (a >>> 15), 0x5bd1e995);
    }
  }
  return `${words.length / R_WORDS}:${(a >>> 0).toString(16)}:${(b >>> 0).toString(16)}:${reply.names.join(',')}`;
}

/** Services of a `listServices`/`getService` reply, in one go. */
export const decodeServices = (reply: Reply): Service[] => decodeAll(servicesSlices(reply));

/** Destinations of a `listDests` reply, in one go. */
export const decodeDestinations = (reply: Reply): Destination[] => decodeAll(destinationsSlices(reply));

/** A `snapshot` reply, in one go. */
export const decodeSnapshot = (reply: Reply): ServiceWithDestinations[] => decodeAll(snapshotSlices(reply));
