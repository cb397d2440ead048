import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';

import { describe, expect, test, vi } from 'vitest';

// lib/native.ts loads the addon when imported; these tests need only its
// constants, so the .node file is stubbed and the suite runs without a build.
vi.mock('node:module', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:module')>();
  return {
    ...actual,
    createRequire: (url: string | URL) => {
      const real = actual.createRequire(url);
      return Object.assign((id: string) => (id.endsWith('.node') ? {} : real(id)), real);
    },
  };
});

import {
  addressFamily,
  canonicalAddress,
  daemonSpecToRaw,
  daemonStateToRaw,
  describeDestination,
  describeServiceKey,
  destinationKeyToRaw,
  destinationSpecToRaw,
  formatIPv6,
  ipv4ToNumber,
  isContiguousMask,
  numberToIPv4,
  parseIPv6,
  rawToDaemon,
  rawToDestination,
  rawToInfo,
  rawToService,
  rawToTimeouts,
  serviceKeyId,
  serviceKeyToRaw,
  serviceSpecToRaw,
  timeoutsToRaw,
} from '../../lib/convert.js';
import {
  AF_INET,
  AF_INET6,
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
} from '../../lib/native.js';
import type { RawDestination, RawService, RawStats } from '../../lib/native.js';
import type { DestinationSpec, ServiceKey } from '../../lib/types.js';
import { validateDestinationSpec, validateServiceSpec } from '../../lib/validate.js';
import { expectedDestination, expectedService, Gen, genDestinationSpec, genServiceSpec } from './gen.js';

const ZERO_STATS = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const ZERO_RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

