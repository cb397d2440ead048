// Issue 3: kernel refusals in words (IpvsError with errno/code/op), and
// validation before the kernel (TypeError/RangeError naming the field and the
// value; nothing sent: ipvsadm reads the same table afterwards).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs, IpvsError } from '../../lib/index.js';
import type { DaemonSpec, DestinationSpec, ServiceKey, ServiceSpec } from '../../lib/index.js';
import { daemonsByIpvsadm, routeDestinations, saved, timeoutsByIpvsadm } from './api-ipvsadm.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();
/** A namespace with nothing configured: lo down, no address, no route. */
const bare = useFreshNetns('ipvsts-bare');
let ipvs: Ipvs;
/** The table as ipvsadm saves it right after RULES were restored. */
let baseline: string;

const TCP4 = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const satisfies ServiceKey;
const UDP6 = { protocol: 'udp', address: '2001:db8::1', port: 53 } as const satisfies ServiceKey;
const FWM6 = { fwmark: 6, family: 'inet6' } as const satisfies ServiceKey;

/** The table every validation case starts from and must leave unchanged. */
const RULES = [
  '-A -t 10.0.0.1:80 -s rr',
  '-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 1',
  '-a -t 10.0.0.1:80 -r 192.168.1.11:8080 -m -w 2 -x 10 -y 5',
  '-A -u [2001:db8::1]:53 -s wlc -p 60 -M 64',
  '-a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -g -w 1',
  '-A -f 6 -6 -s sh -b sh-port',
].join('\n');

