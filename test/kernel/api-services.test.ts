// Issue 3: virtual services through the Ipvs API against the real kernel —
// every protocol and family, every scheduler, persistence, pe sip, one-packet,
// scheduler flags, updates in place — each read back by ipvs-ts and by ipvsadm.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs, IpvsError } from '../../lib/index.js';
import type { Service, ServiceKey, ServiceSpec } from '../../lib/index.js';
import {
  parseListedServices,
  routeDestinations,
  serviceKeyId,
  tableByIpvs,
  tableByIpvsadm,
  tableByIpvsCalls,
} from './api-ipvsadm.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();
let ipvs: Ipvs;

const ZERO_STATS = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const ZERO_RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

/**
 * What ipvs-ts reads back (snapshot; listServices + listDestinations) equals
 * what ipvsadm reads back (-Sn, -Ln, --thresholds, --tun-info), and, when
 * given, the expected service settings (counters aside).
 */
async function expectTable(expected?: object[]): Promise<void> {
  const mine = await tableByIpvs(ipvs);
  expect(mine).toEqual(tableByIpvsadm(ns));
  expect(await tableByIpvsCalls(ipvs)).toEqual(mine);
  if (expected) {
    const want = Object.fromEntries((expected as ServiceSpec[]).map((s) => [serviceKeyId(s), s]));
    expect(Object.fromEntries(mine.map((e) => [e.id, e.service]))).toStrictEqual(want);
  }
}
const id = (s: ServiceKey): string => serviceKeyId(s);

beforeAll(async () => {
  routeDestinations(ns);
  ipvs = await Ipvs.open({ netns: ns.name });
});
afterAll(() => ipvs?.close());
afterEach(async () => {
  await ipvs.flush();
});

