// Issue 3, "reading is tolerant": what older kernels leave out still reads
// correctly, and what newer kernels add is ignored. The kernel under test
// (6.1) reports everything, so these run on the decoding layer: reply records
// as the addon hands them over (test/unit/replies.ts builds them by
// native/ipvs/records.h) decoded by lib/wire.ts, the code every read of the
// Ipvs class goes through. (The attribute level — STATS without STATS64, no
// destination ADDR_FAMILY before 3.18, unknown attributes — is the native
// codec's, checked by native/fuzz/selftest.cc.)
import { describe, expect, it } from 'vitest';

import {
  AF_INET,
  AF_INET6,
  FWD_DROUTE,
  FWD_LOCALNODE,
  FWD_MASQ,
  FWD_TUNNEL,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SVC_F_HASHED,
  SVC_F_PERSISTENT,
  SVC_F_SCHED1,
  TUN_GUE,
} from '../../lib/kernel.js';
import { decodeDestinations, decodeServices, decodeSnapshot } from '../../lib/wire.js';
import { ReplyBuilder, addressBytes, type FakeDestination, type FakeService } from './replies.js';

const ZERO_STATS = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const ZERO_RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

const service = (over: FakeService = {}): FakeService => ({
  family: AF_INET,
  protocol: IPPROTO_TCP,
  address: [10, 0, 0, 1],
  port: 80,
  scheduler: 'wlc',
  netmask: 0xffffffff,
  ...over,
});
const destination = (over: FakeDestination = {}): FakeDestination => ({
  family: AF_INET,
  address: [192, 168, 1, 10],
  port: 80,
  fwd: FWD_DROUTE,
  weight: 1,
  ...over,
});

describe('what an older kernel leaves out', () => {
  it('a service without stats reads zero bigint counters and zero rates; its settings are intact', () => {
    const [svc] = decodeServices(
      new ReplyBuilder().service(service({ protocol: IPPROTO_UDP, flags: SVC_F_PERSISTENT, timeout: 60, netmask: 0xffffff00 })).build(),
    );
    expect(svc).toStrictEqual({
      protocol: 'udp',
      address: '10.0.0.1',
      port: 80,
      family: 'inet',
      scheduler: 'wlc',
      persistence: { timeout: 60, netmask: '255.255.255.0' },
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect(typeof svc!.stats.conns).toBe('bigint');
  });

  it('a destination without stats or connection counts reads zeros', () => {
    const [d] = decodeDestinations(new ReplyBuilder().destination(destination({ fwd: FWD_MASQ, port: 8080, weight: 3 })).build());
    expect(d).toStrictEqual({
      address: '192.168.1.10',
      family: 'inet',
      port: 8080,
      forwarding: 'masq',
      weight: 3,
      upperThreshold: 0,
      lowerThreshold: 0,
      activeConnections: 0,
      inactiveConnections: 0,
      persistentConnections: 0,
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
  });

  it('tunnel forwarding without tunnel attributes (before 5.2): forwarding reads tunnel, no tunnel options are made up', () => {
    const [old, recent] = decodeDestinations(
      new ReplyBuilder()
        .destination(destination({ fwd: FWD_TUNNEL, hasTunnel: false }))
        .destination(destination({ fwd: FWD_TUNNEL, hasTunnel: true, tunType: TUN_GUE, tunPort: 6080, tunFlags: 1 }))
        .build(),
    );
    expect(old!.forwarding).toBe('tunnel');
    expect('tunnel' in old!).toBe(false);
    expect(recent!.tunnel).toStrictEqual({ type: 'gue', port: 6080, checksum: 'csum' });
  });

  it("a destination without its own family (before 3.18) gets the service's from the addon: an IPv6 service's destinations read IPv6", () => {
    // The addon fills the record's family with the service's when ADDR_FAMILY is absent.
    const snap = decodeSnapshot(
      new ReplyBuilder()
        .service(service({ destCount: 1, family: AF_INET6, address: addressBytes('2001:db8::1') }))
        .destination(destination({ family: AF_INET6, address: addressBytes('2001:db8::10') }))
        .build(),
    );
    expect(snap[0]!.destinations[0]).toMatchObject({ address: '2001:db8::10', family: 'inet6', port: 80 });
  });

  it("FWD_LOCALNODE (older kernels mark local real servers) reads 'local'", () => {
    const [d] = decodeDestinations(new ReplyBuilder().destination(destination({ fwd: FWD_LOCALNODE })).build());
    expect(d!.forwarding).toBe('local');
  });
});

describe('what a newer kernel adds', () => {
  it('service flag bits ipvs-ts does not know (and HASHED) are ignored', () => {
    const plain = decodeServices(new ReplyBuilder().service(service({ flags: SVC_F_SCHED1, scheduler: 'sh' })).build());
    const more = decodeServices(
      new ReplyBuilder().service(service({ flags: SVC_F_SCHED1 | SVC_F_HASHED | 0x40 | 0x8000 | 0x80000000, scheduler: 'sh' })).build(),
    );
    expect(more).toStrictEqual(plain);
    expect(more[0]!.schedulerFlags).toEqual(['sh-fallback']);
  });

  it('connection flag bits beside the forwarding method are ignored', () => {
    const [d] = decodeDestinations(new ReplyBuilder().destination(destination({ fwd: FWD_MASQ | 0x0100 | 0x1000 })).build());
    expect(d!.forwarding).toBe('masq');
  });

  it('a persistence engine other than sip is not reported as one', () => {
    const [svc] = decodeServices(new ReplyBuilder().service(service({ flags: SVC_F_PERSISTENT, timeout: 5, pe: 'newpe' })).build());
    expect(svc!.persistence).toEqual({ timeout: 5, netmask: '255.255.255.255' });
    expect('persistenceEngine' in svc!).toBe(false);
  });
});
