/**
 * lib/wire.ts, both ways: request records written by RecordWriter, and reply
 * records (laid out here as the addon lays them out, see replies.ts) decoded
 * into the public objects. Offsets come from native/ipvs/records.h itself.
 */
import { readFileSync } from 'node:fs';

import { describe, expect, test } from 'vitest';

import { describeServiceKey, serviceKeyId } from '../../lib/convert.js';
import { canonicalAddress } from '../../lib/address.js';
import {
  AF_INET,
  AF_INET6,
  CMD_DEL_DEST,
  CMD_DEL_SERVICE,
  CMD_FLUSH,
  CMD_GET_SERVICE,
  CMD_NEW_DEST,
  CMD_NEW_SERVICE,
  CMD_SET_DEST,
  CMD_SET_SERVICE,
  CMD_ZERO,
  FWD_DROUTE,
  FWD_LOCALNODE,
  FWD_MASQ,
  FWD_TUNNEL,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_HASHED,
  SVC_F_ONEPACKET,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  SVC_F_SCHED2,
  SVC_F_SCHED3,
  TUN_F_CSUM,
  TUN_F_NOCSUM,
  TUN_F_REMCSUM,
  TUN_GRE,
  TUN_GUE,
  TUN_IPIP,
} from '../../lib/kernel.js';
import type { Destination, DestinationSpec, Service, ServiceKey, ServiceSpec } from '../../lib/types.js';
import { validateDestinationSpec, validateServiceSpec } from '../../lib/validate.js';
import {
  RECORD_OFFSETS,
  RECORD_WORDS,
  REPLY_OFFSETS,
  RecordWriter,
  decodeDestinations,
  decodeServices,
  decodeSnapshot,
  DECODE_SLICE,
  destinationsSlices,
  servicesSlices,
  snapshotSlices,
  type SlicedDecode,
} from '../../lib/wire.js';
import { expectedDestination, expectedService, Gen, genDestinationSpec, genServiceSpec } from './gen.js';
import { CONSTANTS, headerEnum, h } from './records-h.js';
import {
  COUNTERS,
  ReplyBuilder,
  addressBytes,
  kernelEcho,
  requestRecords,
  type FakeDestination,
  type FakeService,
  type RequestRecord,
} from './replies.js';

const NO_NAME = 0xffffffff;
const ZERO_STATS = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const ZERO_RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
const V4_ANY = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/** `[a, b, c, d]` padded to the 16 bytes of an address slot. */
function slot(bytes: readonly number[]): number[] {
  return [...bytes, ...V4_ANY].slice(0, 16);
}

/** The records one call to `write` produces, readable by records.h's names. */
function written(write: (w: RecordWriter) => void): RequestRecord[] {
  const w = new RecordWriter();
  write(w);
  return requestRecords(w);
}

/** The only record one call produces. */
function one(write: (w: RecordWriter) => void): RequestRecord {
  const recs = written(write);
  expect(recs).toHaveLength(1);
  return recs[0]!;
}

/** The service words of a request record, by name. */
function serviceWords(r: RequestRecord) {
  return {
    cmd: r.w('kCmd'),
    family: r.w('kSvcFamily'),
    protocol: r.w('kSvcProtocol'),
    address: r.address('kSvcAddr'),
    port: r.w('kSvcPort'),
    fwmark: r.w('kSvcFwmark'),
    scheduler: r.name('kSvcScheduler'),
    flags: r.w('kSvcFlags'),
    timeout: r.w('kSvcTimeout'),
    netmask: r.w('kSvcNetmask'),
    pe: r.name('kSvcPe'),
  };
}

/** The destination words of a request record, by name. */
function destWords(r: RequestRecord) {
  return {
    family: r.w('kDestFamily'),
    address: r.address('kDestAddr'),
    port: r.w('kDestPort'),
    fwd: r.w('kDestFwd'),
    weight: r.w('kDestWeight'),
    upper: r.w('kDestUpper'),
    lower: r.w('kDestLower'),
    tunType: r.w('kDestTunType'),
    tunPort: r.w('kDestTunPort'),
    tunFlags: r.w('kDestTunFlags'),
  };
}

const NO_DEST = {
  family: 0,
  address: V4_ANY,
  port: 0,
  fwd: 0,
  weight: 0,
  upper: 0,
  lower: 0,
  tunType: 0,
  tunPort: 0,
  tunFlags: 0,
};

// ---------------------------------------------------------------------------

describe('lib/wire.ts and native/ipvs/records.h agree', () => {
  /** `kSvcFamily` → `svcFamily`: the TypeScript name of a header name. */
  const tsName = (k: string) => k.charAt(1).toLowerCase() + k.slice(2);

  test('request word offsets: RECORD_OFFSETS is enum Word, name for name', () => {
    const header = new Map(headerEnum('Word'));
    expect(header.get('kWords')).toBe(RECORD_WORDS);
    header.delete('kWords');
    const fromHeader = Object.fromEntries([...header].map(([k, v]) => [tsName(k), v]));
    expect(RECORD_OFFSETS).toEqual(fromHeader);
    expect(Object.keys(RECORD_OFFSETS)).toHaveLength(21);
    expect(h('kBytes')).toBe(RECORD_WORDS * 4);
  });

  test('reply word offsets: REPLY_OFFSETS is enums ServiceReply, DestinationReply and the kReply constants', () => {
    const fromHeader: Record<string, number> = {};
    for (const e of ['ServiceReply', 'DestinationReply']) {
      for (const [k, v] of headerEnum(e)) fromHeader[tsName(k)] = v;
    }
    for (const k of ['kReplyWords', 'kReplyHasStats', 'kReplyStats']) fromHeader[tsName(k)] = h(k);
    expect(REPLY_OFFSETS).toEqual(fromHeader);
    expect(Object.keys(REPLY_OFFSETS)).toHaveLength(11 + 14 + 3);
    expect(h('kReplyBytes')).toBe(REPLY_OFFSETS.replyWords * 4);
  });

  test('the header declares what the tests read', () => {
    expect([...CONSTANTS.keys()].sort()).toEqual(
      ['kBytes', 'kNoName', 'kReplyBytes', 'kReplyHasStats', 'kReplyStats', 'kReplyWords'].sort(),
    );
    expect(h('kNoName')).toBe(NO_NAME);
  });

  /** Fields in offset order never overlap and fit in `words`; addresses take 4 words. */
  function expectPacked(fields: ReadonlyMap<string, number>, end: number): void {
    const sorted = [...fields].sort((a, b) => a[1] - b[1]);
    let next = 0;
    for (const [name, at] of sorted) {
      expect(at, `${name} overlaps the field before it`).toBeGreaterThanOrEqual(next);
      next = at + (name.endsWith('Addr') ? 4 : 1);
    }
    expect(next).toBeLessThanOrEqual(end);
  }

  test('records.h: fields do not overlap and fit their records', () => {
    const request = new Map(headerEnum('Word'));
    request.delete('kWords');
    expectPacked(request, h('kWords'));
    expectPacked(headerEnum('ServiceReply'), h('kReplyHasStats'));
    expectPacked(headerEnum('DestinationReply'), h('kReplyHasStats'));
    expect(h('kReplyHasStats')).toBeLessThan(h('kReplyStats'));
    // Ten u64 counters, 8-byte aligned, inside the record.
    expect((h('kReplyStats') * 4) % 8).toBe(0);
    expect(h('kReplyStats') + 2 * 10).toBeLessThanOrEqual(h('kReplyWords'));
  });

  test('records.cc writes the counters in the order the decoder reads them', () => {
    const cc = readFileSync(new URL('../../native/ipvs/records.cc', import.meta.url), 'utf8');
    const m = /const uint64_t values\[10\]\s*=\s*\{([^}]*)\}/.exec(cc);
    expect(m, 'putStats in records.cc').not.toBeNull();
    const order = (m?.[1] ?? '').split(',').map((s) => s.trim().replace(/^st\./, ''));
    expect(order).toEqual([...COUNTERS]);
    // And the decoder reads them in that order (each counter its own value).
    const counters = Object.fromEntries(COUNTERS.map((c, i) => [c, BigInt(i + 1)]));
    const [svc] = decodeServices(new ReplyBuilder().service({ family: AF_INET, protocol: IPPROTO_TCP, stats: counters }).build());
    expect(svc?.stats).toEqual({ conns: 1n, inPkts: 2n, outPkts: 3n, inBytes: 4n, outBytes: 5n });
    expect(svc?.rates).toEqual({ cps: 6, inPps: 7, outPps: 8, inBps: 9, outBps: 10 });
  });
});