/** Awaits a rejection and returns the error. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

beforeAll(async () => {
  routeDestinations(ns);
  ok(ns.exec('ipvsadm', ['-R'], { input: `${RULES}\n` }));
  baseline = saved(ns);
  ipvs = await Ipvs.open({ netns: ns.name });
});
afterAll(() => ipvs?.close());

describe('kernel refusals in words', () => {
  it('service exists → EEXIST', async () => {
    const e = await rejection(ipvs.addService({ ...TCP4, scheduler: 'wlc' }));
    expect(e).toBeInstanceOf(IpvsError);
    expect(e).toMatchObject({ name: 'IpvsError', errno: 17, code: 'EEXIST', op: 'addService' });
    expect(e.message).toMatch(/^service tcp 10\.0\.0\.1:80 already exists \(EEXIST[):]/);
    const e6 = await rejection(ipvs.addService({ ...UDP6, persistence: { timeout: 1 } }));
    expect(e6).toMatchObject({ code: 'EEXIST', op: 'addService' });
    expect(e6.message).toMatch(/^service udp \[2001:db8::1\]:53 already exists \(EEXIST/);
    const f = await rejection(ipvs.addService(FWM6));
    expect(f).toMatchObject({ code: 'EEXIST' });
    expect(f.message).toMatch(/^service fwmark 6 inet6 already exists \(EEXIST/);
  });

  it('missing service → ESRCH for update, delete, zero and destination commands', async () => {
    const key = { protocol: 'tcp', address: '10.0.0.9', port: 80 } as const;
    for (const [op, call] of [
      ['updateService', () => ipvs.updateService({ ...key, scheduler: 'rr' })],
      ['deleteService', () => ipvs.deleteService(key)],
      ['zero', () => ipvs.zero(key)],
      ['addDestination', () => ipvs.addDestination(key, { address: '192.168.1.10' })],
      ['updateDestination', () => ipvs.updateDestination(key, { address: '192.168.1.10' })],
      ['deleteDestination', () => ipvs.deleteDestination(key, { address: '192.168.1.10' })],
      ['listDestinations', () => ipvs.listDestinations(key)],
    ] as const) {
      const e = await rejection(call());
      expect(e, op).toBeInstanceOf(IpvsError);
      expect(e, op).toMatchObject({ errno: 3, code: 'ESRCH', op });
      expect(e.message, op).toMatch(/^no such service tcp 10\.0\.0\.9:80 \(ESRCH/);
    }
    const f = await rejection(ipvs.deleteService({ fwmark: 6 }));
    expect(f.message).toMatch(/^no such service fwmark 6 \(ESRCH/);
  });

  it('missing destination → ENOENT; destination exists → EEXIST', async () => {
    const e = await rejection(ipvs.deleteDestination(TCP4, { address: '10.0.0.2' }));
    expect(e).toBeInstanceOf(IpvsError);
    expect(e).toMatchObject({ errno: 2, code: 'ENOENT', op: 'deleteDestination' });
    expect(e.message).toMatch(/^no such destination 10\.0\.0\.2:80 in service tcp 10\.0\.0\.1:80 \(ENOENT/);
    const u = await rejection(ipvs.updateDestination(TCP4, { address: '192.168.1.11', port: 8081, forwarding: 'masq' }));
    expect(u).toMatchObject({ code: 'ENOENT', op: 'updateDestination' });
    expect(u.message).toMatch(/^no such destination 192\.168\.1\.11:8081 in service tcp 10\.0\.0\.1:80 \(ENOENT/);
    const x = await rejection(ipvs.addDestination(UDP6, { address: '2001:db8::10', weight: 4 }));
    expect(x).toBeInstanceOf(IpvsError);
    expect(x).toMatchObject({ errno: 17, code: 'EEXIST', op: 'addDestination' });
    expect(x.message).toMatch(/^destination \[2001:db8::10\]:53 already exists in service udp \[2001:db8::1\]:53 \(EEXIST/);
  });

  it("unknown scheduler → ENOENT: unknown scheduler 'foo' (no ip_vs_foo module); the service is not added or changed", async () => {
    const e = await rejection(ipvs.addService({ protocol: 'tcp', address: '10.0.0.2', port: 80, scheduler: 'foo' }));
    expect(e).toBeInstanceOf(IpvsError);
    expect(e).toMatchObject({ errno: 2, code: 'ENOENT', op: 'addService' });
    expect(e.message).toMatch(/^unknown scheduler 'foo' \(no ip_vs_foo module\) \(ENOENT/);
    const u = await rejection(ipvs.updateService({ ...TCP4, scheduler: 'nosuch_sched' }));
    expect(u).toMatchObject({ code: 'ENOENT', op: 'updateService' });
    expect(u.message).toMatch(/^unknown scheduler 'nosuch_sched' \(no ip_vs_nosuch_sched module\)/);
    const p = await rejection(
      ipvs.addService({ protocol: 'udp', address: '10.0.0.2', port: 5060, scheduler: 'foo', persistence: { timeout: 5 }, persistenceEngine: 'sip' }),
    );
    expect(p).toMatchObject({ code: 'ENOENT' });
    expect(p.message).toMatch(/^unknown scheduler 'foo' or persistence engine 'sip'/);
    expect(saved(ns)).toBe(baseline);
  });

  it('a destination the kernel cannot send to (multicast, zero, link-local) → EINVAL', async () => {
    for (const [key, address] of [
      [TCP4, '224.0.0.5'],
      [TCP4, '239.255.0.1'],
      [TCP4, '0.0.0.0'],
      [TCP4, '255.255.255.255'],
      [UDP6, 'ff02::1'],
      [UDP6, 'fe80::1'],
      [UDP6, '::'],
    ] as const) {
      const e = await rejection(ipvs.addDestination(key, { address }));
      expect(e, address).toBeInstanceOf(IpvsError);
      expect(e, address).toMatchObject({ errno: 22, code: 'EINVAL', op: 'addDestination' });
      expect(e.message, address).toContain('the kernel refused destination');
      expect(e.message, address).toContain('a real server must be a routable unicast address');
    }
    expect(saved(ns)).toBe(baseline);
  });

  it('in a namespace with no address at all, any destination is not routable → EINVAL; once lo is up it is', async () => {
    ok(bare.ipvsadm('-A', '-t', '10.0.0.1:80'));
    await using b = await Ipvs.open({ netns: bare.name });
    const e = await rejection(b.addDestination(TCP4, { address: '192.168.1.10' }));
    expect(e).toBeInstanceOf(IpvsError);
    expect(e).toMatchObject({ code: 'EINVAL', op: 'addDestination' });
    expect(e.message).toMatch(/^the kernel refused destination 192\.168\.1\.10:80 in service tcp 10\.0\.0\.1:80 as invalid/);
    ok(bare.exec('ip', ['link', 'set', 'lo', 'up']));
    await b.addDestination(TCP4, { address: '192.168.1.10' });
    expect(ok(bare.ipvsadm('-Sn')).trim().split('\n')).toEqual(['-A -t 10.0.0.1:80 -s wlc', '-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 1']);
  });
});

type Case = [name: string, call: () => Promise<unknown>, kind: typeof TypeError | typeof RangeError, message: RegExp];

/** What the kernel holds, read by ipvsadm (independent) and by ipvs-ts (in-process, cheap). */
interface StateReaders {
  ipvsadm: () => string;
  ipvs: () => Promise<string>;
}
const replacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);
const TABLE: StateReaders = { ipvsadm: () => saved(ns), ipvs: async () => JSON.stringify(await ipvs.snapshot(), replacer) };

