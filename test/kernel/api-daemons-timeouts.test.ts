// Issue 3: connection timeouts (get/set, 0 or absent keeps) and sync daemons
// (a master and a backup, with group/port/ttl/maxLength), each cross-checked
// with ipvsadm -L --timeout / -L --daemon in the same namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs, IpvsError } from '../../lib/index.js';
import type { Daemon, DaemonSpec } from '../../lib/index.js';
import { daemonsByIpvsadm, timeoutsByIpvsadm } from './api-ipvsadm.js';
import { ok, run, useFreshNetns } from './support.js';

const ns = useFreshNetns();
let ipvs: Ipvs;

const byState = (a: Daemon, b: Daemon): number => a.state.localeCompare(b.state);

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

/**
 * startDaemon, then wait until the kernel's sync thread has run (it logs
 * "sync thread started"). Stopping a daemon whose thread has not run yet makes
 * the kernel send no ACK at all (see api-daemons-race.test.ts), so every stop
 * here comes after that line.
 */
async function startDaemon(spec: DaemonSpec): Promise<void> {
  const before = threadsStarted();
  await ipvs.startDaemon(spec);
  await threadStartedAfter(before);
}
const threadsStarted = (): number => (run('dmesg').stdout.match(/IPVS: sync thread started/g) ?? []).length;
async function threadStartedAfter(before: number): Promise<void> {
  for (let i = 0; threadsStarted() === before; i++) {
    if (i > 100) throw new Error('the sync thread never logged its start');
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  // Two ends of a veth pair: multicast-capable links for the sync traffic.
  // IPv6 sync needs a usable source address: one without duplicate address detection.
  const script = [
    'link set lo up',
    'link add sync0 type veth peer name sync1',
    'link set sync0 up',
    'link set sync1 up',
    'address add 2001:db8:99::1/64 dev sync0 nodad',
  ].join('\n');
  ok(ns.exec('ip', ['-batch', '-'], { input: `${script}\n` }));
  ipvs = await Ipvs.open({ netns: ns.name });
});
afterAll(() => ipvs?.close());