// ---------------------------------------------------------------------------

describe('services to the kernel (request records)', () => {
  test('an IPv4 address key: family, protocol, address bytes in network order, port; no names', () => {
    const r = one((w) => w.serviceKey(CMD_DEL_SERVICE, { protocol: 'tcp', address: '10.0.0.1', port: 80 }));
    expect(serviceWords(r)).toEqual({
      cmd: CMD_DEL_SERVICE,
      family: AF_INET,
      protocol: IPPROTO_TCP,
      address: slot([10, 0, 0, 1]),
      port: 80,
      fwmark: 0,
      scheduler: undefined,
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: undefined,
    });
    expect(r.w('kSvcScheduler')).toBe(NO_NAME);
    expect(r.w('kSvcPe')).toBe(NO_NAME);
    expect(destWords(r)).toEqual(NO_DEST);
    expect(r.names).toEqual([]);
  });

  test.each([
    ['2001:DB8:0::1', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ['::ffff:1.2.3.4', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]],
    ['::1.2.3.4', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]],
    ['::', V4_ANY],
    ['::1', [...V4_ANY.slice(0, 15), 1]],
    ['fe80::abcd:12', [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 0x12]],
    ['1:2:3:4:5:6:7:8', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]],
  ])('an IPv6 address key %s: AF_INET6, bytes in network order, netmask 128', (address, bytes) => {
    const r = one((w) => w.serviceKey(CMD_GET_SERVICE, { protocol: 'udp', address, port: 53 }));
    expect(serviceWords(r)).toMatchObject({
      cmd: CMD_GET_SERVICE,
      family: AF_INET6,
      protocol: IPPROTO_UDP,
      address: bytes,
      port: 53,
      netmask: 128,
    });
    // The bytes are the address, whatever independent parser reads it.
    expect(bytes).toEqual(addressBytes(address));
  });

  test('protocols', () => {
    for (const [protocol, n] of [
      ['tcp', IPPROTO_TCP],
      ['udp', IPPROTO_UDP],
      ['sctp', IPPROTO_SCTP],
    ] as const) {
      expect(one((w) => w.serviceKey(CMD_GET_SERVICE, { protocol, address: '10.0.0.1', port: 1 })).w('kSvcProtocol')).toBe(n);
    }
  });

  test('fwmark keys: family and mark, no protocol, address or port; netmask by family', () => {
    const v4 = one((w) => w.serviceKey(CMD_DEL_SERVICE, { fwmark: 7 }));
    expect(serviceWords(v4)).toEqual({
      cmd: CMD_DEL_SERVICE,
      family: AF_INET,
      protocol: 0,
      address: V4_ANY,
      port: 0,
      fwmark: 7,
      scheduler: undefined,
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: undefined,
    });
    expect(serviceWords(one((w) => w.serviceKey(CMD_DEL_SERVICE, { fwmark: 7, family: 'inet' })))).toEqual(
      serviceWords(v4),
    );
    expect(serviceWords(one((w) => w.serviceKey(CMD_DEL_SERVICE, { fwmark: 0xffffffff, family: 'inet6' })))).toMatchObject({
      family: AF_INET6,
      protocol: 0,
      address: V4_ANY,
      port: 0,
      fwmark: 0xffffffff,
      netmask: 128,
    });
  });

  test('a key with fwmark: undefined is the address key validation took it for', () => {
    // As settings spread into a key produce it: { protocol, address, port, fwmark: cfg.fwmark }.
    const key = { protocol: 'tcp', address: '2001:db8::1', port: 80, fwmark: undefined } as unknown as ServiceKey;
    validateServiceSpec(key);
    const plain = { protocol: 'tcp', address: '2001:db8::1', port: 80 } as const;
    expect(serviceWords(one((w) => w.serviceSpec(CMD_NEW_SERVICE, key)))).toEqual(serviceWords(one((w) => w.serviceSpec(CMD_NEW_SERVICE, plain))));
    expect(describeServiceKey(key)).toBe('tcp [2001:db8::1]:80');
    // Destination rules follow the address service too: the port must be the service's for 'route'.
    expect(() => validateDestinationSpec({ address: '2001:db8::2', port: 8080 }, key)).toThrow(/must be the service's port 80/);
    expect(one((w) => w.destinationSpec(CMD_NEW_DEST, key, { address: '2001:db8::2' })).w('kDestPort')).toBe(80);
  });

  test('serviceSpec defaults: scheduler wlc by name index, no flags or timeout, netmask all ones, no engine', () => {
    const r = one((w) => w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'tcp', address: '10.0.0.1', port: 80 }));
    expect(serviceWords(r)).toEqual({
      cmd: CMD_NEW_SERVICE,
      family: AF_INET,
      protocol: IPPROTO_TCP,
      address: slot([10, 0, 0, 1]),
      port: 80,
      fwmark: 0,
      scheduler: 'wlc',
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: undefined,
    });
    expect(r.w('kSvcScheduler')).toBe(0);
    expect(r.names).toEqual(['wlc']);
    expect(r.w('kSvcPe')).toBe(NO_NAME);
    expect(one((w) => w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'tcp', address: '::1', port: 80 })).w('kSvcNetmask')).toBe(128);
    expect(one((w) => w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 1, family: 'inet6' })).w('kSvcNetmask')).toBe(128);
  });

  test('serviceSpec: persistence (flag, timeout, dotted netmask as a host-order number), one-packet, engine', () => {
    const r = one((w) =>
      w.serviceSpec(CMD_SET_SERVICE, {
        protocol: 'udp',
        address: '10.0.0.4',
        port: 5060,
        scheduler: 'rr',
        persistence: { timeout: 60, netmask: '255.255.255.0' },
        onePacket: true,
        persistenceEngine: 'sip',
      }),
    );
    expect(serviceWords(r)).toMatchObject({
      cmd: CMD_SET_SERVICE,
      scheduler: 'rr',
      flags: SVC_F_PERSISTENT | SVC_F_ONEPACKET,
      timeout: 60,
      netmask: 0xffffff00,
      pe: 'sip',
    });
    expect(r.names).toEqual(['rr', 'sip']);
    expect(
      serviceWords(one((w) => w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 1, family: 'inet6', persistence: { timeout: 300, netmask: 64 } }))),
    ).toMatchObject({ flags: SVC_F_PERSISTENT, timeout: 300, netmask: 64 });
    // Without a netmask, persistence keeps the all-ones default.
    expect(serviceWords(one((w) => w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 1, persistence: { timeout: 300 } })))).toMatchObject({
      flags: SVC_F_PERSISTENT,
      timeout: 300,
      netmask: 0xffffffff,
    });
    expect(
      one((w) => w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'tcp', address: '::1', port: 1, persistence: { timeout: 1 } })).w(
        'kSvcNetmask',
      ),
    ).toBe(128);
    for (const [mask, n] of [
      ['0.0.0.0', 0],
      ['128.0.0.0', 0x80000000],
      ['255.255.255.255', 0xffffffff],
      ['255.255.254.0', 0xfffffe00],
    ] as const) {
      const rec = one((w) =>
        w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'tcp', address: '10.0.0.1', port: 1, persistence: { timeout: 1, netmask: mask } }),
      );
      expect(rec.w('kSvcNetmask')).toBe(n);
    }
  });

  test.each([
    ['sh', 'sh-fallback', SVC_F_SCHED1],
    ['mh', 'mh-fallback', SVC_F_SCHED1],
    ['rr', 'flag-1', SVC_F_SCHED1],
    ['sh', 'sh-port', SVC_F_SCHED2],
    ['mh', 'mh-port', SVC_F_SCHED2],
    ['rr', 'flag-2', SVC_F_SCHED2],
    ['sh', 'flag-3', SVC_F_SCHED3],
  ] as const)('scheduler %s, flag %s → bit 0x%s', (scheduler, flag, bit) => {
    expect(one((w) => w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 1, scheduler, schedulerFlags: [flag] })).w('kSvcFlags')).toBe(bit);
  });

  test('every scheduler flag with persistence and one-packet: the bits add up', () => {
    const r = one((w) =>
      w.serviceSpec(CMD_NEW_SERVICE, {
        protocol: 'udp',
        address: '10.0.0.1',
        port: 1,
        scheduler: 'sh',
        schedulerFlags: ['flag-3', 'sh-port', 'sh-fallback'],
        onePacket: true,
        persistence: { timeout: 1 },
      }),
    );
    expect(r.w('kSvcFlags')).toBe(SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3);
    expect(r.w('kSvcFlags') & SVC_F_HASHED).toBe(0);
  });

  test('names are shared across records by index, and reset forgets them', () => {
    const w = new RecordWriter();
    w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 1, scheduler: 'rr', persistence: { timeout: 1 }, persistenceEngine: 'sip' });
    w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 2, scheduler: 'rr' });
    w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 3 });
    w.serviceKey(CMD_DEL_SERVICE, { fwmark: 4 });
    expect(w.names).toEqual(['rr', 'sip', 'wlc']);
    const recs = requestRecords(w);
    expect(recs.map((r) => [r.w('kSvcScheduler'), r.w('kSvcPe')])).toEqual([
      [0, 1],
      [0, NO_NAME],
      [2, NO_NAME],
      [NO_NAME, NO_NAME],
    ]);
    w.reset();
    expect(w.count).toBe(0);
    expect(w.names).toEqual([]);
    expect(w.records.byteLength).toBe(0);
    w.serviceSpec(CMD_NEW_SERVICE, { fwmark: 5, scheduler: 'lc' });
    expect(w.names).toEqual(['lc']);
    expect(requestRecords(w)[0]?.name('kSvcScheduler')).toBe('lc');
  });

  test('word(i, offset) reads what the records hold', () => {
    const w = new RecordWriter();
    w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'tcp', address: '10.0.0.1', port: 80, persistence: { timeout: 9 } });
    w.destinationSpec(CMD_NEW_DEST, { protocol: 'tcp', address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', weight: 7 });
    const recs = requestRecords(w);
    for (let i = 0; i < 2; i++) {
      for (const [name, at] of headerEnum('Word')) {
        if (name !== 'kWords') expect(w.word(i, at), `record ${i} ${name}`).toBe(recs[i]!.w(name));
      }
    }
    expect(w.word(0, RECORD_OFFSETS.svcTimeout)).toBe(9);
    expect(w.word(1, RECORD_OFFSETS.destWeight)).toBe(7);
  });
});

