/**
 * Fakes of the addon's replies for the codec tests of lib/wire.ts: reply
 * records laid out by hand at the offsets native/ipvs/records.h declares (read
 * from the header, see records-h.ts), and a "kernel echo" that turns request
 * records into the reply records the kernel would send back for them.
 */
import type { RecordWriter, Reply } from '../../lib/wire.js';
import { h } from './records-h.js';

const REPLY_WORDS = h('kReplyWords');
const REPLY_BYTES = REPLY_WORDS * 4;
const REQUEST_BYTES = h('kWords') * 4;
const NO_NAME = h('kNoName');

/** The ten counters of a reply record, in records.h's order. */
export const COUNTERS = [
  'conns',
  'inPkts',
  'outPkts',
  'inBytes',
  'outBytes',
  'cps',
  'inPps',
  'outPps',
  'inBps',
  'outBps',
] as const;
export type Counters = Record<(typeof COUNTERS)[number], bigint>;

/** Address bytes in network order: a dotted quad, or IPv6 text (parsed by the WHATWG URL parser, not ours). */
export function addressBytes(text: string): number[] {
  if (!text.includes(':')) return text.split('.').map(Number);
  const host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head = '', tail] = host.split('::');
  const part = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = part(head);
  const right = part(tail);
  const groups = tail === undefined ? left : [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (groups.length !== 8) throw new Error(`not IPv6 text: ${text}`);
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** A service reply record's fields; unset ones are written as the native ReplyWriter would leave them (zero, no name). */
export interface FakeService {
  destCount?: number;
  family?: number;
  protocol?: number;
  /** Address bytes (4 or 16) in network order. */
  address?: readonly number[];
  port?: number;
  fwmark?: number;
  /** A name (put in the names array) or a raw index. */
  scheduler?: string | number;
  flags?: number;
  timeout?: number;
  netmask?: number;
  pe?: string | number;
  /** Absent: hasStats 0 (no STATS/STATS64 attribute) and zero counters. */
  stats?: Partial<Counters>;
}

/** A destination reply record's fields. */
export interface FakeDestination {
  family?: number;
  address?: readonly number[];
  port?: number;
  fwd?: number;
  weight?: number;
  upper?: number;
  lower?: number;
  /** The kernel reported tunnel attributes (5.2+). */
  hasTunnel?: boolean;
  tunType?: number;
  tunPort?: number;
  tunFlags?: number;
  active?: number;
  inactive?: number;
  persistent?: number;
  stats?: Partial<Counters>;
}

/**
 * Builds a reply as the addon hands it over: `{ records, length, names }`.
 * The buffer ends with a record of junk past `length`, as a reused buffer may.
 */
export class ReplyBuilder {
  readonly #records: Uint8Array[] = [];
  readonly names: string[] = [];

  #name(n: string | number | undefined): number {
    if (typeof n === 'number') return n;
    if (n === undefined || n === '') return NO_NAME;
    let i = this.names.indexOf(n);
    if (i < 0) i = this.names.push(n) - 1;
    return i;
  }

  #record(): { view: DataView; bytes: Uint8Array } {
    const bytes = new Uint8Array(REPLY_BYTES);
    this.#records.push(bytes);
    return { view: new DataView(bytes.buffer), bytes };
  }

  static #put(view: DataView, word: number, value: number): void {
    view.setUint32(word * 4, value, true);
  }

  static #stats(view: DataView, stats: Partial<Counters> | undefined): void {
    if (stats === undefined) return;
    ReplyBuilder.#put(view, h('kReplyHasStats'), 1);
    COUNTERS.forEach((c, i) => view.setBigUint64((h('kReplyStats') + 2 * i) * 4, stats[c] ?? 0n, true));
  }

  service(s: FakeService): this {
    const { view, bytes } = this.#record();
    const put = (w: string, v: number) => ReplyBuilder.#put(view, h(w), v);
    put('kRsDestCount', s.destCount ?? 0);
    put('kRsFamily', s.family ?? 0);
    put('kRsProtocol', s.protocol ?? 0);
    bytes.set(s.address ?? [], h('kRsAddr') * 4);
    put('kRsPort', s.port ?? 0);
    put('kRsFwmark', s.fwmark ?? 0);
    put('kRsScheduler', this.#name(s.scheduler));
    put('kRsFlags', s.flags ?? 0);
    put('kRsTimeout', s.timeout ?? 0);
    put('kRsNetmask', s.netmask ?? 0);
    put('kRsPe', this.#name(s.pe));
    ReplyBuilder.#stats(view, s.stats);
    return this;
  }

  destination(d: FakeDestination): this {
    const { view, bytes } = this.#record();
    const put = (w: string, v: number) => ReplyBuilder.#put(view, h(w), v);
    put('kRdFamily', d.family ?? 0);
    bytes.set(d.address ?? [], h('kRdAddr') * 4);
    put('kRdPort', d.port ?? 0);
    put('kRdFwd', d.fwd ?? 0);
    put('kRdWeight', d.weight ?? 0);
    put('kRdUpper', d.upper ?? 0);
    put('kRdLower', d.lower ?? 0);
    put('kRdHasTunnel', d.hasTunnel ? 1 : 0);
    put('kRdTunType', d.tunType ?? 0);
    put('kRdTunPort', d.tunPort ?? 0);
    put('kRdTunFlags', d.tunFlags ?? 0);
    put('kRdActive', d.active ?? 0);
    put('kRdInactive', d.inactive ?? 0);
    put('kRdPersistent', d.persistent ?? 0);
    ReplyBuilder.#stats(view, d.stats);
    return this;
  }

  build(): Reply {
    const length = this.#records.length * REPLY_BYTES;
    const out = new Uint8Array(length + REPLY_BYTES).fill(0xab);
    this.#records.forEach((r, i) => out.set(r, i * REPLY_BYTES));
    return { records: out.buffer, length, names: [...this.names] };
  }
}

/** One request record of a writer, read by records.h's offsets. */
export class RequestRecord {
  readonly #view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly names: readonly string[],
  ) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** The word at header name `name` (`'kSvcFamily'`, …). */
  w(name: string): number {
    return this.#view.getUint32(h(name) * 4, true);
  }
  /** The 16 address bytes at header name `name`. */
  address(name: string): number[] {
    const at = h(name) * 4;
    return [...this.bytes.subarray(at, at + 16)];
  }
  /** A name index resolved, `undefined` for kNoName. */
  name(word: string): string | undefined {
    const i = this.w(word);
    if (i === NO_NAME) return undefined;
    const n = this.names[i];
    if (n === undefined) throw new Error(`name index ${i} out of range (${this.names.length} names)`);
    return n;
  }
}

