// Issue 3: destinations (real servers) through the Ipvs API against the real
// kernel — route/masq/tunnel, ipip/gue/gre with port and checksum options,
// weights, thresholds, IPv4/IPv6 and mixed families, updates and deletes —
// each read back by ipvs-ts and by ipvsadm.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs, IpvsError } from '../../lib/index.js';
import type { Destination, DestinationSpec, ServiceKey } from '../../lib/index.js';
import { connectionCounts, destId, parseListing, routeDestinations, serviceKeyId, tableByIpvs, tableByIpvsadm, tableByIpvsCalls } from './api-ipvsadm.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();
let ipvs: Ipvs;

const ZERO_STATS = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const ZERO_RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
const IDLE = { activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: ZERO_STATS, rates: ZERO_RATES };

const TCP4 = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const satisfies ServiceKey;
const UDP6 = { protocol: 'udp', address: '2001:db8::1', port: 53 } as const satisfies ServiceKey;
const FWM4 = { fwmark: 5 } as const satisfies ServiceKey;
const FWM6 = { fwmark: 6, family: 'inet6' } as const satisfies ServiceKey;

/** ipvs-ts (snapshot, listDestinations) and ipvsadm (-Sn, --thresholds, --tun-info) read the same table. */
async function expectSameTable(): Promise<void> {
  const mine = await tableByIpvs(ipvs);
  expect(mine).toEqual(tableByIpvsadm(ns));
  expect(await tableByIpvsCalls(ipvs)).toEqual(mine);
}

/** The destination of a service with this address (and port), read by ipvs-ts. */
async function dest(key: ServiceKey, address: string, port?: number): Promise<Destination | undefined> {
  return (await ipvs.listDestinations(key)).find((d) => d.address === address && (port === undefined || d.port === port));
}

beforeAll(async () => {
  routeDestinations(ns);
  ipvs = await Ipvs.open({ netns: ns.name });
});
afterAll(() => ipvs?.close());
afterEach(async () => {
  await ipvs.flush();
});

