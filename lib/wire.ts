/**
 * Packs validated service and destination commands into the fixed-size
 * records the addon reads (`native/napi/records.h`): numbers only, names by
 * index. Writing a record allocates nothing, so a batch of a hundred thousand
 * operations costs the garbage collector next to nothing.
 *
 * @internal
 * @module
 */
import {
  DEFAULT_NETMASK_V4,
  DEFAULT_NETMASK_V6,
  DEFAULT_SCHEDULER,
  DEFAULT_WEIGHT,
  destinationPort,
  ipv4ToNumber,
  parseIPv6,
  schedulerFlagsToRaw,
} from './convert.js';
import {
  AF_INET,
  AF_INET6,
  FWD_DROUTE,
  FWD_MASQ,
  FWD_TUNNEL,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  TUN_F_CSUM,
  TUN_F_NOCSUM,
  TUN_F_REMCSUM,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
} from './native.js';
import type { DestinationKey, DestinationSpec, ServiceKey, ServiceSpec } from './types.js';

// Word offsets; must match native/napi/records.h.
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

const PROTOCOL_NUMBER = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP } as const;
const FORWARDING_NUMBER = { masq: FWD_MASQ, tunnel: FWD_TUNNEL, route: FWD_DROUTE } as const;
const TUNNEL_TYPE_NUMBER = { ipip: TUN_IPIP, gue: TUN_GUE, gre: TUN_GRE } as const;
const CHECKSUM_NUMBER = { nocsum: TUN_F_NOCSUM, csum: TUN_F_CSUM, remcsum: TUN_F_REMCSUM } as const;

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
      const grown = new Uint32Array(this.#words.length * 2);
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
    if ('fwmark' in key) {
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