describe('timeouts', () => {
  it('getTimeouts reads the kernel defaults as ipvsadm -L --timeout does', async () => {
    const t = await ipvs.getTimeouts();
    expect(t).toStrictEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(timeoutsByIpvsadm(ns)).toStrictEqual(t);
  });

  it('setTimeouts sets all three; ipvsadm reads them back', async () => {
    await ipvs.setTimeouts({ tcp: 1000, tcpFin: 60, udp: 200 });
    expect(timeoutsByIpvsadm(ns)).toStrictEqual({ tcp: 1000, tcpFin: 60, udp: 200 });
    expect(await ipvs.getTimeouts()).toStrictEqual({ tcp: 1000, tcpFin: 60, udp: 200 });
  });

  it('an absent timeout or 0 keeps the current value', async () => {
    await ipvs.setTimeouts({ tcp: 1000, tcpFin: 60, udp: 200 });
    await ipvs.setTimeouts({ udp: 30 });
    expect(timeoutsByIpvsadm(ns)).toStrictEqual({ tcp: 1000, tcpFin: 60, udp: 30 });
    await ipvs.setTimeouts({ tcp: 0, tcpFin: 45, udp: 0 });
    expect(timeoutsByIpvsadm(ns)).toStrictEqual({ tcp: 1000, tcpFin: 45, udp: 30 });
    await ipvs.setTimeouts({ tcp: 0, tcpFin: 0, udp: 0 });
    await ipvs.setTimeouts({});
    expect(timeoutsByIpvsadm(ns)).toStrictEqual({ tcp: 1000, tcpFin: 45, udp: 30 });
    expect(await ipvs.getTimeouts()).toStrictEqual({ tcp: 1000, tcpFin: 45, udp: 30 });
  });

  it('what ipvsadm --set writes, getTimeouts reads; 1 s and the largest value pass', async () => {
    ok(ns.ipvsadm('--set', '11', '22', '33'));
    expect(await ipvs.getTimeouts()).toStrictEqual({ tcp: 11, tcpFin: 22, udp: 33 });
    await ipvs.setTimeouts({ tcp: 1, tcpFin: 2147483, udp: 1 });
    expect(timeoutsByIpvsadm(ns)).toStrictEqual({ tcp: 1, tcpFin: 2147483, udp: 1 });
    expect(await ipvs.getTimeouts()).toStrictEqual({ tcp: 1, tcpFin: 2147483, udp: 1 });
    await ipvs.setTimeouts({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(timeoutsByIpvsadm(ns)).toStrictEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });
});

describe('sync daemons', () => {
  it('none run at first', async () => {
    expect(await ipvs.listDaemons()).toEqual([]);
    expect(daemonsByIpvsadm(ns)).toEqual([]);
  });

  it('a master (group, port, ttl, maxLength, syncId) and a backup (defaults): listDaemons equals ipvsadm -L --daemon', async () => {
    await startDaemon({ state: 'master', interface: 'sync0', syncId: 5, maxLength: 1400, group: '239.1.2.3', port: 9000, ttl: 2 });
    await startDaemon({ state: 'backup', interface: 'sync1' });
    const daemons = (await ipvs.listDaemons()).sort(byState);
    expect(daemons).toStrictEqual([
      { state: 'backup', interface: 'sync1', syncId: 0, maxLength: 1472, group: '224.0.0.81', port: 8848, ttl: 1 },
      { state: 'master', interface: 'sync0', syncId: 5, maxLength: 1400, group: '239.1.2.3', port: 9000, ttl: 2 },
    ]);
    expect(daemonsByIpvsadm(ns).sort(byState)).toStrictEqual(daemons);
  });

  it('starting a role that runs → EEXIST in words; stopping each leaves the other', async () => {
    const m = await rejection(ipvs.startDaemon({ state: 'master', interface: 'sync1', syncId: 9 }));
    expect(m).toBeInstanceOf(IpvsError);
    expect(m).toMatchObject({ errno: 17, code: 'EEXIST', op: 'startDaemon' });
    expect(m.message).toMatch(/^a master sync daemon is already running \(EEXIST/);
    const b = await rejection(ipvs.startDaemon({ state: 'backup', interface: 'sync0' }));
    expect(b).toMatchObject({ name: 'IpvsError', code: 'EEXIST', op: 'startDaemon' });
    expect(b.message).toMatch(/^a backup sync daemon is already running \(EEXIST/);

    await ipvs.stopDaemon('master');
    expect(await ipvs.listDaemons()).toStrictEqual([
      { state: 'backup', interface: 'sync1', syncId: 0, maxLength: 1472, group: '224.0.0.81', port: 8848, ttl: 1 },
    ]);
    expect(daemonsByIpvsadm(ns)).toStrictEqual(await ipvs.listDaemons());
    await ipvs.stopDaemon('backup');
    expect(await ipvs.listDaemons()).toEqual([]);
    expect(daemonsByIpvsadm(ns)).toEqual([]);
  });

  it('stopping a role that does not run → ESRCH; an unknown interface → ENODEV', async () => {
    const s = await rejection(ipvs.stopDaemon('master'));
    expect(s).toBeInstanceOf(IpvsError);
    expect(s).toMatchObject({ errno: 3, code: 'ESRCH', op: 'stopDaemon' });
    expect(s.message).toMatch(/^no master sync daemon is running \(ESRCH/);
    const n = await rejection(ipvs.startDaemon({ state: 'backup', interface: 'nosuch0' }));
    expect(n).toBeInstanceOf(IpvsError);
    expect(n).toMatchObject({ errno: 19, code: 'ENODEV', op: 'startDaemon' });
    expect(n.message).toMatch(/^no such interface 'nosuch0' for the backup sync daemon \(ENODEV/);
    const m = await rejection(ipvs.startDaemon({ state: 'master', interface: 'nosuch1', syncId: 1 }));
    expect(m).toMatchObject({ code: 'ENODEV', op: 'startDaemon' });
    expect(await ipvs.listDaemons()).toEqual([]);
  });

  it('a daemon ipvsadm starts, ipvs-ts reads and stops; one ipvs-ts starts, ipvsadm stops', async () => {
    const before = threadsStarted();
    ok(ns.ipvsadm('--start-daemon', 'backup', '--mcast-interface', 'sync0', '--syncid', '7', '--mcast-group', '239.9.9.9', '--mcast-port', '7777', '--mcast-ttl', '5', '--sync-maxlen', '2000'));
    await threadStartedAfter(before);
    expect(await ipvs.listDaemons()).toStrictEqual([
      { state: 'backup', interface: 'sync0', syncId: 7, maxLength: 2000, group: '239.9.9.9', port: 7777, ttl: 5 },
    ]);
    await ipvs.stopDaemon('backup');
    expect(daemonsByIpvsadm(ns)).toEqual([]);

    await startDaemon({ state: 'master', interface: 'sync1', syncId: 255, ttl: 255, port: 65535 });
    expect(daemonsByIpvsadm(ns)).toStrictEqual(await ipvs.listDaemons());
    expect(await ipvs.listDaemons()).toStrictEqual([
      { state: 'master', interface: 'sync1', syncId: 255, maxLength: 1472, group: '224.0.0.81', port: 65535, ttl: 255 },
    ]);
    ok(ns.ipvsadm('--stop-daemon', 'master'));
    expect(await ipvs.listDaemons()).toEqual([]);
  });

  it('an IPv6 multicast group: listDaemons equals ipvsadm -L --daemon', async () => {
    await startDaemon({ state: 'master', interface: 'sync0', syncId: 3, group: 'ff05::1:3', port: 9001, ttl: 3 });
    expect(await ipvs.listDaemons()).toStrictEqual([
      // 1500 less the IPv6 and UDP headers.
      { state: 'master', interface: 'sync0', syncId: 3, maxLength: 1452, group: 'ff05::1:3', port: 9001, ttl: 3 },
    ]);
    expect(daemonsByIpvsadm(ns)).toStrictEqual(await ipvs.listDaemons());
    await ipvs.stopDaemon('master');
    expect(await ipvs.listDaemons()).toEqual([]);
    expect(daemonsByIpvsadm(ns)).toEqual([]);
  });
});