describe('forwarding methods', () => {
  it('defaults: route, the service port, weight 1, no thresholds', async () => {
    await ipvs.addService(TCP4);
    await ipvs.addDestination(TCP4, { address: '192.168.1.10' });
    expect(await ipvs.listDestinations(TCP4)).toStrictEqual([
      { address: '192.168.1.10', family: 'inet', port: 80, forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0, ...IDLE },
    ]);
    expect(ok(ns.ipvsadm('-Sn')).trim().split('\n')).toEqual(['-A -t 10.0.0.1:80 -s wlc', '-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 1']);
    await expectSameTable();
  });

  it('route, masq (other port), tunnel on IPv4 and IPv6 services, weights 0 and 2147483647', async () => {
    await ipvs.addService(TCP4);
    await ipvs.addService(UDP6);
    const v4: DestinationSpec[] = [
      { address: '192.168.1.10', forwarding: 'route', weight: 1000 },
      { address: '192.168.1.11', port: 80, forwarding: 'route', weight: 0 },
      { address: '192.168.1.12', port: 8080, forwarding: 'masq', weight: 2147483647 },
      { address: '192.168.1.13', forwarding: 'masq' },
      { address: '10.1.0.1', forwarding: 'tunnel', weight: 7 },
      { address: '100.64.0.1', port: 1, forwarding: 'masq' },
    ];
    const v6: DestinationSpec[] = [
      { address: '2001:db8::10', forwarding: 'route' },
      { address: 'fd00::1', port: 5353, forwarding: 'masq', weight: 3 },
      { address: '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff', port: 65535, forwarding: 'masq' },
      { address: '2001:db8::11', forwarding: 'tunnel' },
    ];
    for (const d of v4) await ipvs.addDestination(TCP4, d);
    for (const d of v6) await ipvs.addDestination(UDP6, d);

    expect(await dest(TCP4, '192.168.1.12')).toStrictEqual({
      address: '192.168.1.12',
      family: 'inet',
      port: 8080,
      forwarding: 'masq',
      weight: 2147483647,
      upperThreshold: 0,
      lowerThreshold: 0,
      ...IDLE,
    });
    expect(await dest(TCP4, '192.168.1.11')).toMatchObject({ port: 80, forwarding: 'route', weight: 0 });
    // Tunnel forwarding without options: the kernel holds ipip, port 0, no checksum.
    expect(await dest(TCP4, '10.1.0.1')).toStrictEqual({
      address: '10.1.0.1',
      family: 'inet',
      port: 80,
      forwarding: 'tunnel',
      weight: 7,
      upperThreshold: 0,
      lowerThreshold: 0,
      tunnel: { type: 'ipip', port: 0, checksum: 'nocsum' },
      ...IDLE,
    });
    expect(await dest(UDP6, 'fd00::1')).toStrictEqual({
      address: 'fd00::1',
      family: 'inet6',
      port: 5353,
      forwarding: 'masq',
      weight: 3,
      upperThreshold: 0,
      lowerThreshold: 0,
      ...IDLE,
    });
    expect((await ipvs.listDestinations(TCP4)).map(destId).sort()).toEqual(
      ['192.168.1.10:80', '192.168.1.11:80', '192.168.1.12:8080', '192.168.1.13:80', '10.1.0.1:80', '100.64.0.1:1'].sort(),
    );
    expect((await ipvs.listDestinations(UDP6)).map(destId).sort()).toEqual(
      ['[2001:db8::10]:53', '[fd00::1]:5353', '[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535', '[2001:db8::11]:53'].sort(),
    );
    await expectSameTable();
  });

  it('tunnel: ipip, gue with port and nocsum/csum/remcsum, gre with nocsum/csum', async () => {
    await ipvs.addService(TCP4);
    const specs: DestinationSpec[] = [
      { address: '192.168.6.1', forwarding: 'tunnel', tunnel: { type: 'ipip' } },
      { address: '192.168.6.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
      { address: '192.168.6.3', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } },
      { address: '192.168.6.4', forwarding: 'tunnel', tunnel: { type: 'gue', port: 65535, checksum: 'nocsum' } },
      { address: '192.168.6.5', forwarding: 'tunnel', tunnel: { type: 'gue', port: 1 } },
      { address: '192.168.6.6', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } },
      { address: '192.168.6.7', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'nocsum' } },
      { address: '192.168.6.8', forwarding: 'tunnel', tunnel: { type: 'gre' } },
      { address: '192.168.6.9', forwarding: 'tunnel', weight: 9, tunnel: { type: 'ipip', port: 0, checksum: 'nocsum' } },
    ];
    for (const d of specs) await ipvs.addDestination(TCP4, d);
    const want: Record<string, Destination['tunnel']> = {
      '192.168.6.1': { type: 'ipip', port: 0, checksum: 'nocsum' },
      '192.168.6.2': { type: 'gue', port: 6080, checksum: 'csum' },
      '192.168.6.3': { type: 'gue', port: 6081, checksum: 'remcsum' },
      '192.168.6.4': { type: 'gue', port: 65535, checksum: 'nocsum' },
      '192.168.6.5': { type: 'gue', port: 1, checksum: 'nocsum' },
      '192.168.6.6': { type: 'gre', port: 0, checksum: 'csum' },
      '192.168.6.7': { type: 'gre', port: 0, checksum: 'nocsum' },
      '192.168.6.8': { type: 'gre', port: 0, checksum: 'nocsum' },
      '192.168.6.9': { type: 'ipip', port: 0, checksum: 'nocsum' },
    };
    const got = await ipvs.listDestinations(TCP4);
    expect(Object.fromEntries(got.map((d) => [d.address, d.tunnel]))).toStrictEqual(want);
    for (const d of got) expect(d).toMatchObject({ forwarding: 'tunnel', port: 80 });
    // ipvsadm --tun-info, word for word.
    const info = parseListing(ok(ns.ipvsadm('-Ln', '--tun-info'))).get('tcp 10.0.0.1:80')!;
    const words = Object.fromEntries([...info.destinations].map(([k, cols]) => [k, cols.slice(0, 2).join(' ')]));
    expect(words).toStrictEqual({
      '192.168.6.1:80': 'Tunnel ipip',
      '192.168.6.2:80': 'Tunnel gue:6080:+c',
      '192.168.6.3:80': 'Tunnel gue:6081:r+c',
      '192.168.6.4:80': 'Tunnel gue:65535:-c',
      '192.168.6.5:80': 'Tunnel gue:1:-c',
      '192.168.6.6:80': 'Tunnel gre:+c',
      '192.168.6.7:80': 'Tunnel gre:-c',
      '192.168.6.8:80': 'Tunnel gre:-c',
      '192.168.6.9:80': 'Tunnel ipip',
    });
    await expectSameTable();
  });

  it("a real server at one of the director's own addresses keeps the forwarding asked for (6.1 reports no 'local')", async () => {
    await ipvs.addService(TCP4);
    await ipvs.addDestination(TCP4, { address: '192.168.0.1', forwarding: 'masq', port: 8080 });
    await ipvs.addDestination(TCP4, { address: '127.0.0.1' });
    expect((await ipvs.listDestinations(TCP4)).map((d) => [destId(d), d.forwarding]).sort()).toEqual([
      ['127.0.0.1:80', 'route'],
      ['192.168.0.1:8080', 'masq'],
    ]);
    await expectSameTable();
  });

  it('a destination of the other family only with tunnel forwarding (IPv6 service → IPv4 server, and back)', async () => {
    await ipvs.addService(UDP6);
    await ipvs.addService(TCP4);
    await ipvs.addDestination(UDP6, { address: '192.168.8.1', forwarding: 'tunnel', tunnel: { type: 'gue', port: 5555, checksum: 'csum' } });
    await ipvs.addDestination(UDP6, { address: '192.168.8.2', forwarding: 'tunnel' });
    await ipvs.addDestination(TCP4, { address: '2001:db8:6::1', forwarding: 'tunnel', weight: 2 });
    expect(await dest(UDP6, '192.168.8.1')).toStrictEqual({
      address: '192.168.8.1',
      family: 'inet',
      port: 53,
      forwarding: 'tunnel',
      weight: 1,
      upperThreshold: 0,
      lowerThreshold: 0,
      tunnel: { type: 'gue', port: 5555, checksum: 'csum' },
      ...IDLE,
    });
    expect(await dest(TCP4, '2001:db8:6::1')).toMatchObject({ family: 'inet6', port: 80, forwarding: 'tunnel', weight: 2 });
    await expectSameTable();
  });

  it('fwmark services (IPv4, IPv6): destinations default to port 0, masq may give one', async () => {
    await ipvs.addService(FWM4);
    await ipvs.addService(FWM6);
    await ipvs.addDestination(FWM4, { address: '192.168.7.1', weight: 2 });
    await ipvs.addDestination(FWM4, { address: '192.168.7.2', port: 8080, forwarding: 'masq' });
    await ipvs.addDestination(FWM6, { address: '2001:db8:7::20' });
    await ipvs.addDestination(FWM6, { address: '192.168.7.3', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } });
    expect((await ipvs.listDestinations(FWM4)).map((d) => [destId(d), d.forwarding, d.weight]).sort()).toEqual([
      ['192.168.7.1:0', 'route', 2],
      ['192.168.7.2:8080', 'masq', 1],
    ]);
    expect((await ipvs.listDestinations(FWM6)).map((d) => [destId(d), d.family, d.forwarding]).sort()).toEqual([
      ['192.168.7.3:0', 'inet', 'tunnel'],
      ['[2001:db8:7::20]:0', 'inet6', 'route'],
    ]);
    await expectSameTable();
  });

  it('thresholds: upper and lower, up to 2^32-1, read back by ipvsadm --thresholds', async () => {
    await ipvs.addService(TCP4);
    await ipvs.addDestination(TCP4, { address: '192.168.1.13', port: 8080, forwarding: 'masq', weight: 0, upperThreshold: 100, lowerThreshold: 50 });
    await ipvs.addDestination(TCP4, { address: '192.168.1.14', upperThreshold: 1000 });
    await ipvs.addDestination(TCP4, { address: '192.168.1.15', upperThreshold: 4294967295, lowerThreshold: 4294967295 });
    await ipvs.addDestination(TCP4, { address: '192.168.1.16', upperThreshold: 7, lowerThreshold: 7 });
    const got = Object.fromEntries((await ipvs.listDestinations(TCP4)).map((d) => [d.address, [d.upperThreshold, d.lowerThreshold]]));
    expect(got).toStrictEqual({
      '192.168.1.13': [100, 50],
      '192.168.1.14': [1000, 0],
      '192.168.1.15': [4294967295, 4294967295],
      '192.168.1.16': [7, 7],
    });
    const listed = parseListing(ok(ns.ipvsadm('-Ln', '--thresholds'))).get('tcp 10.0.0.1:80')!;
    expect(Object.fromEntries([...listed.destinations].map(([k, c]) => [k, c.slice(0, 2).map(Number)]))).toStrictEqual({
      '192.168.1.13:8080': [100, 50],
      '192.168.1.14:80': [1000, 0],
      '192.168.1.15:80': [4294967295, 4294967295],
      '192.168.1.16:80': [7, 7],
    });
    await expectSameTable();
  });
});