/**
 * Runs validation cases: each must reject with exactly that class and a
 * message naming the field and the value, and change nothing — checked by
 * ipvs-ts after each case and by ipvsadm after all of them (a change, once
 * made, would stay: nothing here undoes one).
 */
async function expectInvalid(cases: Case[], state: StateReaders = TABLE): Promise<void> {
  const before = state.ipvsadm();
  const mine = await state.ipvs();
  for (const [name, call, kind, message] of cases) {
    const e = await rejection(call());
    expect(e, name).not.toBeInstanceOf(IpvsError);
    expect(e.constructor, `${name}: ${e.message}`).toBe(kind);
    expect(e.message, name).toMatch(message);
    expect(await state.ipvs(), `${name} changed the kernel's state`).toBe(mine);
  }
  expect(state.ipvsadm(), 'ipvsadm reads a changed state').toBe(before);
}

const svc = (extra: Record<string, unknown>): ServiceSpec => ({ ...TCP4, ...extra }) as ServiceSpec;
const dst = (extra: Record<string, unknown>): DestinationSpec => ({ address: '192.168.1.10', ...extra }) as DestinationSpec;

describe('validation before the kernel: services', () => {
  it('addService: address, port, protocol, fwmark — each error names the field and the value', async () => {
    await expectInvalid([
      ['malformed IPv4', () => ipvs.addService(svc({ address: '10.0.0.300' })), TypeError, /^service\.address is not an IPv4 or IPv6 address: '10\.0\.0\.300'$/],
      ['host name', () => ipvs.addService(svc({ address: 'example.com' })), TypeError, /service\.address .*'example\.com'/],
      ['scoped IPv6', () => ipvs.addService(svc({ address: 'fe80::1%eth0' })), TypeError, /service\.address .*'fe80::1%eth0'/],
      ['empty address', () => ipvs.addService(svc({ address: '' })), TypeError, /service\.address .*''/],
      ['port 65536', () => ipvs.addService(svc({ port: 65536 })), RangeError, /^service\.port must be an integer 0–65535, got 65536$/],
      ['port -1', () => ipvs.addService(svc({ port: -1 })), RangeError, /service\.port .*-1/],
      ['port 80.5', () => ipvs.addService(svc({ port: 80.5 })), RangeError, /service\.port .*80\.5/],
      ['port NaN', () => ipvs.addService(svc({ port: Number.NaN })), RangeError, /service\.port .*NaN/],
      ['port as text', () => ipvs.addService(svc({ port: '80' })), TypeError, /service\.port .*'80'/],
      ['port 0 without persistence', () => ipvs.addService(svc({ address: '10.0.0.2', port: 0 })), RangeError, /service\.port 0 .*needs persistence/],
      ['unknown protocol', () => ipvs.addService(svc({ protocol: 'icmp' })), TypeError, /^service\.protocol must be 'tcp', 'udp' or 'sctp', got 'icmp'$/],
      ['fwmark 0', () => ipvs.addService({ fwmark: 0 }), RangeError, /^service\.fwmark must be an integer 1–4294967295, got 0$/],
      ['fwmark 2^32', () => ipvs.addService({ fwmark: 2 ** 32 }), RangeError, /service\.fwmark .*4294967296/],
      ['fwmark -1', () => ipvs.addService({ fwmark: -1 }), RangeError, /service\.fwmark .*-1/],
      ['fwmark family', () => ipvs.addService({ fwmark: 1, family: 'inet4' as 'inet' }), TypeError, /service\.family .*'inet4'/],
      ['fwmark and address', () => ipvs.addService({ fwmark: 1, ...TCP4 } as unknown as ServiceSpec), TypeError, /^service must name either an fwmark or a protocol, address and port/],
      ['family disagrees', () => ipvs.addService(svc({ family: 'inet6' })), TypeError, /service\.family is 'inet6' but service\.address '10\.0\.0\.1' is IPv4/],
      ['typo', () => ipvs.addService(svc({ schedular: 'rr' })), TypeError, /service has an unknown property 'schedular' \(did you mean 'scheduler'\?\)/],
      ['not an object', () => ipvs.addService(null as unknown as ServiceSpec), TypeError, /^service must be an object, got null$/],
    ]);
  });

  it('addService: scheduler, persistence/netmask, flags, one-packet, pe', async () => {
    const v6 = (extra: Record<string, unknown>): ServiceSpec => ({ protocol: 'tcp', address: '2001:db8::2', port: 80, ...extra }) as ServiceSpec;
    await expectInvalid([
      ['empty scheduler', () => ipvs.addService(svc({ scheduler: '' })), RangeError, /^service\.scheduler must be 1–15 characters long, got ''$/],
      ['scheduler too long', () => ipvs.addService(svc({ scheduler: 'abcdefghijklmnop' })), RangeError, /service\.scheduler .*'abcdefghijklmnop'/],
      ['scheduler with a slash', () => ipvs.addService(svc({ scheduler: '../rr' })), TypeError, /service\.scheduler .*'\.\.\/rr'/],
      ['persistence timeout 0', () => ipvs.addService(svc({ persistence: { timeout: 0 } })), RangeError, /service\.persistence\.timeout .*0/],
      ['persistence timeout > 31 days', () => ipvs.addService(svc({ persistence: { timeout: 2678401 } })), RangeError, /service\.persistence\.timeout .*2678401/],
      ['IPv4 netmask as a prefix', () => ipvs.addService(svc({ persistence: { timeout: 60, netmask: 24 } })), TypeError, /^service\.persistence\.netmask must be a dotted IPv4 mask for an IPv4 service, got 24$/],
      ['IPv4 netmask not contiguous', () => ipvs.addService(svc({ persistence: { timeout: 60, netmask: '255.0.255.0' } })), RangeError, /service\.persistence\.netmask .*'255\.0\.255\.0'/],
      ['IPv4 netmask malformed', () => ipvs.addService(svc({ persistence: { timeout: 60, netmask: '255.255.255.0.1' } })), TypeError, /service\.persistence\.netmask .*'255\.255\.255\.0\.1'/],
      ['IPv6 netmask dotted', () => ipvs.addService(v6({ persistence: { timeout: 60, netmask: '255.255.255.0' } })), TypeError, /^service\.persistence\.netmask must be a prefix length 1–128 for an IPv6 service, got '255\.255\.255\.0'$/],
      ['IPv6 prefix 129', () => ipvs.addService(v6({ persistence: { timeout: 60, netmask: 129 } })), RangeError, /service\.persistence\.netmask .*129/],
      ['IPv6 prefix 0', () => ipvs.addService(v6({ persistence: { timeout: 60, netmask: 0 } })), RangeError, /service\.persistence\.netmask .*got 0$/],
      ['fwmark inet6 netmask dotted', () => ipvs.addService({ fwmark: 3, family: 'inet6', persistence: { timeout: 60, netmask: '255.255.0.0' } }), TypeError, /service\.persistence\.netmask .*IPv6/],
      ['unknown flag', () => ipvs.addService(svc({ scheduler: 'sh', schedulerFlags: ['sh-foo'] })), TypeError, /^service\.schedulerFlags\[0\] must be .*got 'sh-foo'$/],
      ['sh flag with rr', () => ipvs.addService(svc({ address: '10.0.0.2', scheduler: 'rr', schedulerFlags: ['sh-port'] })), TypeError, /^service\.schedulerFlags\[0\] 'sh-port' needs scheduler 'sh', got 'rr'$/],
      ['mh flag with sh', () => ipvs.addService(svc({ address: '10.0.0.2', scheduler: 'sh', schedulerFlags: ['sh-port', 'mh-port'] })), TypeError, /service\.schedulerFlags\[1\] 'mh-port' needs scheduler 'mh'/],
      ['sh flag with default wlc', () => ipvs.addService(svc({ address: '10.0.0.2', schedulerFlags: ['sh-fallback'] })), TypeError, /'sh-fallback' needs scheduler 'sh', got 'wlc'/],
      ['repeated flag', () => ipvs.addService(svc({ address: '10.0.0.2', schedulerFlags: ['flag-1', 'flag-1'] })), TypeError, /service\.schedulerFlags repeats 'flag-1'/],
      ['flags not an array', () => ipvs.addService(svc({ address: '10.0.0.2', schedulerFlags: 'flag-1' })), TypeError, /service\.schedulerFlags .*'flag-1'/],
      ['one-packet on tcp', () => ipvs.addService(svc({ address: '10.0.0.2', onePacket: true })), TypeError, /service\.onePacket .*'tcp'/],
      ['one-packet not boolean', () => ipvs.addService(svc({ protocol: 'udp', onePacket: 1 })), TypeError, /service\.onePacket .*1/],
      ['pe unknown', () => ipvs.addService(svc({ protocol: 'udp', persistence: { timeout: 5 }, persistenceEngine: 'http' })), TypeError, /service\.persistenceEngine .*'http'/],
      ['pe without persistence', () => ipvs.addService(svc({ protocol: 'udp', address: '10.0.0.4', persistenceEngine: 'sip' })), TypeError, /service\.persistenceEngine needs persistence/],
    ]);
  });

  it('updateService, deleteService, getService, zero, listDestinations validate the same way', async () => {
    await expectInvalid([
      ['update: port 0 without persistence', () => ipvs.updateService(svc({ port: 0 })), RangeError, /service\.port 0/],
      ['update: one-packet on tcp', () => ipvs.updateService(svc({ onePacket: true })), TypeError, /service\.onePacket/],
      ['update: sh flag with rr', () => ipvs.updateService(svc({ scheduler: 'rr', schedulerFlags: ['sh-port'] })), TypeError, /needs scheduler 'sh'/],
      ['update: IPv6 prefix 129', () => ipvs.updateService({ ...UDP6, persistence: { timeout: 60, netmask: 129 } }), RangeError, /service\.persistence\.netmask .*129/],
      ['update: fwmark flag of another scheduler', () => ipvs.updateService({ ...FWM6, scheduler: 'mh', schedulerFlags: ['sh-port'] }), TypeError, /needs scheduler 'sh', got 'mh'/],
      ['delete: malformed', () => ipvs.deleteService(svc({ address: '10.0.0.256' })), TypeError, /service\.address .*'10\.0\.0\.256'/],
      ['delete: fwmark 0', () => ipvs.deleteService({ fwmark: 0 }), RangeError, /service\.fwmark .*got 0/],
      ['get: port 1e6', () => ipvs.getService(svc({ port: 1e6 })), RangeError, /service\.port .*1000000/],
      ['zero: unknown protocol', () => ipvs.zero(svc({ protocol: 'dccp' })), TypeError, /service\.protocol .*'dccp'/],
      ['listDestinations: fwmark 2^32', () => ipvs.listDestinations({ fwmark: 2 ** 32 }), RangeError, /service\.fwmark .*4294967296/],
    ]);
  });
});

