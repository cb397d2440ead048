// Issue 5: declarative apply against the real kernel — creation from
// nothing, edits in place (counters and connections survive), removals by
// prune mode, idempotency, ownership kept in the state record, dry runs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { applyDesired, type ApplyPlan, type DesiredService } from '../../lib/apply.js';
import { Ipvs } from '../../lib/index.js';
import { labLinks } from './cli-support.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns('ipvsts-apply');
let ipvs: Ipvs;
let stateDir: string;

beforeAll(async () => {
  labLinks(ns);
  ipvs = await Ipvs.open({ netns: ns.name });
  stateDir = mkdtempSync(join(tmpdir(), 'ipvs-ts-apply-'));
});
afterAll(() => {
  ipvs?.close();
  rmSync(stateDir, { recursive: true, force: true });
});
afterEach(async () => {
  await ipvs.flush();
  rmSync(join(stateDir, 'apply'), { recursive: true, force: true });
});

const TCP = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const UDP = { protocol: 'udp', address: '10.0.0.2', port: 53 } as const;
const FWM = { fwmark: 7 } as const;
const V6 = { protocol: 'tcp', address: '2001:db8::1', port: 443 } as const;

/** The origin's setup and a few more services covering every kind of setting. */
const DESIRED: DesiredService[] = [
  {
    ...TCP,
    scheduler: 'wlc',
    destinations: [
      { address: '192.168.1.10', weight: 1000 },
      { address: '192.168.1.11', weight: 500 },
      { address: '192.168.1.12', weight: 800 },
    ],
  },
  {
    ...UDP,
    scheduler: 'sh',
    schedulerFlags: ['sh-port'],
    onePacket: true,
    destinations: [
      { address: '192.168.2.1', port: 5353, forwarding: 'masq', weight: 3, upperThreshold: 100, lowerThreshold: 10 },
      { address: '192.168.2.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
    ],
  },
  { ...FWM, scheduler: 'rr', persistence: { timeout: 600, netmask: '255.255.255.0' }, destinations: [{ address: '192.168.3.1', port: 0 }] },
  { ...V6, scheduler: 'lc', persistence: { timeout: 60, netmask: 64 }, destinations: [{ address: '2001:db8:1::10', port: 8443, forwarding: 'masq' }] },
];

const DESIRED_SN = [
  '-A -t 10.0.0.1:80 -s wlc',
  '-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 1000',
  '-a -t 10.0.0.1:80 -r 192.168.1.11:80 -g -w 500',
  '-a -t 10.0.0.1:80 -r 192.168.1.12:80 -g -w 800',
  '-A -u 10.0.0.2:53 -s sh -o -b sh-port',
  '-a -u 10.0.0.2:53 -r 192.168.2.1:5353 -m -w 3',
  '-a -u 10.0.0.2:53 -r 192.168.2.2:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
  '-A -t [2001:db8::1]:443 -s lc -p 60 -M 64',
  '-a -t [2001:db8::1]:443 -r [2001:db8:1::10]:8443 -m -w 1',
  '-A -f 7 -s rr -p 600 -M 255.255.255.0',
  '-a -f 7 -r 192.168.3.1:0 -g -w 1',
  '',
].join('\n');

const sn = (): string => ok(ns.ipvsadm('-Sn'));
const summary = (plan: ApplyPlan): string[] =>
  plan.steps.map((s) => `${s.action} ${s.target} ${JSON.stringify(s.destination ?? s.service)} ${s.status}`);

describe('apply', () => {
  it('creates everything from nothing; a second apply of the same state is an empty plan', async () => {
    const plan = await applyDesired(ipvs, DESIRED, { owner: 'web', stateDir });
    expect(plan.ok).toBe(true);
    expect(plan.steps.map((s) => s.action)).toEqual(Array(4 + 7).fill('create'));
    expect(plan.steps.every((s) => s.status === 'done')).toBe(true);
    // Services first, then their real servers, so one pipelined batch can carry all.
    expect(plan.steps.slice(0, 4).every((s) => s.target === 'service')).toBe(true);
    expect(sn()).toBe(DESIRED_SN);

    const again = await applyDesired(ipvs, DESIRED, { owner: 'web', stateDir });
    expect(again.steps).toEqual([]);
    expect(again.ok).toBe(true);
    // Also with every prune mode, and when fed what the kernel reads back (counters and all).
    for (const prune of ['none', 'owned', 'all'] as const) expect((await applyDesired(ipvs, DESIRED, { owner: 'web', stateDir, prune })).steps).toEqual([]);
    expect((await applyDesired(ipvs, await ipvs.snapshot(), { owner: 'web', stateDir, prune: 'all' })).steps).toEqual([]);
    expect(sn()).toBe(DESIRED_SN);
  });

  it('changes settings in place: one update per changed service or real server, nothing deleted', async () => {
    await applyDesired(ipvs, DESIRED, { owner: 'web', stateDir });
    const changed: DesiredService[] = structuredClone(DESIRED);
    changed[0]!.scheduler = 'rr';
    changed[0]!.destinations = [
      { address: '192.168.1.10', weight: 1000 },
      { address: '192.168.1.11', weight: 0 }, // quiesced
      { address: '192.168.1.12', weight: 800, upperThreshold: 50 },
    ];
    changed[1]!.schedulerFlags = ['sh-fallback', 'sh-port'];
    changed[1]!.destinations = [
      { address: '192.168.2.1', port: 5353, forwarding: 'masq', weight: 3, upperThreshold: 100, lowerThreshold: 10 },
      { address: '192.168.2.2', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } },
    ];
    changed[2]!.persistence = { timeout: 600 }; // netmask back to the default
    const plan = await applyDesired(ipvs, changed, { owner: 'web', stateDir, prune: 'all' });
    expect(plan.ok).toBe(true);
    expect(summary(plan)).toEqual([
      `update service ${JSON.stringify(TCP)} done`,
      `update service ${JSON.stringify(UDP)} done`,
      `update service ${JSON.stringify({ ...FWM, family: 'inet' })} done`,
      'update destination {"address":"192.168.1.11","port":80} done',
      'update destination {"address":"192.168.1.12","port":80} done',
      'update destination {"address":"192.168.2.2","port":53} done',
    ]);
    expect(plan.steps[0]?.changes).toEqual([{ field: 'scheduler', from: 'wlc', to: 'rr' }]);
    expect(plan.steps[3]?.changes).toEqual([{ field: 'weight', from: 500, to: 0 }]);
    expect(plan.steps[5]?.changes?.map((c) => c.field)).toEqual(['tunnel']);
    expect(sn()).toContain('-A -t 10.0.0.1:80 -s rr\n');
    expect(sn()).toContain('-a -t 10.0.0.1:80 -r 192.168.1.11:80 -g -w 0\n');
    expect(sn()).toContain('-A -f 7 -s rr -p 600\n');
    expect(sn()).toContain('-a -u 10.0.0.2:53 -r 192.168.2.2:53 -i -w 1 --tun-type gre --tun-csum\n');
    expect(ok(ns.ipvsadm('-Ln', '--thresholds', '-t', '10.0.0.1:80'))).toMatch(/192\.168\.1\.12:80 +50 /);
    expect((await applyDesired(ipvs, changed, { owner: 'web', stateDir, prune: 'all' })).steps).toEqual([]);
  });

  it('an update in place keeps the counters and connections of services and real servers (real traffic)', async () => {
    const key = { protocol: 'tcp', address: '10.0.0.3', port: 80 } as const;
    const desired = (scheduler: string, weight: number): DesiredService[] => [
      { ...key, scheduler, persistence: { timeout: 600 }, destinations: [{ address: '192.168.4.1', weight }] },
    ];
    await applyDesired(ipvs, desired('wlc', 1), { owner: 'web', stateDir });
    // A local client's connection attempts: a connection and a persistence template on the real server.
    for (let i = 0; i < 3; i++) ok(ns.exec('bash', ['-c', 'timeout 1 bash -c "exec 3<>/dev/tcp/10.0.0.3/80" 2>/dev/null; true']));
    const before = (await ipvs.snapshot()).find((s) => 'address' in s && s.address === '10.0.0.3')!;
    expect(before.stats.conns).toBeGreaterThan(0n);
    expect(before.stats.inPkts).toBeGreaterThan(0n);
    const dBefore = before.destinations[0]!;
    expect(dBefore.persistentConnections).toBe(1);
    expect(dBefore.activeConnections + dBefore.inactiveConnections).toBeGreaterThan(0);

    const plan = await applyDesired(ipvs, desired('rr', 5), { owner: 'web', stateDir });
    expect(plan.steps.map((s) => `${s.action} ${s.target}`)).toEqual(['update service', 'update destination']);
    const after = (await ipvs.snapshot()).find((s) => 'address' in s && s.address === '10.0.0.3')!;
    expect(after.scheduler).toBe('rr');
    expect(after.destinations[0]!.weight).toBe(5);
    // Re-created entries would start from zero: these kept everything.
    expect(after.stats.conns).toBe(before.stats.conns);
    expect(after.stats.inPkts).toBeGreaterThanOrEqual(before.stats.inPkts);
    expect(after.destinations[0]!.stats.conns).toBe(dBefore.stats.conns);
    expect(after.destinations[0]!.persistentConnections).toBe(1);
    expect(after.destinations[0]!.activeConnections + after.destinations[0]!.inactiveConnections).toBe(
      dBefore.activeConnections + dBefore.inactiveConnections,
    );
    // ipvsadm sees the same counters.
    expect(ok(ns.ipvsadm('-Ln', '--stats', '--exact', '-t', '10.0.0.3:80'))).toMatch(new RegExp(`TCP  10\\.0\\.0\\.3:80 +${before.stats.conns} `));
  });

  it('prune none keeps, owned deletes only what this owner created, all deletes everything left out', async () => {
    await applyDesired(ipvs, DESIRED, { owner: 'web', stateDir });
    // Someone else's service and real server (added with ipvsadm, as a foreign tool would).
    ok(ns.ipvsadm('-A', '-t', '10.0.0.9:80', '-s', 'rr'));
    ok(ns.ipvsadm('-a', '-t', '10.0.0.9:80', '-r', '192.168.9.1', '-g'));
    ok(ns.ipvsadm('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.99', '-g'));
    const foreign = sn();

    const fewer = DESIRED.filter((s) => !('fwmark' in s)).map((s) => ({ ...s, destinations: s.destinations?.slice(1) }));
    const none = await applyDesired(ipvs, fewer, { owner: 'web', stateDir, prune: 'none' });
    expect(none.steps).toEqual([]);
    expect(sn()).toBe(foreign);

    // Owned: the fwmark service and the left-out real servers go; 10.0.0.9 and 192.168.1.99 stay.
    const owned = await applyDesired(ipvs, fewer, { owner: 'web', stateDir, prune: 'owned' });
    expect(owned.ok).toBe(true);
    expect(summary(owned)).toEqual([
      'delete destination {"address":"192.168.1.10","port":80} done',
      'delete destination {"address":"192.168.2.1","port":5353} done',
      'delete destination {"address":"2001:db8:1::10","port":8443} done',
      `delete service ${JSON.stringify({ ...FWM, family: 'inet' })} done`,
    ]);
    const left = sn();
    expect(left).toContain('-A -t 10.0.0.9:80 -s rr\n-a -t 10.0.0.9:80 -r 192.168.9.1:80 -g -w 1\n');
    expect(left).toContain('-a -t 10.0.0.1:80 -r 192.168.1.99:80 -g -w 1\n');
    expect(left).not.toContain('-f 7');
    // Another owner cannot delete web's entries.
    expect((await applyDesired(ipvs, [], { owner: 'db', stateDir, prune: 'owned' })).steps).toEqual([]);

    // All: the foreign entries go too.
    const all = await applyDesired(ipvs, fewer, { owner: 'web', stateDir, prune: 'all' });
    expect(summary(all)).toEqual([
      'delete destination {"address":"192.168.1.99","port":80} done',
      'delete service {"protocol":"tcp","address":"10.0.0.9","port":80} done',
    ]);
  });

  it('ownership is a file keyed by namespace and owner that outlives the process; a service holding foreign real servers is kept', async () => {
    await applyDesired(ipvs, { owner: 'web', services: DESIRED.slice(0, 1) }, { stateDir });
    const inode = ok(ns.exec('stat', ['-L', '-c', '%i', '/proc/self/ns/net'])).trim();
    const path = join(stateDir, 'apply', `netns-${inode}`, 'web.json');
    const record = JSON.parse(readFileSync(path, 'utf8')) as { owner: string; services: string[]; destinations: string[] };
    expect(record).toMatchObject({ owner: 'web', services: ['tcp 10.0.0.1:80'] });
    expect(record.destinations).toEqual(['tcp 10.0.0.1:80 -> 192.168.1.10:80', 'tcp 10.0.0.1:80 -> 192.168.1.11:80', 'tcp 10.0.0.1:80 -> 192.168.1.12:80']);

    // A new handle (as a new process would open) finds the ownership again.
    ok(ns.ipvsadm('-a', '-t', '10.0.0.1:80', '-r', '192.168.1.77', '-g'));
    await using other = await Ipvs.open({ netns: ns.name });
    const plan = await applyDesired(other, { owner: 'web', services: [] }, { stateDir });
    expect(plan.kept).toEqual([{ service: TCP, reason: 'it holds real servers another tool added (192.168.1.77:80)' }]);
    expect(summary(plan).map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual(Array(3).fill('delete destination'));
    expect(sn()).toBe('-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 192.168.1.77:80 -g -w 1\n');
    // Once the foreign real server is gone, the service goes with the next apply.
    ok(ns.ipvsadm('-d', '-t', '10.0.0.1:80', '-r', '192.168.1.77'));
    expect(summary(await applyDesired(other, { owner: 'web', services: [] }, { stateDir }))).toEqual([`delete service ${JSON.stringify(TCP)} done`]);
    expect(sn()).toBe('');
    // Nothing owned any more: the record is removed.
    expect(() => readFileSync(path)).toThrow();
  });

  it('a dry run plans without touching the kernel or the record', async () => {
    const plan = await applyDesired(ipvs, DESIRED, { owner: 'web', stateDir, dryRun: true });
    expect(plan.dryRun).toBe(true);
    expect(plan.steps).toHaveLength(11);
    expect(plan.steps.every((s) => s.status === 'planned')).toBe(true);
    expect(sn()).toBe('');
    expect(() => readFileSync(plan.statePath)).toThrow();
  });

  it('refusals are reported per step, the rest still applies, and failed creations are not owned', async () => {
    const plan = await applyDesired(
      ipvs,
      [
        { ...TCP, scheduler: 'nosuchsched', destinations: [{ address: '192.168.1.10' }] },
        { ...UDP, destinations: [{ address: '192.168.2.1', port: 53 }] },
      ],
      { owner: 'web', stateDir },
    );
    expect(plan.ok).toBe(false);
    expect(summary(plan)).toEqual([
      `create service ${JSON.stringify(TCP)} failed`,
      `create service ${JSON.stringify(UDP)} done`,
      'create destination {"address":"192.168.1.10","port":80} failed',
      'create destination {"address":"192.168.2.1","port":53} done',
    ]);
    expect(plan.steps[0]?.error?.code).toBe('ENOENT');
    const record = JSON.parse(readFileSync(plan.statePath, 'utf8')) as { services: string[] };
    expect(record.services).toEqual(['udp 10.0.0.2:53']);
  });

  it('bad input is refused before anything is sent, naming the field', async () => {
    await expect(applyDesired(ipvs, [{ ...TCP, destinations: [{ address: '192.168.1.10', weight: -1 }] }], { stateDir })).rejects.toThrow(
      /services\[0\]\.destinations\[0\]\.weight/,
    );
    await expect(applyDesired(ipvs, [TCP, TCP], { stateDir })).rejects.toThrow(/repeats service/);
    await expect(applyDesired(ipvs, [], { stateDir, prune: 'some' as never })).rejects.toThrow(/prune/);
    await expect(applyDesired(ipvs, [], { stateDir, owner: '../x' })).rejects.toThrow(/owner/);
    expect(sn()).toBe('');
  });
});