/** The records a writer holds, each readable by header names. */
export function requestRecords(writer: RecordWriter): RequestRecord[] {
  const all = writer.records;
  if (all.byteLength !== writer.count * REQUEST_BYTES) throw new Error('records of a partial size');
  return Array.from(
    { length: writer.count },
    (_, i) => new RequestRecord(all.subarray(i * REQUEST_BYTES, (i + 1) * REQUEST_BYTES), writer.names),
  );
}

const ZERO_COUNTERS: Counters = {
  conns: 0n,
  inPkts: 0n,
  outPkts: 0n,
  inBytes: 0n,
  outBytes: 0n,
  cps: 0n,
  inPps: 0n,
  outPps: 0n,
  inBps: 0n,
  outBps: 0n,
};

/**
 * What the kernel would send back for the NEW_SERVICE / NEW_DEST records in
 * `writer`, laid out as the addon lays out a snapshot: each service record
 * followed by the destinations written after it. Fields are copied as the
 * kernel holds them (nothing stripped; names kept by index), counters are zero
 * and reported, and tunnel attributes reported (a 5.2+ kernel).
 */
export function kernelEcho(writer: RecordWriter, newService: number, newDest: number): Reply {
  const reqs = requestRecords(writer);
  // Reply names are the request's, index for index.
  const out = new ReplyBuilder();
  out.names.push(...writer.names);
  for (let i = 0; i < reqs.length; i++) {
    const r = reqs[i]!;
    const cmd = r.w('kCmd');
    if (cmd === newService) {
      let destCount = 0;
      while (reqs[i + 1 + destCount]?.w('kCmd') === newDest) destCount++;
      out.service({
        destCount,
        family: r.w('kSvcFamily'),
        protocol: r.w('kSvcProtocol'),
        address: r.address('kSvcAddr'),
        port: r.w('kSvcPort'),
        fwmark: r.w('kSvcFwmark'),
        scheduler: r.w('kSvcScheduler'),
        flags: r.w('kSvcFlags'),
        timeout: r.w('kSvcTimeout'),
        netmask: r.w('kSvcNetmask'),
        pe: r.w('kSvcPe'),
        stats: ZERO_COUNTERS,
      });
    } else if (cmd === newDest) {
      out.destination({
        family: r.w('kDestFamily'),
        address: r.address('kDestAddr'),
        port: r.w('kDestPort'),
        fwd: r.w('kDestFwd'),
        weight: r.w('kDestWeight'),
        upper: r.w('kDestUpper'),
        lower: r.w('kDestLower'),
        hasTunnel: true,
        tunType: r.w('kDestTunType'),
        tunPort: r.w('kDestTunPort'),
        tunFlags: r.w('kDestTunFlags'),
        stats: ZERO_COUNTERS,
      });
    } else {
      throw new Error(`kernelEcho: record ${i} is command ${cmd}, not NEW_SERVICE or NEW_DEST`);
    }
  }
  return out.build();
}