describe('protocols and families', () => {
  it('tcp/udp/sctp on IPv4 and IPv6 and fwmark (inet, inet6) read back exactly, by ipvs-ts and ipvsadm', async () => {
    const specs: ServiceSpec[] = [
      { protocol: 'tcp', address: '10.0.0.1', port: 80 },
      { protocol: 'udp', address: '10.0.0.1', port: 53 },
      { protocol: 'sctp', address: '10.0.0.1', port: 3868 },
      { protocol: 'tcp', address: '2001:db8::1', port: 443 },
      { protocol: 'udp', address: '2001:db8::1', port: 53 },
      { protocol: 'sctp', address: '2001:db8::1', port: 9 },
      { fwmark: 1 },
      { fwmark: 2, family: 'inet' },
      { fwmark: 3, family: 'inet6' },
      { fwmark: 4294967295 },
      { protocol: 'tcp', address: '255.255.255.254', port: 65535 },
    ];
    for (const s of specs) await ipvs.addService(s);

    // getService: exactly the spec as held, no optional keys, zero counters.
    expect(await ipvs.getService({ protocol: 'tcp', address: '10.0.0.1', port: 80 })).toStrictEqual({
      protocol: 'tcp',
      address: '10.0.0.1',
      port: 80,
      family: 'inet',
      scheduler: 'wlc',
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect(await ipvs.getService({ protocol: 'sctp', address: '2001:db8::1', port: 9 })).toStrictEqual({
      protocol: 'sctp',
      address: '2001:db8::1',
      port: 9,
      family: 'inet6',
      scheduler: 'wlc',
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect(await ipvs.getService({ fwmark: 3, family: 'inet6' })).toStrictEqual({
      fwmark: 3,
      family: 'inet6',
      scheduler: 'wlc',
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect(await ipvs.getService({ fwmark: 1 })).toStrictEqual({
      fwmark: 1,
      family: 'inet',
      scheduler: 'wlc',
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    // An fwmark is per family: fwmark 3 exists for inet6 only.
    expect(await ipvs.getService({ fwmark: 3 })).toBeUndefined();

    const listed = await ipvs.listServices();
    expect(listed).toHaveLength(specs.length);
    for (const s of listed) {
      expect(typeof s.stats.conns).toBe('bigint');
      expect(s.rates).toStrictEqual(ZERO_RATES);
    }
    await expectTable(
      specs.map((s) => ({
        ...s,
        family: 'fwmark' in s ? (s.family ?? 'inet') : s.address.includes(':') ? 'inet6' : 'inet',
        scheduler: 'wlc',
      }))
    );
  });

  it('IPv6 text in any form names the same service; reads back canonical', async () => {
    await ipvs.addService({ protocol: 'tcp', address: '2001:DB8:0:0:0:0:0:00A1', port: 80 });
    const got = await ipvs.getService({ protocol: 'tcp', address: '2001:db8::a1', port: 80 });
    expect(got).toMatchObject({ address: '2001:db8::a1', family: 'inet6' });
    expect(await ipvs.getService({ protocol: 'tcp', address: '2001:0db8::00a1', port: 80 })).toEqual(got);
    await ipvs.deleteService({ protocol: 'tcp', address: '2001:db8:0::a1', port: 80 });
    expect(await ipvs.listServices()).toEqual([]);
  });

  it('deleteService removes exactly one service; getService of a missing one is undefined', async () => {
    await ipvs.addService({ protocol: 'tcp', address: '10.0.0.1', port: 80 });
    await ipvs.addService({ protocol: 'udp', address: '10.0.0.1', port: 80 });
    await ipvs.addService({ fwmark: 80 });
    await ipvs.deleteService({ protocol: 'udp', address: '10.0.0.1', port: 80 });
    expect(await ipvs.getService({ protocol: 'udp', address: '10.0.0.1', port: 80 })).toBeUndefined();
    expect(await ipvs.getService({ protocol: 'tcp', address: '10.0.0.9', port: 80 })).toBeUndefined();
    expect(await ipvs.getService({ fwmark: 81 })).toBeUndefined();
    expect(await ipvs.getService({ fwmark: 80, family: 'inet6' })).toBeUndefined();
    expect((await ipvs.listServices()).map(id).sort()).toEqual(['fwmark 80', 'tcp 10.0.0.1:80']);
    expect([...parseListedServices(ok(ns.ipvsadm('-Ln'))).keys()].sort()).toEqual(['fwmark 80', 'tcp 10.0.0.1:80']);
  });

  it('listDestinations of a missing service rejects with IpvsError ESRCH', async () => {
    const err = await ipvs.listDestinations({ protocol: 'tcp', address: '10.0.0.9', port: 80 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpvsError);
    expect(err).toMatchObject({ code: 'ESRCH', errno: 3, op: 'listDestinations' });
    expect((err as Error).message).toBe('no such service tcp 10.0.0.9:80 (ESRCH)');
    const err6 = await ipvs.listDestinations({ fwmark: 9, family: 'inet6' }).catch((e: unknown) => e);
    expect(err6).toMatchObject({ name: 'IpvsError', code: 'ESRCH', op: 'listDestinations' });
    expect((err6 as Error).message).toBe('no such service fwmark 9 inet6 (ESRCH)');
  });
});

describe('schedulers', () => {
  const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh'];

  it('every scheduler the kernel has (mh loads on demand) is held and read back', async () => {
    const specs: ServiceSpec[] = SCHEDULERS.map((scheduler, i) => ({ protocol: 'tcp', address: '10.0.1.1', port: 1000 + i, scheduler }));
    for (const s of specs) await ipvs.addService(s);
    for (const s of specs) {
      const got = await ipvs.getService(s);
      expect(got?.scheduler).toBe(s.scheduler);
    }
    const headers = parseListedServices(ok(ns.ipvsadm('-Ln')));
    expect(SCHEDULERS.map((_, i) => headers.get(`tcp 10.0.1.1:${1000 + i}`)?.scheduler)).toEqual(SCHEDULERS);
    await expectTable(specs.map((s) => ({ ...s, family: 'inet' })));
  });

  it('updateService switches one service through every scheduler in place', async () => {
    const key = { protocol: 'udp', address: '2001:db8::5', port: 53 } as const;
    await ipvs.addService({ ...key, scheduler: 'rr' });
    await ipvs.addDestination(key, { address: '2001:db8::10', forwarding: 'masq' });
    for (const scheduler of [...SCHEDULERS].reverse()) {
      await ipvs.updateService({ ...key, scheduler });
      expect((await ipvs.getService(key))?.scheduler).toBe(scheduler);
      expect(parseListedServices(ok(ns.ipvsadm('-Ln'))).get('udp [2001:db8::5]:53')?.scheduler).toBe(scheduler);
    }
    // The destination stayed through every switch.
    expect((await ipvs.listDestinations(key)).map((d) => d.address)).toEqual(['2001:db8::10']);
  });
});

describe('persistence, persistence engine, one-packet, scheduler flags', () => {
  it('persistence with an IPv4 dotted mask, an IPv6 prefix, the default mask, port 0', async () => {
    const specs: ServiceSpec[] = [
      { protocol: 'tcp', address: '10.0.0.1', port: 443, scheduler: 'rr', persistence: { timeout: 600, netmask: '255.255.255.0' } },
      { protocol: 'tcp', address: '10.0.0.2', port: 443, persistence: { timeout: 1 } },
      { protocol: 'tcp', address: '10.0.0.3', port: 443, persistence: { timeout: 2678400, netmask: '0.0.0.0' } },
      { protocol: 'tcp', address: '10.0.0.5', port: 0, scheduler: 'lc', persistence: { timeout: 360 } },
      { protocol: 'tcp', address: '2001:db8::1', port: 80, persistence: { timeout: 360, netmask: 64 } },
      { protocol: 'udp', address: '2001:db8::1', port: 0, persistence: { timeout: 30, netmask: 1 } },
      { fwmark: 10, family: 'inet6', persistence: { timeout: 120, netmask: 48 } },
      { fwmark: 10, scheduler: 'lblc', persistence: { timeout: 1800, netmask: '255.255.0.0' } },
    ];
    for (const s of specs) await ipvs.addService(s);
    expect(await ipvs.getService({ protocol: 'tcp', address: '10.0.0.1', port: 443 })).toStrictEqual({
      protocol: 'tcp',
      address: '10.0.0.1',
      port: 443,
      family: 'inet',
      scheduler: 'rr',
      persistence: { timeout: 600, netmask: '255.255.255.0' },
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect((await ipvs.getService({ protocol: 'tcp', address: '10.0.0.2', port: 443 }))?.persistence).toStrictEqual({
      timeout: 1,
      netmask: '255.255.255.255',
    });
    expect((await ipvs.getService({ fwmark: 10, family: 'inet6' }))?.persistence).toStrictEqual({ timeout: 120, netmask: 48 });
    expect((await ipvs.getService({ protocol: 'tcp', address: '2001:db8::1', port: 80 }))?.persistence).toStrictEqual({
      timeout: 360,
      netmask: 64,
    });
    await expectTable(
      specs.map((s) => {
        const family = 'fwmark' in s ? (s.family ?? 'inet') : s.address.includes(':') ? 'inet6' : 'inet';
        return {
          ...s,
          family,
          scheduler: s.scheduler ?? 'wlc',
          persistence: { timeout: s.persistence!.timeout, netmask: s.persistence!.netmask ?? (family === 'inet6' ? 128 : '255.255.255.255') },
        };
      })
    );
  });

  it('pe sip (udp, persistent) reads back; an update without it clears it', async () => {
    const key = { protocol: 'udp', address: '10.0.0.4', port: 5060 } as const;
    await ipvs.addService({ ...key, scheduler: 'rr', persistence: { timeout: 60 }, persistenceEngine: 'sip' });
    expect(await ipvs.getService(key)).toStrictEqual({
      ...key,
      family: 'inet',
      scheduler: 'rr',
      persistence: { timeout: 60, netmask: '255.255.255.255' },
      persistenceEngine: 'sip',
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect(ok(ns.ipvsadm('-Sn')).trim()).toBe('-A -u 10.0.0.4:5060 -s rr -p 60 --pe sip');
    await expectTable();
    await ipvs.updateService({ ...key, scheduler: 'rr', persistence: { timeout: 60 } });
    expect((await ipvs.getService(key))?.persistenceEngine).toBeUndefined();
    expect(ok(ns.ipvsadm('-Sn')).trim()).toBe('-A -u 10.0.0.4:5060 -s rr -p 60');
    // And back on, by update.
    await ipvs.updateService({ ...key, scheduler: 'rr', persistence: { timeout: 90 }, persistenceEngine: 'sip' });
    expect(ok(ns.ipvsadm('-Sn')).trim()).toBe('-A -u 10.0.0.4:5060 -s rr -p 90 --pe sip');
    // IPv6 too.
    await ipvs.addService({ protocol: 'udp', address: '2001:db8::4', port: 5060, persistence: { timeout: 60, netmask: 96 }, persistenceEngine: 'sip' });
    expect((await ipvs.getService({ protocol: 'udp', address: '2001:db8::4', port: 5060 }))?.persistenceEngine).toBe('sip');
    await expectTable();
  });

  it('one-packet scheduling on udp and fwmark services', async () => {
    await ipvs.addService({ protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'rr', onePacket: true });
    await ipvs.addService({ fwmark: 7, family: 'inet6', onePacket: true });
    await ipvs.addService({ protocol: 'udp', address: '10.0.0.3', port: 53, onePacket: false });
    expect((await ipvs.getService({ protocol: 'udp', address: '10.0.0.2', port: 53 }))?.onePacket).toBe(true);
    expect((await ipvs.getService({ fwmark: 7, family: 'inet6' }))?.onePacket).toBe(true);
    const off = await ipvs.getService({ protocol: 'udp', address: '10.0.0.3', port: 53 });
    expect(off && 'onePacket' in off).toBe(false);
    const headers = parseListedServices(ok(ns.ipvsadm('-Ln')));
    expect(headers.get('udp 10.0.0.2:53')?.onePacket).toBe(true);
    expect(headers.get('fwmark 7 inet6')?.onePacket).toBe(true);
    expect(headers.get('udp 10.0.0.3:53')?.onePacket).toBeUndefined();
    await expectTable();
    // Off again by update.
    await ipvs.updateService({ protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'rr' });
    expect((await ipvs.getService({ protocol: 'udp', address: '10.0.0.2', port: 53 }))?.onePacket).toBeUndefined();
  });

  it('scheduler flags: sh-fallback/sh-port with sh, mh-* with mh, flag-N with others; read back in bit order', async () => {
    const specs: ServiceSpec[] = [
      { protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'sh', schedulerFlags: ['sh-port', 'sh-fallback'] },
      { protocol: 'tcp', address: '10.0.0.2', port: 80, scheduler: 'sh', schedulerFlags: ['sh-port'] },
      { protocol: 'sctp', address: '10.0.0.3', port: 3868, scheduler: 'mh', schedulerFlags: ['mh-port'] },
      { protocol: 'tcp', address: '10.0.0.3', port: 80, scheduler: 'mh', schedulerFlags: ['mh-port', 'mh-fallback'] },
      { protocol: 'tcp', address: '10.0.0.7', port: 80, scheduler: 'wrr', schedulerFlags: ['flag-3', 'flag-1'] },
      { protocol: 'tcp', address: '10.0.0.8', port: 80, scheduler: 'rr', schedulerFlags: ['flag-2'] },
      { fwmark: 9, family: 'inet6', scheduler: 'sh', schedulerFlags: ['sh-fallback'] },
      { protocol: 'tcp', address: '10.0.0.9', port: 80, scheduler: 'rr', schedulerFlags: [] },
    ];
    for (const s of specs) await ipvs.addService(s);
    const flags = async (k: ServiceSpec): Promise<Service['schedulerFlags']> => (await ipvs.getService(k))?.schedulerFlags;
    expect(await flags(specs[0]!)).toEqual(['sh-fallback', 'sh-port']);
    expect(await flags(specs[1]!)).toEqual(['sh-port']);
    expect(await flags(specs[2]!)).toEqual(['mh-port']);
    expect(await flags(specs[3]!)).toEqual(['mh-fallback', 'mh-port']);
    expect(await flags(specs[4]!)).toEqual(['flag-1', 'flag-3']);
    expect(await flags(specs[5]!)).toEqual(['flag-2']);
    expect(await flags(specs[6]!)).toEqual(['sh-fallback']);
    const none = await ipvs.getService(specs[7]!);
    expect(none && 'schedulerFlags' in none).toBe(false);
    const headers = parseListedServices(ok(ns.ipvsadm('-Ln')));
    expect(headers.get('udp 10.0.0.2:53')?.schedulerFlags).toEqual(['sh-fallback', 'sh-port']);
    expect(headers.get('tcp 10.0.0.3:80')?.schedulerFlags).toEqual(['mh-fallback', 'mh-port']);
    expect(headers.get('tcp 10.0.0.7:80')?.schedulerFlags).toEqual(['flag-1', 'flag-3']);
    await expectTable();
  });

  it('flag-3 with sh or mh: held by the kernel and read back by ipvs-ts (ipvsadm does not print it)', async () => {
    const sh = { protocol: 'tcp', address: '10.0.0.4', port: 80, scheduler: 'sh', schedulerFlags: ['flag-3', 'sh-fallback'] } satisfies ServiceSpec;
    const mh = { fwmark: 4, scheduler: 'mh', schedulerFlags: ['mh-fallback', 'mh-port', 'flag-3'] } satisfies ServiceSpec;
    await ipvs.addService(sh);
    await ipvs.addService(mh);
    expect((await ipvs.getService(sh))?.schedulerFlags).toEqual(['sh-fallback', 'flag-3']);
    expect((await ipvs.getService(mh))?.schedulerFlags).toEqual(['mh-fallback', 'mh-port', 'flag-3']);
    // ipvsadm 1.31 names only the sh-*/mh-* bits for these schedulers.
    expect(ok(ns.ipvsadm('-Sn')).trim().split('\n').sort()).toEqual([
      '-A -f 4 -s mh -b mh-fallback,mh-port',
      '-A -t 10.0.0.4:80 -s sh -b sh-fallback',
    ]);
    // Round trip through an update keeps the bit.
    await ipvs.updateService((await ipvs.getService(mh))!);
    expect((await ipvs.getService(mh))?.schedulerFlags).toEqual(['mh-fallback', 'mh-port', 'flag-3']);
  });

  it('everything at once on one service, and a value read back fed straight into updateService changes nothing', async () => {
    const spec: ServiceSpec = {
      protocol: 'udp',
      address: '2001:db8::77',
      port: 5060,
      scheduler: 'sh',
      persistence: { timeout: 300, netmask: 120 },
      onePacket: true,
      schedulerFlags: ['sh-port', 'sh-fallback'],
      persistenceEngine: 'sip',
    };
    await ipvs.addService(spec);
    const got = await ipvs.getService(spec);
    expect(got).toStrictEqual({ ...spec, schedulerFlags: ['sh-fallback', 'sh-port'], family: 'inet6', stats: ZERO_STATS, rates: ZERO_RATES });
    const before = ok(ns.ipvsadm('-Sn'));
    expect(before.trim()).toBe('-A -u [2001:db8::77]:5060 -s sh -p 300 -M 120 --pe sip -o -b sh-fallback,sh-port');
    await ipvs.updateService(got!);
    expect(ok(ns.ipvsadm('-Sn'))).toBe(before);
    expect(await ipvs.getService(spec)).toStrictEqual(got);
  });
});

describe('updates in place', () => {
  it('updateService replaces settings (omitted ones take defaults) and keeps the destinations', async () => {
    const key = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
    await ipvs.addService({ ...key, scheduler: 'rr', persistence: { timeout: 600, netmask: '255.255.255.0' } });
    await ipvs.addDestination(key, { address: '192.168.1.10', weight: 5 });
    await ipvs.addDestination(key, { address: '192.168.1.11', forwarding: 'masq', port: 8080 });
    const dests = await ipvs.listDestinations(key);

    await ipvs.updateService({ ...key, scheduler: 'sh', schedulerFlags: ['sh-port'] });
    expect(await ipvs.getService(key)).toStrictEqual({
      ...key,
      family: 'inet',
      scheduler: 'sh',
      schedulerFlags: ['sh-port'],
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect(await ipvs.listDestinations(key)).toEqual(dests);

    await ipvs.updateService(key);
    expect(await ipvs.getService(key)).toStrictEqual({ ...key, family: 'inet', scheduler: 'wlc', stats: ZERO_STATS, rates: ZERO_RATES });
    expect(await ipvs.listDestinations(key)).toEqual(dests);
    await expectTable();
  });

  it('updateService of a missing service rejects with ESRCH and adds nothing', async () => {
    const err = await ipvs.updateService({ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'rr' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpvsError);
    expect(err).toMatchObject({ code: 'ESRCH', op: 'updateService' });
    expect(await ipvs.listServices()).toEqual([]);
  });
});