describe('updates and deletes', () => {
  it('updateDestination changes forwarding, weight, thresholds and tunnel in place; omitted settings take defaults', async () => {
    await ipvs.addService(TCP4);
    await ipvs.addDestination(TCP4, { address: '192.168.1.10', forwarding: 'masq', weight: 5, upperThreshold: 10, lowerThreshold: 2 });
    await ipvs.addDestination(TCP4, { address: '192.168.1.11' });

    await ipvs.updateDestination(TCP4, { address: '192.168.1.10', forwarding: 'tunnel', weight: 9, tunnel: { type: 'gue', port: 7777, checksum: 'remcsum' } });
    expect(await dest(TCP4, '192.168.1.10')).toStrictEqual({
      address: '192.168.1.10',
      family: 'inet',
      port: 80,
      forwarding: 'tunnel',
      weight: 9,
      upperThreshold: 0,
      lowerThreshold: 0,
      tunnel: { type: 'gue', port: 7777, checksum: 'remcsum' },
      ...IDLE,
    });
    await expectSameTable();

    await ipvs.updateDestination(TCP4, { address: '192.168.1.10', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' }, upperThreshold: 20, lowerThreshold: 10 });
    expect(await dest(TCP4, '192.168.1.10')).toMatchObject({ weight: 1, upperThreshold: 20, lowerThreshold: 10, tunnel: { type: 'gre', port: 0, checksum: 'csum' } });
    await expectSameTable();

    // Back to route: no tunnel reported any more.
    await ipvs.updateDestination(TCP4, { address: '192.168.1.10', weight: 3 });
    const back = await dest(TCP4, '192.168.1.10');
    expect(back).toMatchObject({ forwarding: 'route', weight: 3, upperThreshold: 0, lowerThreshold: 0 });
    expect(back && 'tunnel' in back).toBe(false);
    // The other destination was not touched.
    expect(await dest(TCP4, '192.168.1.11')).toMatchObject({ forwarding: 'route', weight: 1 });
    await expectSameTable();

    // A destination read back can be fed straight into an update: nothing changes.
    const before = ok(ns.ipvsadm('-Sn'));
    // (A Destination is not a DestinationSpec by type: its forwarding may read 'local'.)
    for (const d of await ipvs.listDestinations(TCP4)) await ipvs.updateDestination(TCP4, d as DestinationSpec);
    expect(ok(ns.ipvsadm('-Sn'))).toBe(before);
  });

  it('updateDestination keeps the destination\'s connection entries (persistence templates survive)', async () => {
    // A persistent service and a local client: each connection attempt leaves
    // a connection and a persistence template on the destination.
    const key = { protocol: 'tcp', address: '10.0.0.2', port: 80 } as const;
    await ipvs.addService({ ...key, scheduler: 'rr', persistence: { timeout: 600 } });
    await ipvs.addDestination(key, { address: '192.168.2.1', weight: 1 });
    ok(ns.exec('bash', ['-c', 'timeout 1 bash -c "exec 3<>/dev/tcp/10.0.0.2/80" 2>/dev/null; true']));
    const before = await dest(key, '192.168.2.1');
    expect(before!.persistentConnections).toBe(1);
    expect(before!.activeConnections + before!.inactiveConnections).toBeGreaterThan(0);
    await ipvs.updateDestination(key, { address: '192.168.2.1', weight: 50, upperThreshold: 9 });
    const after = await dest(key, '192.168.2.1');
    expect(after).toMatchObject({ weight: 50, upperThreshold: 9, persistentConnections: 1 });
    expect(after!.activeConnections + after!.inactiveConnections).toBe(before!.activeConnections + before!.inactiveConnections);
    expect(after!.stats).toEqual(before!.stats);
    // ipvsadm counts the same connections.
    const counts = connectionCounts(ns).get(serviceKeyId(key))!.get('192.168.2.1:80')!;
    expect(counts).toEqual({ weight: 50, persistent: after!.persistentConnections, active: after!.activeConnections, inactive: after!.inactiveConnections });
  });

  it('deleteDestination removes one destination (port defaulting to the service\'s); the service stays', async () => {
    await ipvs.addService(TCP4);
    await ipvs.addService(FWM6);
    await ipvs.addDestination(TCP4, { address: '192.168.1.10' });
    await ipvs.addDestination(TCP4, { address: '192.168.1.11', port: 8080, forwarding: 'masq' });
    await ipvs.addDestination(TCP4, { address: '192.168.1.11', port: 8081, forwarding: 'masq' });
    await ipvs.addDestination(FWM6, { address: '2001:db8::20' });
    await ipvs.deleteDestination(TCP4, { address: '192.168.1.10' });
    await ipvs.deleteDestination(TCP4, { address: '192.168.1.11', port: 8080 });
    await ipvs.deleteDestination(FWM6, { address: '2001:db8:0::20' });
    expect((await ipvs.listDestinations(TCP4)).map(destId)).toEqual(['192.168.1.11:8081']);
    expect(await ipvs.listDestinations(FWM6)).toEqual([]);
    expect(await ipvs.getService(FWM6)).toBeDefined();
    await expectSameTable();
  });

  it('refusals name the destination and service: EEXIST on a second add, ENOENT on update/delete of a missing one, ESRCH without the service', async () => {
    await ipvs.addService(TCP4);
    await ipvs.addDestination(TCP4, { address: '192.168.1.10' });
    const dup = await ipvs.addDestination(TCP4, { address: '192.168.1.10', weight: 5 }).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(IpvsError);
    expect(dup).toMatchObject({ code: 'EEXIST', errno: 17, op: 'addDestination' });
    expect((dup as Error).message).toMatch(/^destination 192\.168\.1\.10:80 already exists in service tcp 10\.0\.0\.1:80 \(EEXIST/);

    const upd = await ipvs.updateDestination(TCP4, { address: '10.0.0.2' }).catch((e: unknown) => e);
    expect(upd).toBeInstanceOf(IpvsError);
    expect(upd).toMatchObject({ code: 'ENOENT', errno: 2, op: 'updateDestination' });
    expect((upd as Error).message).toMatch(/^no such destination 10\.0\.0\.2:80 in service tcp 10\.0\.0\.1:80 \(ENOENT/);

    const del = await ipvs.deleteDestination(TCP4, { address: '10.0.0.2' }).catch((e: unknown) => e);
    expect(del).toBeInstanceOf(IpvsError);
    expect(del).toMatchObject({ code: 'ENOENT', errno: 2, op: 'deleteDestination' });
    expect((del as Error).message).toMatch(/^no such destination 10\.0\.0\.2:80 in service tcp 10\.0\.0\.1:80 \(ENOENT/);

    const v6 = await ipvs.deleteDestination(UDP6, { address: '2001:db8::9' }).catch((e: unknown) => e);
    expect(v6).toBeInstanceOf(IpvsError);
    expect(v6).toMatchObject({ code: 'ESRCH', errno: 3, op: 'deleteDestination' });
    expect((v6 as Error).message).toMatch(/^no such service udp \[2001:db8::1\]:53 \(ESRCH/);

    const add = await ipvs.addDestination({ fwmark: 99 }, { address: '192.168.1.10' }).catch((e: unknown) => e);
    expect(add).toMatchObject({ name: 'IpvsError', code: 'ESRCH', op: 'addDestination' });
    expect((add as Error).message).toMatch(/^no such service fwmark 99 \(ESRCH/);

    // Nothing changed.
    expect(ok(ns.ipvsadm('-Sn')).trim().split('\n')).toEqual(['-A -t 10.0.0.1:80 -s wlc', '-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 1']);
  });
});