describe('validation before the kernel: destinations', () => {
  it('addDestination: address, port, weight, thresholds, forwarding, family', async () => {
    await expectInvalid([
      ['malformed address', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.300' })), TypeError, /^destination\.address is not an IPv4 or IPv6 address: '192\.168\.1\.300'$/],
      ['port 70000', () => ipvs.addDestination(TCP4, dst({ forwarding: 'masq', port: 70000 })), RangeError, /destination\.port .*70000/],
      ['port 1.5', () => ipvs.addDestination(TCP4, dst({ forwarding: 'masq', port: 1.5 })), RangeError, /destination\.port .*1\.5/],
      ['weight -1', () => ipvs.addDestination(TCP4, dst({ weight: -1 })), RangeError, /^destination\.weight must be an integer 0–2147483647, got -1$/],
      ['weight 2^31', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', weight: 2 ** 31 })), RangeError, /destination\.weight .*2147483648/],
      ['weight 0.5', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', weight: 0.5 })), RangeError, /destination\.weight .*0\.5/],
      ['weight as text', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', weight: '5' })), TypeError, /destination\.weight .*'5'/],
      ['upper threshold negative', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', upperThreshold: -1 })), RangeError, /destination\.upperThreshold .*-1/],
      ['lower threshold negative', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', lowerThreshold: -5 })), RangeError, /destination\.lowerThreshold .*-5/],
      ['threshold 2^32', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', upperThreshold: 2 ** 32 })), RangeError, /destination\.upperThreshold .*4294967296/],
      ['lower > upper', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', upperThreshold: 5, lowerThreshold: 10 })), RangeError, /^destination\.lowerThreshold must be at most upperThreshold \(5\), got 10$/],
      ['lower without upper', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', lowerThreshold: 1 })), RangeError, /destination\.lowerThreshold .*\(0\), got 1/],
      ['unknown forwarding', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', forwarding: 'nat' })), TypeError, /^destination\.forwarding must be 'route', 'masq' or 'tunnel', got 'nat'$/],
      ['other family without tunnel', () => ipvs.addDestination(TCP4, dst({ address: '2001:db8::12', forwarding: 'masq' })), TypeError, /destination\.address '2001:db8::12' is IPv6 but service tcp 10\.0\.0\.1:80 is IPv4/],
      ['route to another port', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', port: 8080 })), RangeError, /destination\.port must be the service's port 80 with forwarding 'route', got 8080/],
      ['typo', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.12', wieght: 5 })), TypeError, /destination has an unknown property 'wieght' \(did you mean 'weight'\?\)/],
      ['bad service key', () => ipvs.addDestination({ protocol: 'tcp', address: '10.0.0.1', port: -80 }, dst({})), RangeError, /service\.port .*-80/],
    ]);
  });

  it('addDestination: tunnel options without tunnel forwarding, gue without port, options that do not fit the type', async () => {
    const tun = (tunnel: unknown, extra: Record<string, unknown> = {}): DestinationSpec =>
      dst({ address: '192.168.1.20', forwarding: 'tunnel', tunnel, ...extra });
    await expectInvalid([
      ['tunnel with masq', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.20', forwarding: 'masq', tunnel: { type: 'ipip' } })), TypeError, /^destination\.tunnel needs forwarding 'tunnel', got forwarding 'masq'$/],
      ['tunnel with default route', () => ipvs.addDestination(TCP4, dst({ address: '192.168.1.20', tunnel: { type: 'gre' } })), TypeError, /destination\.tunnel needs forwarding 'tunnel', got forwarding 'route'/],
      ['gue without port', () => ipvs.addDestination(TCP4, tun({ type: 'gue' })), TypeError, /^destination\.tunnel\.port is required for a 'gue' tunnel$/],
      ['gue with checksum but no port', () => ipvs.addDestination(TCP4, tun({ type: 'gue', checksum: 'csum' })), TypeError, /destination\.tunnel\.port is required/],
      ['gue port 0', () => ipvs.addDestination(TCP4, tun({ type: 'gue', port: 0 })), RangeError, /destination\.tunnel\.port must be an integer 1–65535 for a 'gue' tunnel, got 0/],
      ['gue port 65536', () => ipvs.addDestination(TCP4, tun({ type: 'gue', port: 65536 })), RangeError, /destination\.tunnel\.port .*65536/],
      ['ipip with a port', () => ipvs.addDestination(TCP4, tun({ type: 'ipip', port: 5 })), TypeError, /destination\.tunnel\.port is only for 'gue' tunnels, got 5 for 'ipip'/],
      ['ipip with csum', () => ipvs.addDestination(TCP4, tun({ type: 'ipip', checksum: 'csum' })), TypeError, /destination\.tunnel\.checksum .*'csum' for 'ipip'/],
      ['gre with remcsum', () => ipvs.addDestination(TCP4, tun({ type: 'gre', checksum: 'remcsum' })), TypeError, /destination\.tunnel\.checksum 'remcsum' is only for 'gue' tunnels/],
      ['unknown tunnel type', () => ipvs.addDestination(TCP4, tun({ type: 'vxlan' })), TypeError, /destination\.tunnel\.type .*'vxlan'/],
      ['unknown checksum', () => ipvs.addDestination(TCP4, tun({ type: 'gue', port: 6080, checksum: 'yes' })), TypeError, /destination\.tunnel\.checksum .*'yes'/],
      ['tunnel not an object', () => ipvs.addDestination(TCP4, tun('gue')), TypeError, /destination\.tunnel must be an object, got 'gue'/],
    ]);
  });

  it('updateDestination and deleteDestination validate the same way; the existing destination is untouched', async () => {
    await expectInvalid([
      ['update: weight -1', () => ipvs.updateDestination(TCP4, dst({ weight: -1 })), RangeError, /destination\.weight .*-1/],
      ['update: lower > upper', () => ipvs.updateDestination(TCP4, dst({ address: '192.168.1.11', port: 8080, forwarding: 'masq', upperThreshold: 1, lowerThreshold: 2 })), RangeError, /lowerThreshold/],
      ['update: tunnel with masq', () => ipvs.updateDestination(TCP4, dst({ forwarding: 'masq', tunnel: { type: 'ipip' } })), TypeError, /needs forwarding 'tunnel'/],
      ['update: gue without port', () => ipvs.updateDestination(TCP4, dst({ forwarding: 'tunnel', tunnel: { type: 'gue', checksum: 'remcsum' } })), TypeError, /tunnel\.port is required/],
      ['update: route to another port', () => ipvs.updateDestination(UDP6, { address: '2001:db8::10', port: 5353 }), RangeError, /service's port 53/],
      ['delete: malformed', () => ipvs.deleteDestination(TCP4, { address: '192.168.1' }), TypeError, /destination\.address .*'192\.168\.1'/],
      ['delete: port -1', () => ipvs.deleteDestination(TCP4, { address: '192.168.1.10', port: -1 }), RangeError, /destination\.port .*-1/],
      ['delete: not an object', () => ipvs.deleteDestination(TCP4, '192.168.1.10' as never), TypeError, /destination must be an object/],
    ]);
  });
});

describe('validation before the kernel: timeouts and daemons', () => {
  it('setTimeouts: negative, fractional, too large, unknown — timeouts unchanged', async () => {
    const timeouts: StateReaders = {
      ipvsadm: () => JSON.stringify(timeoutsByIpvsadm(ns)),
      ipvs: async () => JSON.stringify(await ipvs.getTimeouts()),
    };
    await expectInvalid(
      [
        ['tcp -1', () => ipvs.setTimeouts({ tcp: -1 }), RangeError, /^timeouts\.tcp must be an integer 0–2147483, got -1$/],
        ['udp 1.5', () => ipvs.setTimeouts({ tcp: 100, udp: 1.5 }), RangeError, /timeouts\.udp .*1\.5/],
        ['tcpFin too large', () => ipvs.setTimeouts({ tcpFin: 2147484 }), RangeError, /timeouts\.tcpFin .*2147484/],
        ['typo', () => ipvs.setTimeouts({ tcpfin: 5 } as never), TypeError, /timeouts has an unknown property 'tcpfin' \(did you mean 'tcpFin'\?\)/],
        ['text', () => ipvs.setTimeouts({ udp: '30' } as never), TypeError, /timeouts\.udp .*'30'/],
      ],
      timeouts,
    );
  });

  it('startDaemon: ttl outside 1–255, non-multicast group, state, interface, sync id, port, length — no daemon starts', async () => {
    ok(ns.exec('ip', ['link', 'add', 'sync0', 'type', 'veth', 'peer', 'name', 'sync1']));
    ok(ns.exec('ip', ['link', 'set', 'sync0', 'up']));
    const daemon = (extra: Record<string, unknown>): DaemonSpec => ({ state: 'master', interface: 'sync0', syncId: 1, ...extra }) as DaemonSpec;
    const daemons: StateReaders = {
      ipvsadm: () => JSON.stringify(daemonsByIpvsadm(ns)) + saved(ns),
      ipvs: async () => JSON.stringify(await ipvs.listDaemons()) + JSON.stringify(await ipvs.snapshot(), replacer),
    };
    await expectInvalid(
      [
        ['ttl 0', () => ipvs.startDaemon(daemon({ ttl: 0 })), RangeError, /^daemon\.ttl must be an integer 1–255, got 0$/],
        ['ttl 256', () => ipvs.startDaemon(daemon({ ttl: 256 })), RangeError, /daemon\.ttl .*256/],
        ['unicast IPv4 group', () => ipvs.startDaemon(daemon({ group: '10.0.0.1' })), RangeError, /^daemon\.group must be a multicast address \(224\.0\.0\.0\/4 or ff00::\/8\), got '10\.0\.0\.1'$/],
        ['unicast IPv6 group', () => ipvs.startDaemon(daemon({ group: '2001:db8::1' })), RangeError, /daemon\.group .*'2001:db8::1'/],
        ['malformed group', () => ipvs.startDaemon(daemon({ group: '239.0.0' })), TypeError, /daemon\.group .*'239\.0\.0'/],
        ['state', () => ipvs.startDaemon(daemon({ state: 'primary' })), TypeError, /^daemon\.state must be 'master' or 'backup', got 'primary'$/],
        ['empty interface', () => ipvs.startDaemon(daemon({ interface: '' })), RangeError, /daemon\.interface .*''/],
        ['interface too long', () => ipvs.startDaemon(daemon({ interface: 'abcdefghijklmnop' })), RangeError, /daemon\.interface .*'abcdefghijklmnop'/],
        ['interface with a slash', () => ipvs.startDaemon(daemon({ interface: 'eth/0' })), TypeError, /daemon\.interface .*'eth\/0'/],
        ['sync id 256', () => ipvs.startDaemon(daemon({ syncId: 256 })), RangeError, /daemon\.syncId .*256/],
        ['port 0', () => ipvs.startDaemon(daemon({ port: 0 })), RangeError, /daemon\.port .*got 0/],
        ['max length 0', () => ipvs.startDaemon(daemon({ maxLength: 0 })), RangeError, /daemon\.maxLength .*got 0/],
        ['backup max length 1000', () => ipvs.startDaemon(daemon({ state: 'backup', maxLength: 1000 })), RangeError, /daemon\.maxLength .*1024.*got 1000/],
        ['stop: state', () => ipvs.stopDaemon('primary' as never), TypeError, /^state must be 'master' or 'backup', got 'primary'$/],
      ],
      daemons,
    );
    expect(await ipvs.listDaemons()).toEqual([]);
  });
});