describe('destinations to the kernel (request records)', () => {
  const svc: ServiceKey = { protocol: 'tcp', address: '10.0.0.1', port: 80 };

  test('defaults: the service key, then port = the service port, route, weight 1, thresholds 0, no tunnel words', () => {
    const r = one((w) => w.destinationSpec(CMD_NEW_DEST, svc, { address: '10.0.0.2' }));
    expect(serviceWords(r)).toEqual({
      cmd: CMD_NEW_DEST,
      family: AF_INET,
      protocol: IPPROTO_TCP,
      address: slot([10, 0, 0, 1]),
      port: 80,
      fwmark: 0,
      scheduler: undefined,
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: undefined,
    });
    expect(destWords(r)).toEqual({
      family: AF_INET,
      address: slot([10, 0, 0, 2]),
      port: 80,
      fwd: FWD_DROUTE,
      weight: 1,
      upper: 0,
      lower: 0,
      tunType: 0,
      tunPort: 0,
      tunFlags: 0,
    });
    expect(r.names).toEqual([]);
  });

  test('fwmark services: the destination port defaults to 0', () => {
    const spec = one((w) => w.destinationSpec(CMD_NEW_DEST, { fwmark: 1 }, { address: '10.0.0.2' }));
    expect(serviceWords(spec)).toMatchObject({ family: AF_INET, fwmark: 1, protocol: 0, port: 0, address: V4_ANY });
    expect(spec.w('kDestPort')).toBe(0);
    expect(one((w) => w.destinationKey(CMD_DEL_DEST, { fwmark: 1 }, { address: '10.0.0.2' })).w('kDestPort')).toBe(0);
    expect(one((w) => w.destinationKey(CMD_DEL_DEST, { fwmark: 1 }, { address: '10.0.0.2', port: 8080 })).w('kDestPort')).toBe(8080);
  });

  test('masq with port, weight 0, thresholds', () => {
    const r = one((w) =>
      w.destinationSpec(CMD_SET_DEST, svc, {
        address: '10.0.0.2',
        port: 8080,
        forwarding: 'masq',
        weight: 0,
        upperThreshold: 100,
        lowerThreshold: 50,
      }),
    );
    expect(r.w('kCmd')).toBe(CMD_SET_DEST);
    expect(destWords(r)).toEqual({
      family: AF_INET,
      address: slot([10, 0, 0, 2]),
      port: 8080,
      fwd: FWD_MASQ,
      weight: 0,
      upper: 100,
      lower: 50,
      tunType: 0,
      tunPort: 0,
      tunFlags: 0,
    });
    const big = one((w) =>
      w.destinationSpec(CMD_NEW_DEST, svc, { address: '10.0.0.2', weight: 2147483647, upperThreshold: 0xffffffff, lowerThreshold: 0xfffffffe }),
    );
    expect(destWords(big)).toMatchObject({ weight: 2147483647, upper: 0xffffffff, lower: 0xfffffffe });
  });

  test('tunnel forwarding always carries the tunnel words, defaulting to ipip / 0 / nocsum', () => {
    expect(destWords(one((w) => w.destinationSpec(CMD_NEW_DEST, svc, { address: '2001:db8::2', forwarding: 'tunnel' })))).toEqual({
      family: AF_INET6,
      address: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
      port: 80,
      fwd: FWD_TUNNEL,
      weight: 1,
      upper: 0,
      lower: 0,
      tunType: TUN_IPIP,
      tunPort: 0,
      tunFlags: TUN_F_NOCSUM,
    });
    expect(
      destWords(
        one((w) =>
          w.destinationSpec(CMD_NEW_DEST, svc, {
            address: '10.0.0.2',
            forwarding: 'tunnel',
            tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' },
          }),
        ),
      ),
    ).toMatchObject({ fwd: FWD_TUNNEL, tunType: TUN_GUE, tunPort: 6080, tunFlags: TUN_F_REMCSUM });
    expect(
      destWords(
        one((w) =>
          w.destinationSpec(CMD_NEW_DEST, svc, { address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }),
        ),
      ),
    ).toMatchObject({ tunType: TUN_GRE, tunPort: 0, tunFlags: TUN_F_CSUM });
  });

  test('destinationKey (DEL_DEST): the service key and address and port only', () => {
    const r = one((w) =>
      w.destinationKey(CMD_DEL_DEST, { protocol: 'udp', address: '2001:db8::1', port: 53 }, { address: '::ffff:1.2.3.4', port: 81 }),
    );
    expect(serviceWords(r)).toMatchObject({ cmd: CMD_DEL_DEST, family: AF_INET6, protocol: IPPROTO_UDP, port: 53, netmask: 128 });
    expect(destWords(r)).toEqual({
      ...NO_DEST,
      family: AF_INET6,
      address: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4],
      port: 81,
    });
    expect(one((w) => w.destinationKey(CMD_DEL_DEST, svc, { address: '::' })).address('kDestAddr')).toEqual(V4_ANY);
    expect(one((w) => w.destinationKey(CMD_DEL_DEST, svc, { address: '::' })).w('kDestFamily')).toBe(AF_INET6);
    expect(one((w) => w.destinationKey(CMD_DEL_DEST, svc, { address: '10.0.0.2' })).w('kDestPort')).toBe(80);
  });

  test('an IPv4 destination of an IPv6 service (tunnel) keeps each family', () => {
    const r = one((w) =>
      w.destinationSpec(CMD_NEW_DEST, { protocol: 'tcp', address: '2001:db8::1', port: 443 }, { address: '192.168.255.254', forwarding: 'tunnel' }),
    );
    expect(r.w('kSvcFamily')).toBe(AF_INET6);
    expect(destWords(r)).toMatchObject({ family: AF_INET, address: slot([192, 168, 255, 254]), port: 443 });
  });
});