describe('IPv6 text', () => {
  // Pairs of [input, glibc inet_ntop output], built by fixtures/inet6-ntop.py.
  const fixture = JSON.parse(
    readFileSync(new URL('./fixtures/inet6-ntop.json', import.meta.url), 'utf8'),
  ) as [string, string][];

  test('the fixture is substantial', () => {
    expect(fixture.length).toBeGreaterThan(500);
  });

  test('canonicalAddress matches glibc inet_ntop for every fixture', () => {
    const wrong = fixture.filter(([input, want]) => canonicalAddress(input) !== want);
    expect(wrong).toEqual([]);
  });

  test.each([
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['0:0:0:0:0:FFFF:0102:0304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['::0:1.2.3.4', '::1.2.3.4'],
    ['::ffff:0:1.2.3.4', '::ffff:0:102:304'],
    ['::1', '::1'],
    ['::2', '::2'],
    ['::', '::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['fe80::', 'fe80::'],
  ])('%s → %s', (input, want) => {
    expect(canonicalAddress(input)).toBe(want);
  });

  test('refuses what is not an address, and scoped text', () => {
    for (const bad of ['', 'fe80::1%eth0', '1::2::3', '10.0.0.300', '010.0.0.1', 'host', '::g', ' ::1']) {
      expect(canonicalAddress(bad)).toBeUndefined();
    }
    expect(addressFamily('fe80::1%eth0')).toBeUndefined();
    expect(addressFamily('10.0.0.1')).toBe('inet');
    expect(addressFamily('::1')).toBe('inet6');
  });

  test('IPv4 text passes unchanged', () => {
    expect(canonicalAddress('10.0.0.1')).toBe('10.0.0.1');
  });

  test('parseIPv6 accepts exactly what node:net isIPv6 accepts (zone ids aside)', () => {
    const g = new Gen(5);
    const token = (): string => {
      const r = g.next();
      if (r < 0.45) return Array.from({ length: g.int(0, 5) }, () => g.pick([...'0123456789abcdefABCDEF'])).join('');
      if (r < 0.7) return ':';
      if (r < 0.8) return '::';
      if (r < 0.95) return [0, 1, 2, 3].map(() => g.pick(['0', '1', '01', '255', '256', '99', '010'])).join('.');
      return g.pick(['.', 'g', ' ', '1.2.3']);
    };
    const mismatches: string[] = [];
    let valid = 0;
    for (let i = 0; i < 50000; i++) {
      let text = Array.from({ length: g.int(1, 12) }, token).join('');
      if (g.bool(0.3)) text = g.ipv6();
      if (g.bool(0.2)) {
        const at = g.int(0, text.length);
        text = text.slice(0, at) + g.pick([':', '0', '.', '', 'f']) + text.slice(at + g.int(0, 1));
      }
      const ok = parseIPv6(text) !== undefined;
      if (ok) valid++;
      if (ok !== isIPv6(text)) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
    expect(valid).toBeGreaterThan(10000);
  });

  test('format and parse invert each other on random words', () => {
    const g = new Gen(6);
    for (let i = 0; i < 2000; i++) {
      const words = Array.from({ length: 8 }, () => (g.bool(0.5) ? 0 : g.int(0, 0xffff)));
      const text = formatIPv6(words);
      expect(parseIPv6(text)).toEqual(words);
      expect(canonicalAddress(text)).toBe(text);
    }
  });
});

describe('IPv4 masks', () => {
  test('dotted text ↔ host-order number', () => {
    expect(ipv4ToNumber('255.255.255.0')).toBe(0xffffff00);
    expect(ipv4ToNumber('255.255.255.255')).toBe(0xffffffff);
    expect(ipv4ToNumber('0.0.0.0')).toBe(0);
    expect(numberToIPv4(0xffffff00)).toBe('255.255.255.0');
    expect(numberToIPv4(0x80000000)).toBe('128.0.0.0');
  });
  test('contiguity', () => {
    for (let p = 0; p <= 32; p++) expect(isContiguousMask(p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0)).toBe(true);
    expect(isContiguousMask(0xff00ff00)).toBe(false);
    expect(isContiguousMask(0x000000ff)).toBe(false);
  });
});

describe('names in messages', () => {
  test.each<[ServiceKey, string]>([
    [{ protocol: 'tcp', address: '10.0.0.1', port: 80 }, 'tcp 10.0.0.1:80'],
    [{ protocol: 'udp', address: '2001:DB8:0::1', port: 53 }, 'udp [2001:db8::1]:53'],
    [{ protocol: 'sctp', address: '::ffff:10.0.0.1', port: 3868 }, 'sctp [::ffff:10.0.0.1]:3868'],
    [{ fwmark: 7 }, 'fwmark 7'],
    [{ fwmark: 7, family: 'inet' }, 'fwmark 7'],
    [{ fwmark: 7, family: 'inet6' }, 'fwmark 7 inet6'],
  ])('describeServiceKey(%o) = %s', (key, want) => {
    expect(describeServiceKey(key)).toBe(want);
  });

  test('describeDestination', () => {
    expect(describeDestination('10.0.0.2', 80)).toBe('10.0.0.2:80');
    expect(describeDestination('2001:db8:0::2', 80)).toBe('[2001:db8::2]:80');
  });

  test('serviceKeyId is the same for every spelling of one key', () => {
    const ids = [
      { protocol: 'tcp', address: '2001:db8::1', port: 80 },
      { protocol: 'tcp', address: '2001:DB8:0:0::1', port: 80 },
      { protocol: 'tcp', address: '2001:0db8:0000:0000:0000:0000:0000:0001', port: 80 },
    ].map((k) => serviceKeyId(k as ServiceKey));
    expect(new Set(ids).size).toBe(1);
    expect(serviceKeyId({ fwmark: 3 })).toBe(serviceKeyId({ fwmark: 3, family: 'inet' }));
    const distinct = [
      { protocol: 'tcp', address: '10.0.0.1', port: 80 },
      { protocol: 'udp', address: '10.0.0.1', port: 80 },
      { protocol: 'tcp', address: '10.0.0.1', port: 81 },
      { protocol: 'tcp', address: '10.0.0.2', port: 80 },
      { protocol: 'tcp', address: '::ffff:10.0.0.1', port: 80 },
      { fwmark: 80 },
      { fwmark: 80, family: 'inet6' },
    ].map((k) => serviceKeyId(k as ServiceKey));
    expect(new Set(distinct).size).toBe(distinct.length);
  });
});

describe('services to the kernel', () => {
  test('serviceKeyToRaw: address keys', () => {
    expect(serviceKeyToRaw({ protocol: 'tcp', address: '10.0.0.1', port: 80 })).toEqual({
      family: AF_INET,
      protocol: IPPROTO_TCP,
      address: '10.0.0.1',
      port: 80,
      fwmark: 0,
      scheduler: '',
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
    });
    const v6 = serviceKeyToRaw({ protocol: 'sctp', address: '2001:db8::1', port: 3868 });
    expect(v6).toMatchObject({ family: AF_INET6, protocol: IPPROTO_SCTP, port: 3868, netmask: 128 });
    expect(serviceKeyToRaw({ protocol: 'udp', address: '10.0.0.1', port: 53 }).protocol).toBe(IPPROTO_UDP);
  });

  test('serviceKeyToRaw: fwmark keys (default family inet, protocol tcp as ipvsadm)', () => {
    const raw = serviceKeyToRaw({ fwmark: 7 });
    expect(raw).toEqual({
      family: AF_INET,
      protocol: IPPROTO_TCP,
      port: 0,
      fwmark: 7,
      scheduler: '',
      flags: 0,
      timeout: 0,
      netmask: 0xffffffff,
    });
    expect(raw.address).toBeUndefined();
    expect(serviceKeyToRaw({ fwmark: 0xffffffff, family: 'inet6' })).toMatchObject({
      family: AF_INET6,
      fwmark: 0xffffffff,
      netmask: 128,
    });
  });

  test('serviceSpecToRaw: defaults', () => {
    const raw = serviceSpecToRaw({ protocol: 'tcp', address: '10.0.0.1', port: 80 });
    expect(raw).toMatchObject({ scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff });
    expect('pe' in raw).toBe(false);
    expect(serviceSpecToRaw({ protocol: 'tcp', address: '::1', port: 80 }).netmask).toBe(128);
  });

  test('serviceSpecToRaw: persistence, netmask, one-packet, pe', () => {
    expect(
      serviceSpecToRaw({
        protocol: 'udp',
        address: '10.0.0.4',
        port: 5060,
        scheduler: 'rr',
        persistence: { timeout: 60, netmask: '255.255.255.0' },
        onePacket: true,
        persistenceEngine: 'sip',
      }),
    ).toMatchObject({
      scheduler: 'rr',
      flags: SVC_F_PERSISTENT | SVC_F_ONEPACKET,
      timeout: 60,
      netmask: 0xffffff00,
      pe: 'sip',
    });
    expect(serviceSpecToRaw({ fwmark: 1, family: 'inet6', persistence: { timeout: 300, netmask: 64 } })).toMatchObject({
      flags: SVC_F_PERSISTENT,
      timeout: 300,
      netmask: 64,
    });
    expect(serviceSpecToRaw({ fwmark: 1, persistence: { timeout: 300 } }).netmask).toBe(0xffffffff);
  });

  test.each([
    ['sh-fallback', SVC_F_SCHED1],
    ['mh-fallback', SVC_F_SCHED1],
    ['flag-1', SVC_F_SCHED1],
    ['sh-port', SVC_F_SCHED2],
    ['mh-port', SVC_F_SCHED2],
    ['flag-2', SVC_F_SCHED2],
    ['flag-3', SVC_F_SCHED3],
  ] as const)('scheduler flag %s → 0x%s', (flag, bit) => {
    expect(serviceSpecToRaw({ fwmark: 1, schedulerFlags: [flag] }).flags).toBe(bit);
  });
});

function rawStats(n: number): RawStats {
  return {
    conns: BigInt(n),
    inPkts: BigInt(n + 1),
    outPkts: BigInt(n + 2),
    inBytes: 2n ** 40n + BigInt(n),
    outBytes: 2n ** 63n + BigInt(n),
    cps: n + 5,
    inPps: n + 6,
    outPps: n + 7,
    inBps: n + 8,
    outBps: n + 9,
  };
}

function kernelService(over: Partial<RawService>): RawService {
  return {
    family: AF_INET,
    protocol: IPPROTO_TCP,
    address: '10.0.0.1',
    port: 80,
    fwmark: 0,
    scheduler: 'wlc',
    flags: SVC_F_HASHED,
    timeout: 0,
    netmask: 0xffffffff,
    stats: rawStats(1),
    ...over,
  };
}

describe('services from the kernel', () => {
  test('a plain service: HASHED stripped, optional fields omitted, stats and rates split', () => {
    const svc = rawToService(kernelService({}));
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

  test('persistence only with the PERSISTENT flag; IPv4 netmask dotted, IPv6 a prefix', () => {
    expect(rawToService(kernelService({ timeout: 300, netmask: 0xffffff00 })).persistence).toBeUndefined();
    expect(
      rawToService(kernelService({ flags: SVC_F_HASHED | SVC_F_PERSISTENT, timeout: 300, netmask: 0xffffff00 }))
        .persistence,
    ).toEqual({ timeout: 300, netmask: '255.255.255.0' });
    expect(
      rawToService(
        kernelService({ family: AF_INET6, address: '2001:db8::1', flags: SVC_F_PERSISTENT, timeout: 60, netmask: 64 }),
      ).persistence,
    ).toEqual({ timeout: 60, netmask: 64 });
  });

  test('one-packet, pe and flags', () => {
    const svc = rawToService(
      kernelService({ protocol: IPPROTO_UDP, flags: SVC_F_ONEPACKET | SVC_F_PERSISTENT, timeout: 60, pe: 'sip' }),
    );
    expect(svc.onePacket).toBe(true);
    expect(svc.persistenceEngine).toBe('sip');
    expect(rawToService(kernelService({ pe: '' })).persistenceEngine).toBeUndefined();
  });

  test.each([
    ['sh', ['sh-fallback', 'sh-port', 'flag-3']],
    ['mh', ['mh-fallback', 'mh-port', 'flag-3']],
    ['wrr', ['flag-1', 'flag-2', 'flag-3']],
    ['none', ['flag-1', 'flag-2', 'flag-3']],
  ])('scheduler flags are named for %s', (scheduler, names) => {
    const all = SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3 | SVC_F_HASHED;
    expect(rawToService(kernelService({ scheduler, flags: all })).schedulerFlags).toEqual(names);
    expect(rawToService(kernelService({ scheduler, flags: SVC_F_SCHED2 })).schedulerFlags).toEqual([names[1]]);
    expect(rawToService(kernelService({ scheduler, flags: SVC_F_HASHED })).schedulerFlags).toBeUndefined();
  });

  test('fwmark services: key is fwmark and family', () => {
    const svc = rawToService(kernelService({ fwmark: 9, family: AF_INET6, protocol: 0, address: undefined, port: 0 }));
    expect(svc).toMatchObject({ fwmark: 9, family: 'inet6' });
    expect('protocol' in svc || 'address' in svc || 'port' in svc).toBe(false);
  });

  test('IPv6 address canonicalized; absent stats read as zero', () => {
    const svc = rawToService(kernelService({ family: AF_INET6, address: '2001:DB8:0::1', stats: undefined }));
    expect(svc).toMatchObject({ address: '2001:db8::1', stats: ZERO_STATS, rates: ZERO_RATES });
  });

  test('unmodelled family or protocol throws', () => {
    expect(() => rawToService(kernelService({ family: 7 }))).toThrow('unexpected address family 7');
    expect(() => rawToService(kernelService({ protocol: 50 }))).toThrow('unexpected service protocol 50');
  });
});

describe('destinations to the kernel', () => {
  const svc: ServiceKey = { protocol: 'tcp', address: '10.0.0.1', port: 80 };

  test('defaults: service port, route, weight 1, thresholds 0, no tunnel attributes', () => {
    const raw = destinationSpecToRaw({ address: '10.0.0.2' }, svc);
    expect(raw).toEqual({
      address: '10.0.0.2',
      family: AF_INET,
      port: 80,
      fwdMethod: FWD_DROUTE,
      weight: 1,
      upperThreshold: 0,
      lowerThreshold: 0,
    });
  });

  test('fwmark services default to port 0', () => {
    expect(destinationSpecToRaw({ address: '10.0.0.2' }, { fwmark: 1 }).port).toBe(0);
    expect(destinationKeyToRaw({ address: '10.0.0.2' }, { fwmark: 1 }).port).toBe(0);
  });

  test('masq with port, weights, thresholds', () => {
    expect(
      destinationSpecToRaw(
        { address: '10.0.0.2', port: 8080, forwarding: 'masq', weight: 0, upperThreshold: 100, lowerThreshold: 50 },
        svc,
      ),
    ).toEqual({
      address: '10.0.0.2',
      family: AF_INET,
      port: 8080,
      fwdMethod: FWD_MASQ,
      weight: 0,
      upperThreshold: 100,
      lowerThreshold: 50,
    });
  });

  test('tunnel forwarding always carries tunnel attributes, defaulting to ipip / 0 / nocsum', () => {
    expect(destinationSpecToRaw({ address: '2001:db8::2', forwarding: 'tunnel' }, svc)).toMatchObject({
      family: AF_INET6,
      fwdMethod: FWD_TUNNEL,
      tunType: 0,
      tunPort: 0,
      tunFlags: 0,
    });
    expect(
      destinationSpecToRaw(
        { address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' } },
        svc,
      ),
    ).toMatchObject({ tunType: 1, tunPort: 6080, tunFlags: 2 });
    expect(
      destinationSpecToRaw({ address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }, svc),
    ).toMatchObject({ tunType: 2, tunPort: 0, tunFlags: 1 });
  });

  test('destinationKeyToRaw', () => {
    expect(destinationKeyToRaw({ address: '10.0.0.2', port: 81 }, svc)).toMatchObject({
      address: '10.0.0.2',
      family: AF_INET,
      port: 81,
    });
  });
});

function kernelDest(over: Partial<RawDestination>): RawDestination {
  return {
    address: '10.0.0.2',
    family: AF_INET,
    port: 80,
    fwdMethod: FWD_DROUTE,
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    tunType: 0,
    tunPort: 0,
    tunFlags: 0,
    activeConns: 3,
    inactConns: 4,
    persistConns: 5,
    stats: rawStats(10),
    ...over,
  };
}

describe('destinations from the kernel', () => {
  test('a route destination: no tunnel, counts and stats mapped', () => {
    const d = rawToDestination(kernelDest({}), AF_INET);
    expect(d).toEqual({
      address: '10.0.0.2',
      family: 'inet',
      port: 80,
      forwarding: 'route',
      weight: 1,
      upperThreshold: 0,
      lowerThreshold: 0,
      activeConnections: 3,
      inactiveConnections: 4,
      persistentConnections: 5,
      stats: { conns: 10n, inPkts: 11n, outPkts: 12n, inBytes: 2n ** 40n + 10n, outBytes: 2n ** 63n + 10n },
      rates: { cps: 15, inPps: 16, outPps: 17, inBps: 18, outBps: 19 },
    });
  });

  test('forwarding names, local included', () => {
    expect(rawToDestination(kernelDest({ fwdMethod: FWD_MASQ }), 'inet').forwarding).toBe('masq');
    expect(rawToDestination(kernelDest({ fwdMethod: FWD_LOCALNODE }), 'inet').forwarding).toBe('local');
    expect(rawToDestination(kernelDest({ fwdMethod: FWD_TUNNEL }), 'inet').forwarding).toBe('tunnel');
    expect(() => rawToDestination(kernelDest({ fwdMethod: 5 }), 'inet')).toThrow('unexpected forwarding method 5');
  });

  test('family falls back to the service family when the kernel omitted it', () => {
    expect(rawToDestination(kernelDest({ family: 0, address: '2001:db8::2' }), AF_INET6).family).toBe('inet6');
    expect(rawToDestination(kernelDest({ family: 0 }), 'inet').family).toBe('inet');
    expect(rawToDestination(kernelDest({ family: AF_INET6, address: '2001:DB8::2' }), AF_INET).address).toBe(
      '2001:db8::2',
    );
  });

  test('tunnel present only for tunnel forwarding with reported attributes', () => {
    const t = rawToDestination(kernelDest({ fwdMethod: FWD_TUNNEL, tunType: 1, tunPort: 6080, tunFlags: 1 }), 'inet');
    expect(t.tunnel).toEqual({ type: 'gue', port: 6080, checksum: 'csum' });
    expect(Object.keys(t).indexOf('tunnel')).toBe(Object.keys(t).indexOf('lowerThreshold') + 1);
    expect(rawToDestination(kernelDest({ fwdMethod: FWD_TUNNEL, tunFlags: 2 }), 'inet').tunnel).toEqual({
      type: 'ipip',
      port: 0,
      checksum: 'remcsum',
    });
    const old = kernelDest({ fwdMethod: FWD_TUNNEL });
    delete old.tunType;
    delete old.tunPort;
    delete old.tunFlags;
    expect('tunnel' in rawToDestination(old, 'inet')).toBe(false);
    expect('tunnel' in rawToDestination(kernelDest({ fwdMethod: FWD_TUNNEL, tunType: 9 }), 'inet')).toBe(false);
  });

  test('missing counts and stats read as zero', () => {
    const d = rawToDestination(
      {
        address: '10.0.0.2',
        family: AF_INET,
        port: 80,
        fwdMethod: FWD_MASQ,
        weight: 2,
        upperThreshold: 0,
        lowerThreshold: 0,
      },
      'inet',
    );
    expect(d).toMatchObject({
      activeConnections: 0,
      inactiveConnections: 0,
      persistentConnections: 0,
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
  });
});

describe('timeouts, daemons, info', () => {
  test('timeouts: absent means 0 (keep)', () => {
    expect(timeoutsToRaw({ tcp: 900 })).toEqual({ tcp: 900, tcpFin: 0, udp: 0 });
    expect(timeoutsToRaw({})).toEqual({ tcp: 0, tcpFin: 0, udp: 0 });
    expect(rawToTimeouts({ tcp: 900, tcpFin: 120, udp: 300 })).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });

  test('daemon spec: sync id defaults to 0; optional fields only when given', () => {
    expect(daemonSpecToRaw({ state: 'master', interface: 'eth0' })).toEqual({ state: 1, interface: 'eth0', syncId: 0 });
    expect(
      daemonSpecToRaw({
        state: 'backup',
        interface: 'eth1',
        syncId: 9,
        maxLength: 1400,
        group: 'ff02::81',
        port: 8849,
        ttl: 2,
      }),
    ).toEqual({ state: 2, interface: 'eth1', syncId: 9, maxLength: 1400, group: 'ff02::81', port: 8849, ttl: 2 });
    expect(daemonStateToRaw('master')).toBe(1);
    expect(daemonStateToRaw('backup')).toBe(2);
  });

  test('daemon from the kernel', () => {
    expect(rawToDaemon({ state: 1, interface: 'eth0', syncId: 0 })).toEqual({
      state: 'master',
      interface: 'eth0',
      syncId: 0,
    });
    expect(
      rawToDaemon({ state: 2, interface: 'eth0', syncId: 3, maxLength: 1472, group: 'FF02:0::81', port: 8848, ttl: 1 }),
    ).toEqual({ state: 'backup', interface: 'eth0', syncId: 3, maxLength: 1472, group: 'ff02::81', port: 8848, ttl: 1 });
    expect(() => rawToDaemon({ state: 3, interface: 'eth0', syncId: 0 })).toThrow('unexpected sync daemon state 3');
  });

  test('info', () => {
    expect(rawToInfo({ version: 0x010201, connTableSize: 4096 })).toEqual({
      version: '1.2.1',
      connectionTableSize: 4096,
    });
  });
});

/** What the kernel would report back for a service written with `raw`. */
function asKernelHoldsIt(raw: RawService): RawService {
  const out: RawService = { ...raw, flags: raw.flags | SVC_F_HASHED, stats: { ...ZERO_STATS, ...ZERO_RATES } };
  if (raw.fwmark !== 0) {
    out.protocol = 0;
    delete out.address;
  } else {
    out.address = canonicalAddress(raw.address ?? '') ?? '';
  }
  return out;
}

describe('round trips (seeded)', () => {
  test('service spec → raw → kernel → public equals the spec with defaults, canonical text', () => {
    const g = new Gen(1);
    for (let i = 0; i < 3000; i++) {
      const spec = genServiceSpec(g);
      validateServiceSpec(spec);
      const back = rawToService(asKernelHoldsIt(serviceSpecToRaw(spec)));
      expect(back, JSON.stringify(spec)).toEqual(expectedService(spec));
      // A service read back is a valid spec, and writes the same thing again.
      validateServiceSpec(back);
      const again = serviceSpecToRaw(spec);
      if (again.address !== undefined) again.address = canonicalAddress(again.address);
      expect(serviceSpecToRaw(back)).toEqual(again);
      expect(serviceKeyId(back)).toBe(serviceKeyId(spec));
    }
  });

  test('destination spec → raw → kernel → public equals the spec with defaults', () => {
    const g = new Gen(2);
    for (let i = 0; i < 3000; i++) {
      const svcSpec = genServiceSpec(g);
      const spec = genDestinationSpec(g, svcSpec);
      validateDestinationSpec(spec, svcSpec);
      const raw = destinationSpecToRaw(spec, svcSpec);
      const held: RawDestination = {
        tunType: 0,
        tunPort: 0,
        tunFlags: 0,
        ...raw,
        address: canonicalAddress(raw.address) ?? '',
        activeConns: 0,
        inactConns: 0,
        persistConns: 0,
      };
      const back = rawToDestination(held, serviceSpecToRaw(svcSpec).family);
      expect(back, JSON.stringify(spec)).toEqual(expectedDestination(spec, svcSpec));
      // A destination read back (not 'local') is a valid spec, and writes the same thing again.
      validateDestinationSpec(back, svcSpec);
      expect(destinationSpecToRaw(back as DestinationSpec, svcSpec)).toEqual({ ...raw, address: held.address });
    }
  });
});