describe('RecordWriter mechanics', () => {
  test('bare commands name no service and no destination', () => {
    const recs = written((w) => {
      w.bare(CMD_FLUSH);
      w.bare(CMD_ZERO);
    });
    expect(recs.map((r) => r.w('kCmd'))).toEqual([CMD_FLUSH, CMD_ZERO]);
    for (const r of recs) {
      expect(r.w('kSvcFamily')).toBe(0);
      expect(r.w('kDestFamily')).toBe(0);
      expect(r.w('kSvcScheduler')).toBe(NO_NAME);
      expect(r.w('kSvcPe')).toBe(NO_NAME);
    }
  });

  test('grows past its capacity, keeping every record', () => {
    for (const capacity of [1, 2, 3, 64]) {
      const w = new RecordWriter(capacity);
      for (let i = 0; i < 200; i++) w.serviceSpec(CMD_NEW_SERVICE, { fwmark: i + 1, scheduler: i % 2 ? 'rr' : 'wlc' });
      expect(w.count).toBe(200);
      expect(w.records.byteLength).toBe(200 * RECORD_WORDS * 4);
      const recs = requestRecords(w);
      expect(recs.map((r) => r.w('kSvcFwmark'))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(recs.map((r) => r.name('kSvcScheduler'))).toEqual(Array.from({ length: 200 }, (_, i) => (i % 2 ? 'rr' : 'wlc')));
    }
  });

  // Doubling 0 gives 0: the writer must still make room for the first record.
  test('grows from capacity 0', () => {
    const w = new RecordWriter(0);
    w.bare(CMD_FLUSH);
    expect(w.count).toBe(1);
    expect(w.records.byteLength).toBe(RECORD_WORDS * 4);
    expect(w.word(0, RECORD_OFFSETS.cmd)).toBe(CMD_FLUSH);
  });

  test('a reused slot holds nothing of the record before it', () => {
    const w = new RecordWriter(1);
    w.destinationSpec(
      CMD_NEW_DEST,
      { protocol: 'sctp', address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 },
      { address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe', forwarding: 'tunnel', tunnel: { type: 'gue', port: 9, checksum: 'csum' }, weight: 5 },
    );
    w.reset();
    w.destinationKey(CMD_DEL_DEST, { fwmark: 1 }, { address: '10.0.0.2' });
    const [r] = requestRecords(w);
    expect(serviceWords(r!)).toEqual({
      cmd: CMD_DEL_DEST,
      family: AF_INET,
      protocol: 0,
      address: V4_ANY,
      port: 0,
      fwmark: 1,
      scheduler: undefined,
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
      pe: undefined,
    });
    expect(destWords(r!)).toEqual({ ...NO_DEST, family: AF_INET, address: slot([10, 0, 0, 2]) });
    // Nothing outside the named words either.
    const named = new Set<number>();
    for (const [name, at] of headerEnum('Word')) {
      if (name === 'kWords') continue;
      for (let k = 0; k < (name.endsWith('Addr') ? 4 : 1); k++) named.add(at + k);
    }
    for (let i = 0; i < RECORD_WORDS; i++) if (!named.has(i)) expect(w.word(0, i), `word ${i}`).toBe(0);
  });
});

// ---------------------------------------------------------------------------

/** A kernel-side service: tcp 10.0.0.1:80 wlc, counters reported; `over` changes fields. */
function kernelService(over: FakeService = {}): FakeService {
  return {
    family: AF_INET,
    protocol: IPPROTO_TCP,
    address: [10, 0, 0, 1],
    port: 80,
    scheduler: 'wlc',
    netmask: 0xffffffff,
    stats: counters(1),
    ...over,
  };
}

/** Counters n, n+1, …, with bytes beyond 2^32 and 2^53. */
function counters(n: number) {
  return {
    conns: BigInt(n),
    inPkts: BigInt(n + 1),
    outPkts: BigInt(n + 2),
    inBytes: 2n ** 40n + BigInt(n),
    outBytes: 2n ** 63n + BigInt(n),
    cps: BigInt(n + 5),
    inPps: BigInt(n + 6),
    outPps: BigInt(n + 7),
    inBps: BigInt(n + 8),
    outBps: BigInt(n + 9),
  };
}

/** The address of an address-keyed service (undefined for fwmark services). */
function addressOf(s: Service): string | undefined {
  return 'address' in s ? s.address : undefined;
}

function decodeService(s: FakeService): Service {
  const out = decodeServices(new ReplyBuilder().service(s).build());
  expect(out).toHaveLength(1);
  return out[0]!;
}

function decodeDestination(d: FakeDestination): Destination {
  const out = decodeDestinations(new ReplyBuilder().destination(d).build());
  expect(out).toHaveLength(1);
  return out[0]!;
}

describe('services from the kernel (reply records)', () => {
  test('IPv4 text: every byte value in every position, as inet_ntop writes it', () => {
    const b = new ReplyBuilder();
    const expected: string[] = [];
    for (let v = 0; v < 256; v++) {
      const bytes = [v, 255 - v, (v * 7) & 255, v % 10];
      b.destination({ family: AF_INET, address: bytes });
      expected.push(bytes.join('.'));
    }
    expect(decodeDestinations(b.build()).map((d) => d.address)).toEqual(expected);
  });

  test('a plain service: optional fields omitted, stats as bigint, rates as numbers', () => {
    const svc = decodeService(kernelService());
    expect(svc).toEqual({
      protocol: 'tcp',
      address: '10.0.0.1',
      port: 80,
      family: 'inet',
      scheduler: 'wlc',
      stats: { conns: 1n, inPkts: 2n, outPkts: 3n, inBytes: 2n ** 40n + 1n, outBytes: 2n ** 63n + 1n },
      rates: { cps: 6, inPps: 7, outPps: 8, inBps: 9, outBps: 10 },
    });
    expect(Object.keys(svc)).toEqual(['protocol', 'address', 'port', 'family', 'scheduler', 'stats', 'rates']);
  });

  // The display order lib/types.ts declares: identity, settings, counters.
  test('settings come before stats and rates (display order)', () => {
    const svc = decodeService(
      kernelService({ protocol: IPPROTO_UDP, flags: SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1, timeout: 1, pe: 'sip' }),
    );
    expect(Object.keys(svc)).toEqual([
      'protocol',
      'address',
      'port',
      'family',
      'scheduler',
      'persistence',
      'onePacket',
      'schedulerFlags',
      'persistenceEngine',
      'stats',
      'rates',
    ]);
  });

  test('HASHED never shows: the native side strips it, and the decoder has nothing to show for it', () => {
    expect(decodeService(kernelService({ flags: SVC_F_HASHED }))).toEqual(decodeService(kernelService()));
  });

  test('counters above 2^53 stay exact (bigint); rates up to 2^53 are exact numbers', () => {
    const stats = {
      conns: 2n ** 63n + 5n,
      inPkts: 2n ** 64n - 1n,
      outPkts: 2n ** 53n + 1n,
      inBytes: 2n ** 32n,
      outBytes: 0xffffffffn,
      cps: 2n ** 53n - 1n,
      inPps: 2n ** 32n + 1n,
      outPps: 0xffffffffn,
      inBps: 2n ** 40n + 3n,
      outBps: 1n,
    };
    const svc = decodeService(kernelService({ stats }));
    expect(svc.stats).toEqual({
      conns: 2n ** 63n + 5n,
      inPkts: 2n ** 64n - 1n,
      outPkts: 2n ** 53n + 1n,
      inBytes: 2n ** 32n,
      outBytes: 0xffffffffn,
    });
    expect(svc.rates).toEqual({ cps: 2 ** 53 - 1, inPps: 2 ** 32 + 1, outPps: 0xffffffff, inBps: 2 ** 40 + 3, outBps: 1 });
    for (const v of Object.values(svc.stats)) expect(typeof v).toBe('bigint');
    for (const v of Object.values(svc.rates)) expect(typeof v).toBe('number');
  });

  test('no stats reported (older kernels, no STATS attribute): zero counters and rates', () => {
    const { stats: _none, ...rest } = kernelService();
    const svc = decodeService(rest);
    expect(svc.stats).toEqual(ZERO_STATS);
    expect(svc.rates).toEqual(ZERO_RATES);
    // hasStats 0 wins over whatever the counter words hold.
    const reply = new ReplyBuilder().service(kernelService({ stats: counters(3) })).build();
    new DataView(reply.records).setUint32(h('kReplyHasStats') * 4, 0, true);
    expect(decodeServices(reply)[0]?.stats).toEqual(ZERO_STATS);
  });

  test('persistence only with the PERSISTENT flag; IPv4 netmask dotted, IPv6 a prefix', () => {
    expect(decodeService(kernelService({ timeout: 300, netmask: 0xffffff00 })).persistence).toBeUndefined();
    expect(decodeService(kernelService({ flags: SVC_F_PERSISTENT, timeout: 300, netmask: 0xffffff00 })).persistence).toEqual({
      timeout: 300,
      netmask: '255.255.255.0',
    });
    expect(decodeService(kernelService({ flags: SVC_F_PERSISTENT, timeout: 1, netmask: 0 })).persistence).toEqual({
      timeout: 1,
      netmask: '0.0.0.0',
    });
    expect(decodeService(kernelService({ flags: SVC_F_PERSISTENT, timeout: 1, netmask: 0x80000000 })).persistence?.netmask).toBe(
      '128.0.0.0',
    );
    expect(
      decodeService(
        kernelService({ family: AF_INET6, address: addressBytes('2001:db8::1'), flags: SVC_F_PERSISTENT, timeout: 60, netmask: 64 }),
      ).persistence,
    ).toEqual({ timeout: 60, netmask: 64 });
    expect(decodeService(kernelService({ fwmark: 3, family: AF_INET6, flags: SVC_F_PERSISTENT, timeout: 9, netmask: 128 })).persistence).toEqual({
      timeout: 9,
      netmask: 128,
    });
  });

  test("one-packet, and the persistence engine 'sip' only", () => {
    const svc = decodeService(
      kernelService({ protocol: IPPROTO_UDP, flags: SVC_F_ONEPACKET | SVC_F_PERSISTENT, timeout: 60, pe: 'sip' }),
    );
    expect(svc).toMatchObject({ protocol: 'udp' });
    expect(svc.onePacket).toBe(true);
    expect(svc.persistenceEngine).toBe('sip');
    expect('onePacket' in decodeService(kernelService())).toBe(false);
    expect('persistenceEngine' in decodeService(kernelService({ pe: '' }))).toBe(false);
    expect('persistenceEngine' in decodeService(kernelService({ pe: NO_NAME }))).toBe(false);
    expect('persistenceEngine' in decodeService(kernelService({ pe: 'other' }))).toBe(false);
  });

  test.each([
    ['sh', ['sh-fallback', 'sh-port', 'flag-3']],
    ['mh', ['mh-fallback', 'mh-port', 'flag-3']],
    ['wrr', ['flag-1', 'flag-2', 'flag-3']],
    ['none', ['flag-1', 'flag-2', 'flag-3']],
  ])('scheduler flags are named for %s', (scheduler, names) => {
    const all = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;
    const svc = decodeService(kernelService({ scheduler, flags: all }));
    expect(svc.scheduler).toBe(scheduler);
    expect(svc.schedulerFlags).toEqual(names);
    expect(decodeService(kernelService({ scheduler, flags: SVC_F_SCHED2 })).schedulerFlags).toEqual([names[1]]);
    expect(decodeService(kernelService({ scheduler, flags: SVC_F_SCHED3 | SVC_F_SCHED1 })).schedulerFlags).toEqual([
      names[0],
      names[2],
    ]);
    expect('schedulerFlags' in decodeService(kernelService({ scheduler, flags: SVC_F_PERSISTENT | SVC_F_ONEPACKET }))).toBe(false);
  });

  test('scheduler names resolve by index; a record without one reads as the empty name', () => {
    const reply = new ReplyBuilder()
      .service(kernelService({ scheduler: 'rr' }))
      .service(kernelService({ scheduler: 'wlc' }))
      .service(kernelService({ scheduler: 'rr' }))
      .service(kernelService({ scheduler: NO_NAME }))
      .build();
    expect(reply.names).toEqual(['rr', 'wlc']);
    expect(decodeServices(reply).map((s) => s.scheduler)).toEqual(['rr', 'wlc', 'rr', '']);
  });

  test('fwmark services: the key is mark and family, whatever the address words hold', () => {
    const svc = decodeService(kernelService({ fwmark: 9, family: AF_INET6, protocol: 0, address: [], port: 0 }));
    expect(svc).toMatchObject({ fwmark: 9, family: 'inet6' });
    expect('protocol' in svc || 'address' in svc || 'port' in svc).toBe(false);
    expect(Object.keys(svc).slice(0, 3)).toEqual(['fwmark', 'family', 'scheduler']);
    expect(decodeService(kernelService({ fwmark: 0xffffffff, protocol: 0 }))).toMatchObject({ fwmark: 0xffffffff, family: 'inet' });
  });

  test('addresses in canonical text: IPv4 dotted, IPv6 as inet_ntop writes it', () => {
    const v6 = (text: string) => addressOf(decodeService(kernelService({ family: AF_INET6, address: addressBytes(text) })));
    expect(v6('2001:DB8:0::1')).toBe('2001:db8::1');
    expect(v6('::ffff:1.2.3.4')).toBe('::ffff:1.2.3.4');
    expect(v6('::1.2.3.4')).toBe('::1.2.3.4');
    expect(v6('::')).toBe('::');
    expect(v6('::1')).toBe('::1');
    expect(v6('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
    expect(v6('1:2:3:4:5:6:7:0')).toBe('1:2:3:4:5:6:7:0');
    expect(addressOf(decodeService(kernelService({ address: [255, 255, 255, 255] })))).toBe('255.255.255.255');
    expect(addressOf(decodeService(kernelService({ address: [0, 0, 0, 0] })))).toBe('0.0.0.0');
    // An IPv4 record ignores the 12 bytes after the address.
    expect(addressOf(decodeService(kernelService({ address: [10, 0, 0, 1, 9, 9, 9, 9] })))).toBe('10.0.0.1');
  });

  test('IPv6 text matches glibc inet_ntop for every fixture address', () => {
    // Pairs of [input, glibc inet_ntop output], built by fixtures/inet6-ntop.py.
    const fixture = JSON.parse(readFileSync(new URL('./fixtures/inet6-ntop.json', import.meta.url), 'utf8')) as [string, string][];
    expect(fixture.length).toBeGreaterThan(500);
    const b = new ReplyBuilder();
    for (const [input] of fixture) b.service(kernelService({ family: AF_INET6, address: addressBytes(input) }));
    const got = decodeServices(b.build()).map(addressOf);
    const wrong = fixture.filter(([, want], i) => got[i] !== want);
    expect(wrong).toEqual([]);
  });

  test('unmodelled family or protocol throws', () => {
    expect(() => decodeService(kernelService({ family: 7 }))).toThrow('unexpected address family 7');
    expect(() => decodeService(kernelService({ family: 0 }))).toThrow('unexpected address family 0');
    expect(() => decodeService(kernelService({ protocol: 50 }))).toThrow('unexpected service protocol 50');
  });

  test('an empty reply is no services', () => {
    expect(decodeServices(new ReplyBuilder().build())).toEqual([]);
    expect(decodeServices({ records: new ArrayBuffer(0), length: 0, names: [] })).toEqual([]);
  });
});

/** A kernel-side destination: 10.0.0.2:80 route, weight 1, counts 3/4/5, counters reported. */
function kernelDest(over: FakeDestination = {}): FakeDestination {
  return {
    family: AF_INET,
    address: [10, 0, 0, 2],
    port: 80,
    fwd: FWD_DROUTE,
    weight: 1,
    hasTunnel: true,
    active: 3,
    inactive: 4,
    persistent: 5,
    stats: counters(10),
    ...over,
  };
}

describe('destinations from the kernel (reply records)', () => {
  test('a route destination: no tunnel, counts and stats mapped', () => {
    const d = decodeDestination(kernelDest({ upper: 7, lower: 6 }));
    expect(d).toEqual({
      address: '10.0.0.2',
      family: 'inet',
      port: 80,
      forwarding: 'route',
      weight: 1,
      upperThreshold: 7,
      lowerThreshold: 6,
      activeConnections: 3,
      inactiveConnections: 4,
      persistentConnections: 5,
      stats: { conns: 10n, inPkts: 11n, outPkts: 12n, inBytes: 2n ** 40n + 10n, outBytes: 2n ** 63n + 10n },
      rates: { cps: 15, inPps: 16, outPps: 17, inBps: 18, outBps: 19 },
    });
    expect(Object.keys(d)).toEqual([
      'address',
      'family',
      'port',
      'forwarding',
      'weight',
      'upperThreshold',
      'lowerThreshold',
      'activeConnections',
      'inactiveConnections',
      'persistentConnections',
      'stats',
      'rates',
    ]);
  });

  test('full u32 range of weight, thresholds and connection counts', () => {
    const max = 0xffffffff;
    expect(decodeDestination(kernelDest({ weight: 2147483647, upper: max, lower: max - 1, active: max, inactive: max, persistent: max }))).toMatchObject({
      weight: 2147483647,
      upperThreshold: max,
      lowerThreshold: max - 1,
      activeConnections: max,
      inactiveConnections: max,
      persistentConnections: max,
    });
  });

  test("forwarding names, 'local' included; unknown methods throw", () => {
    expect(decodeDestination(kernelDest({ fwd: FWD_MASQ })).forwarding).toBe('masq');
    expect(decodeDestination(kernelDest({ fwd: FWD_LOCALNODE })).forwarding).toBe('local');
    expect(decodeDestination(kernelDest({ fwd: FWD_TUNNEL })).forwarding).toBe('tunnel');
    expect(decodeDestination(kernelDest({ fwd: FWD_DROUTE })).forwarding).toBe('route');
    expect(() => decodeDestination(kernelDest({ fwd: 5 }))).toThrow('unexpected forwarding method 5');
  });

  test('family and address: each destination its own; IPv6 canonical', () => {
    expect(decodeDestination(kernelDest({ family: AF_INET6, address: addressBytes('2001:DB8::2') }))).toMatchObject({
      family: 'inet6',
      address: '2001:db8::2',
    });
    expect(decodeDestination(kernelDest({ family: AF_INET6, address: addressBytes('::ffff:10.1.2.3') })).address).toBe(
      '::ffff:10.1.2.3',
    );
    // The service-family fallback for kernels before 3.18 lives in native/ipvs/codec.cc
    // (parseDestination); a reply record always names the family.
    expect(() => decodeDestination(kernelDest({ family: 0 }))).toThrow('unexpected address family 0');
  });

  test('tunnel present only for tunnel forwarding with reported attributes', () => {
    const t = decodeDestination(kernelDest({ fwd: FWD_TUNNEL, tunType: TUN_GUE, tunPort: 6080, tunFlags: TUN_F_CSUM }));
    expect(t.tunnel).toEqual({ type: 'gue', port: 6080, checksum: 'csum' });
    expect(decodeDestination(kernelDest({ fwd: FWD_TUNNEL, tunFlags: TUN_F_REMCSUM })).tunnel).toEqual({
      type: 'ipip',
      port: 0,
      checksum: 'remcsum',
    });
    expect(decodeDestination(kernelDest({ fwd: FWD_TUNNEL, tunType: TUN_GRE, tunFlags: TUN_F_CSUM | TUN_F_REMCSUM })).tunnel).toEqual({
      type: 'gre',
      port: 0,
      checksum: 'remcsum',
    });
    // Kernels before 5.2 report no tunnel attributes: no `tunnel`.
    expect('tunnel' in decodeDestination(kernelDest({ fwd: FWD_TUNNEL, hasTunnel: false }))).toBe(false);
    expect('tunnel' in decodeDestination(kernelDest({ fwd: FWD_TUNNEL, hasTunnel: false, tunType: TUN_GUE, tunPort: 1 }))).toBe(false);
    // An encapsulation ipvs-ts does not model: no `tunnel`.
    expect('tunnel' in decodeDestination(kernelDest({ fwd: FWD_TUNNEL, tunType: 9 }))).toBe(false);
    // Other forwarding methods never show one, whatever the tunnel words hold.
    for (const fwd of [FWD_MASQ, FWD_DROUTE, FWD_LOCALNODE]) {
      expect('tunnel' in decodeDestination(kernelDest({ fwd, tunType: TUN_GUE, tunPort: 6080, tunFlags: TUN_F_CSUM }))).toBe(false);
    }
  });

  // The display order lib/types.ts declares: `tunnel` right after `lowerThreshold`.
  test('tunnel sits right after lowerThreshold (display order)', () => {
    const t = decodeDestination(kernelDest({ fwd: FWD_TUNNEL, tunType: TUN_GUE, tunPort: 6080 }));
    expect(Object.keys(t).indexOf('tunnel')).toBe(Object.keys(t).indexOf('lowerThreshold') + 1);
  });

  test('no stats reported: zero counters and rates; counts as reported', () => {
    const { stats: _none, ...rest } = kernelDest({ fwd: FWD_MASQ, weight: 2, active: 0, inactive: 0, persistent: 0 });
    expect(decodeDestination(rest)).toMatchObject({
      activeConnections: 0,
      inactiveConnections: 0,
      persistentConnections: 0,
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
  });

  test('counters above 2^53 stay exact', () => {
    const d = decodeDestination(kernelDest({ stats: { conns: 2n ** 63n + 5n, outBytes: 2n ** 64n - 2n, outBps: 2n ** 52n } }));
    expect(d.stats).toEqual({ conns: 2n ** 63n + 5n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 2n ** 64n - 2n });
    expect(d.rates).toEqual({ ...ZERO_RATES, outBps: 2 ** 52 });
  });
});

/** Runs a sliced decoder to the end, counting the slices it yielded after. */
function runCounting<T>(decoder: SlicedDecode<T>): { steps: number; value: T } {
  for (let steps = 0; ; steps++) {
    const step = decoder.next();
    if (step.done) return { steps, value: step.value };
  }
}

describe('snapshots', () => {
  test('each service takes the destinations its count names, zero included', () => {
    const reply = new ReplyBuilder()
      .service(kernelService({ destCount: 2, port: 80 }))
      .destination(kernelDest({ address: [10, 0, 0, 2] }))
      .destination(kernelDest({ address: [10, 0, 0, 3], fwd: FWD_MASQ }))
      .service(kernelService({ destCount: 0, port: 81 }))
      .service(kernelService({ destCount: 1, fwmark: 5, family: AF_INET6, protocol: 0, address: [], port: 0, scheduler: 'sh' }))
      .destination(kernelDest({ family: AF_INET6, address: addressBytes('2001:db8::7'), port: 0 }))
      .service(kernelService({ destCount: 0, port: 82 }))
      .build();
    const snap = decodeSnapshot(reply);
    expect(snap.map((s) => serviceKeyId(s))).toEqual(['tcp 10.0.0.1:80', 'tcp 10.0.0.1:81', 'fwmark 5 inet6', 'tcp 10.0.0.1:82']);
    expect(snap.map((s) => s.destinations.map((d) => `${d.address}:${d.port}`))).toEqual([
      ['10.0.0.2:80', '10.0.0.3:80'],
      [],
      ['2001:db8::7:0'],
      [],
    ]);
    expect(snap[0]?.destinations[1]?.forwarding).toBe('masq');
    expect(snap[2]?.scheduler).toBe('sh');
    // A snapshot's service is the service listServices shows, plus its destinations.
    const { destinations: _d, ...first } = snap[0]!;
    expect(first).toEqual(decodeService(kernelService({ port: 80 })));
  });

  test('an empty table is an empty snapshot', () => {
    expect(decodeSnapshot(new ReplyBuilder().build())).toEqual([]);
  });

  test('a large table decodes a slice at a time, with nothing lost or repeated at the seams', () => {
    // Services of 0..12 destinations, so that service groups straddle every slice boundary.
    const b = new ReplyBuilder();
    const expected: string[][] = [];
    let records = 0;
    for (let port = 1; records < 3 * DECODE_SLICE + 100; port++) {
      const count = port % 13;
      b.service(kernelService({ destCount: count, port }));
      const dests: string[] = [];
      for (let j = 0; j < count; j++) {
        b.destination(kernelDest({ address: [10, (port >> 8) & 255, port & 255, j + 1] }));
        dests.push(`10.${(port >> 8) & 255}.${port & 255}.${j + 1}`);
      }
      expected.push(dests);
      records += 1 + count;
    }
    const reply = b.build();
    const { steps, value } = runCounting(snapshotSlices(reply));
    // One yield per slice begun after the first, give or take the last service group.
    expect(steps).toBe(Math.ceil(records / DECODE_SLICE) - 1);
    expect(value.map((s) => s.destinations.map((d) => d.address))).toEqual(expected);
    expect(value).toEqual(decodeSnapshot(reply));
  });

  test('service and destination lists yield once per full slice', () => {
    const n = 2 * DECODE_SLICE + 5;
    const services = new ReplyBuilder();
    const dests = new ReplyBuilder();
    for (let i = 0; i < n; i++) {
      services.service(kernelService({ port: i + 1 }));
      dests.destination(kernelDest({ port: i + 1 }));
    }
    const s = runCounting(servicesSlices(services.build()));
    expect(s.steps).toBe(2);
    expect(s.value.map((x) => ('port' in x ? x.port : -1))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const d = runCounting(destinationsSlices(dests.build()));
    expect(d.steps).toBe(2);
    expect(d.value.map((x) => x.port)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  });

  test('services only, all without destinations', () => {
    const b = new ReplyBuilder();
    for (let p = 1; p <= 5; p++) b.service(kernelService({ port: p }));
    const snap = decodeSnapshot(b.build());
    expect(snap.map((s) => [('port' in s ? s.port : -1), s.destinations])).toEqual([1, 2, 3, 4, 5].map((p) => [p, []]));
  });
});

// ---------------------------------------------------------------------------

describe('round trips (seeded): spec → RecordWriter → kernel echo → decode', () => {
  test('kernelEcho copies request fields into reply records', () => {
    const w = new RecordWriter();
    w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'udp', address: '2001:db8::1', port: 53, scheduler: 'sh', schedulerFlags: ['sh-port'] });
    w.destinationSpec(CMD_NEW_DEST, { protocol: 'udp', address: '2001:db8::1', port: 53 }, { address: '2001:db8::2', weight: 3 });
    const reply = kernelEcho(w, CMD_NEW_SERVICE, CMD_NEW_DEST);
    const words = new Uint32Array(reply.records, 0, reply.length / 4);
    const R = h('kReplyWords');
    expect(words.length).toBe(2 * R);
    expect(words[h('kRsDestCount')]).toBe(1);
    expect(words[h('kRsFamily')]).toBe(AF_INET6);
    expect(words[h('kRsFlags')]).toBe(SVC_F_SCHED2);
    expect(words[R + h('kRdWeight')]).toBe(3);
    expect(words[R + h('kRdHasTunnel')]).toBe(1);
  });

  test('services: the decoded service is the spec with its defaults, in canonical text', () => {
    const g = new Gen(1);
    const w = new RecordWriter();
    const again = new RecordWriter();
    for (let i = 0; i < 3000; i++) {
      const spec = genServiceSpec(g);
      validateServiceSpec(spec);
      w.reset();
      w.serviceSpec(CMD_NEW_SERVICE, spec);
      const back = decodeServices(kernelEcho(w, CMD_NEW_SERVICE, CMD_NEW_DEST));
      expect(back, JSON.stringify(spec)).toEqual([expectedService(spec)]);
      const svc = back[0]!;
      // A service read back is a valid spec, and writes the same record again.
      validateServiceSpec(svc);
      again.reset();
      again.serviceSpec(CMD_NEW_SERVICE, svc);
      expect([...again.records], JSON.stringify(spec)).toEqual([...w.records]);
      expect(again.names).toEqual(w.names);
      expect(serviceKeyId(svc)).toBe(serviceKeyId(spec));
    }
  });

  test('destinations: the decoded destination is the spec with its defaults', () => {
    const g = new Gen(2);
    const w = new RecordWriter();
    const again = new RecordWriter();
    for (let i = 0; i < 3000; i++) {
      const svcSpec = genServiceSpec(g);
      const spec = genDestinationSpec(g, svcSpec);
      validateDestinationSpec(spec, svcSpec);
      w.reset();
      w.destinationSpec(CMD_NEW_DEST, svcSpec, spec);
      const back = decodeDestinations(kernelEcho(w, CMD_NEW_SERVICE, CMD_NEW_DEST));
      expect(back, JSON.stringify([svcSpec, spec])).toEqual([expectedDestination(spec, svcSpec)]);
      const dest = back[0]!;
      // A destination read back (not 'local') is a valid spec, and writes the same record again.
      validateDestinationSpec(dest, svcSpec);
      again.reset();
      again.destinationSpec(CMD_NEW_DEST, svcSpec, dest as DestinationSpec);
      expect([...again.records], JSON.stringify(spec)).toEqual([...w.records]);
    }
  });

  test('snapshots: services with their destinations, as written', () => {
    const g = new Gen(7);
    const w = new RecordWriter(4);
    const want: (Service & { destinations: Destination[] })[] = [];
    for (let i = 0; i < 300; i++) {
      const spec: ServiceSpec = genServiceSpec(g);
      w.serviceSpec(CMD_NEW_SERVICE, spec);
      const destinations: Destination[] = [];
      for (let j = g.int(0, 4); j > 0; j--) {
        const d = genDestinationSpec(g, spec);
        w.destinationSpec(CMD_NEW_DEST, spec, d);
        destinations.push(expectedDestination(d, spec));
      }
      want.push({ ...expectedService(spec), destinations });
    }
    const snap = decodeSnapshot(kernelEcho(w, CMD_NEW_SERVICE, CMD_NEW_DEST));
    expect(snap).toEqual(want);
    expect(snap.some((s) => s.destinations.length === 0)).toBe(true);
    expect(snap.some((s) => s.destinations.length === 4)).toBe(true);
  });

  test('address text: every fixture spelling encodes and decodes to glibc inet_ntop text', () => {
    const fixture = JSON.parse(readFileSync(new URL('./fixtures/inet6-ntop.json', import.meta.url), 'utf8')) as [string, string][];
    const w = new RecordWriter();
    for (const [input] of fixture) {
      w.serviceSpec(CMD_NEW_SERVICE, { protocol: 'tcp', address: input, port: 1 });
      w.destinationSpec(CMD_NEW_DEST, { protocol: 'tcp', address: input, port: 1 }, { address: input });
    }
    const snap = decodeSnapshot(kernelEcho(w, CMD_NEW_SERVICE, CMD_NEW_DEST));
    const wrong = fixture.filter(([input, want], i) => {
      const s = snap[i];
      return !s || addressOf(s) !== want || s.destinations[0]?.address !== want || canonicalAddress(input) !== want;
    });
    expect(wrong).toEqual([]);
  });
});
