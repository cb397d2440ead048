// Issue 4, end to end: the origin setup (director VIP under an alias label,
// service VIP:22136 wlc, three real servers with weights 1000/500/800, each
// set up by configureRealServer) built by createLab, with real TCP from a
// client namespace through the VIP, for direct routing, NAT and ipip.
// ipvsadm in the director's namespace is the independent oracle for the
// counters; iproute2 and sysctl(8) for the host settings.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';

import type { Destination, Service } from '../../lib/types.js';
import { createLab, listNetns } from '../../lib/host/index.js';
import type { Lab } from '../../lib/host/index.js';
import { ok, run } from './support.js';

const WEIGHTS = [1000, 500, 800];
const TOTAL = WEIGHTS.reduce((a, b) => a + b, 0);
// 230 connections: 100/50/80 expected. Each one is a few ms in the one-CPU
// guest, so the traffic itself takes well under a second per lab.
const N = 230;
// wlc sends a new connection to the server with the least
// (256·active + inactive) / weight. Our client opens connections one at a
// time and each is closed (client FIN seen by the director: FIN_WAIT or
// TIME_WAIT, i.e. inactive) before the next SYN, and inactive entries stay
// for the 2-minute FIN/TIME_WAIT timeouts, longer than the run. So every pick
// sees the inactive counts of all earlier connections, and wlc keeps
// count_i / weight_i level: each count stays within 1 of N·w_i/W (ties go to
// the first server in the list). Allow 2 for a FIN that would still be in
// flight (one connection counted active, 256 instead of 1).
const TOLERANCE = 2;

const openFds = (): number => readdirSync('/proc/self/fd').length;
const inNs = (netns: string, ...args: string[]): string => ok(run('ip', ['netns', 'exec', netns, ...args]));

type Counters = [string, string, string, string, string]; // Conns InPkts OutPkts InBytes OutBytes

/** `ipvsadm -Ln --stats --exact` as { "VIP:port": counters, "RIP:port": counters }. */
function ipvsadmStats(netns: string): Record<string, Counters> {
  const out: Record<string, Counters> = {};
  for (const line of inNs(netns, 'ipvsadm', '-Ln', '--stats', '--exact').split('\n')) {
    const m = /^(?:TCP|\s+->)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (m) out[m[1]!] = [m[2]!, m[3]!, m[4]!, m[5]!, m[6]!];
  }
  return out;
}

/** The same counters read through ipvs-ts. */
async function ipvsTsStats(lab: Lab): Promise<{ stats: Record<string, Counters>; service: Service; dests: Destination[] }> {
  const service = (await lab.ipvs.getService(lab.service))!;
  const dests = await lab.ipvs.listDestinations(lab.service);
  const row = (s: Service['stats']): Counters => [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes].map(String) as Counters;
  const stats: Record<string, Counters> = { [`${lab.vip}:${lab.port}`]: row(service.stats) };
  for (const d of dests) stats[`${d.address}:${d.port}`] = row(d.stats);
  return { stats, service, dests };
}

/**
 * Counters once they stop moving. Linux 6.1 reports counters that its
 * estimator timer copies from the per-CPU ones every 2 s, so the last
 * packets show up only after the next tick: wait until a non-zero reading
 * has held for longer than one period.
 */
async function settled(lab: Lab): Promise<Awaited<ReturnType<typeof ipvsTsStats>>> {
  let last = '';
  let since = Date.now();
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(250)) {
    const now = await ipvsTsStats(lab);
    const text = JSON.stringify(now.stats);
    if (text !== last) {
      last = text;
      since = Date.now();
    } else if (now.service.stats.conns > 0n && Date.now() - since > 2_200) {
      return now;
    }
  }
  throw new Error(`IPVS counters did not settle within 20 s: ${last}`);
}

interface Variant {
  family?: 'inet' | 'inet6';
  directorDev?: string;
  /** Compare the counters with ipvsadm (waits for an estimator tick, 2–4 s). */
  stats?: boolean;
}

async function exercise(forwarding: 'route' | 'masq' | 'tunnel', variant: Variant = {}): Promise<void> {
  const { family = 'inet', directorDev, stats = true } = variant;
  const netnsBefore = await listNetns();
  const linksBefore = ok(run('ip', ['-o', 'link'])).replace(/\\.*$/gm, '');
  const fdsBefore = openFds();

  const lab = await createLab({
    forwarding,
    scheduler: 'wlc',
    port: 22136,
    realServers: WEIGHTS.map((weight) => ({ weight })),
    family,
    ...(directorDev ? { directorDev } : {}),
  });
  const names = [lab.client.netns, lab.director.netns, lab.switch.netns, ...lab.realServers.map((r) => r.netns)];
  try {
    // The director carries the VIP as a single host: IPv4 under an alias
    // label, IPv6 deprecated (never the source of the director's own packets).
    const dev = lab.director.dev;
    const onDirector = inNs(lab.director.netns, 'ip', '-o', 'address', 'show', 'dev', dev);
    if (family === 'inet') expect(onDirector).toContain(`inet ${lab.vip}/32 scope global ${dev}:0\\`);
    else expect(onDirector).toMatch(new RegExp(`inet6 ${lab.vip}/128 scope global deprecated`));
    if (forwarding !== 'masq') {
      for (const rs of lab.realServers) {
        expect(inNs(rs.netns, 'sysctl', '-n', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce', 'net.ipv4.conf.eth0.arp_ignore', 'net.ipv4.conf.eth0.arp_announce'))
          .toBe('1\n2\n1\n2\n');
        expect(inNs(rs.netns, 'ip', '-o', 'address', 'show', 'dev', 'lo')).toContain(
          family === 'inet' ? `inet ${lab.vip}/32 scope global lo:0` : `inet6 ${lab.vip}/128 scope global deprecated`,
        );
      }
    }
    const table = inNs(lab.director.netns, 'ipvsadm', '-Ln');
    const hostPort = (a: string): string => (family === 'inet' ? `${a}:22136` : `[${a}]:22136`);
    expect(table).toContain(`TCP  ${hostPort(lab.vip)} wlc`);
    const method = { route: 'Route', masq: 'Masq', tunnel: 'Tunnel' }[forwarding];
    for (const rs of lab.realServers) {
      expect(table).toMatch(new RegExp(`-> ${hostPort(rs.address).replace(/[[\].]/g, '\\$&')}\\s+${method}\\s+${rs.weight}\\s`));
    }

    const counts = new Map<string, number>();
    const ports = new Set<number>();
    for (let i = 0; i < N; i++) {
      const answer = await lab.requestDetails();
      counts.set(answer.server, (counts.get(answer.server) ?? 0) + 1);
      ports.add(answer.localPort);
    }
    // Every connection answered, by one of the real servers, in proportion.
    expect([...counts.keys()].sort()).toEqual(lab.realServers.map((r) => r.name).sort());
    for (const rs of lab.realServers) {
      const expected = (N * rs.weight) / TOTAL;
      expect(Math.abs(counts.get(rs.name)! - expected), `${rs.name}: ${counts.get(rs.name)} answers, expected ${expected}`).toBeLessThanOrEqual(TOLERANCE);
    }

    if (!stats) return;
    const mine = await settled(lab);
    const theirs = ipvsadmStats(lab.director.netns);
    expect(mine.stats).toEqual(theirs);
    expect((await ipvsTsStats(lab)).stats).toEqual(theirs); // still the same after ipvsadm's read

    const svc = mine.service.stats;
    // A client port used twice while the first connection's entry still
    // exists may be folded into that entry instead of counting a new one
    // (conn_reuse_mode reschedules only from TIME_WAIT). So Conns lies
    // between the number of distinct client ports and N; with all ports
    // distinct (the usual case), it is exactly N.
    expect(Number(svc.conns)).toBeGreaterThanOrEqual(ports.size);
    expect(Number(svc.conns)).toBeLessThanOrEqual(N);
    if (ports.size === N) expect(svc.conns).toBe(BigInt(N));
    expect(svc.inPkts).toBeGreaterThanOrEqual(BigInt(3 * N)); // SYN, ACK, FIN at least
    if (forwarding === 'masq') {
      expect(svc.outPkts).toBeGreaterThanOrEqual(BigInt(2 * N)); // SYN-ACK, data+FIN at least
    } else {
      // Replies go from the real servers straight to the client.
      expect(svc.outPkts).toBe(0n);
      for (const d of mine.dests) expect(d.stats.outPkts).toBe(0n);
    }
    // What wlc weighed: nothing active, every connection inactive.
    for (const d of mine.dests) {
      const rs = lab.realServers.find((r) => r.address === d.address)!;
      expect(d.activeConnections).toBe(0);
      if (ports.size === N) expect(d.inactiveConnections).toBe(counts.get(rs.name));
    }
  } finally {
    await lab.destroy();
  }
  // Nothing left behind: namespaces (their devices go with them), links, fds.
  for (const name of names) expect(existsSync(`/run/netns/${name}`), name).toBe(false);
  expect(await listNetns()).toEqual(netnsBefore);
  expect(ok(run('ip', ['-o', 'link'])).replace(/\\.*$/gm, '')).toBe(linksBefore);
  expect(openFds()).toBe(fdsBefore);
}

describe('createLab, end to end', () => {
  it('route (DR), the origin setup: VIP on bond0.4001:0, wlc 1000/500/800', () => exercise('route', { directorDev: 'bond0.4001' }));
  it('masq (NAT): real servers behind the director, forwarding on', () => exercise('masq'));
  it('tunnel (ipip): VIP on tunl0, rp_filter off', () => exercise('tunnel'));

  // IPv6: the same traffic and proportions; the counters are left to the IPv4 runs.
  it('route over IPv6', () => exercise('route', { family: 'inet6', stats: false }));
  it('masq over IPv6', () => exercise('masq', { family: 'inet6', stats: false }));
  // ip6ip6 needs ip6_tunnel (its ip6tnl0), which the guest does not preload:
  // load it through the kernel's own modprobe, as a real host would.
  it('tunnel over IPv6 (ip6ip6 to ip6tnl0)', async () => {
    ok(run(readFileSync('/proc/sys/kernel/modprobe', 'utf8').trim(), ['ip6_tunnel']));
    await exercise('tunnel', { family: 'inet6', stats: false });
  });

  it('rejects bad options before creating anything', async () => {
    const before = await listNetns();
    await expect(createLab({ forwarding: 'gre' as 'route', realServers: [{ weight: 1 }] })).rejects.toThrow(TypeError);
    await expect(createLab({ forwarding: 'route', realServers: [] })).rejects.toThrow(RangeError);
    await expect(createLab({ forwarding: 'route', realServers: [{ weight: -1 }] })).rejects.toThrow(/weight/);
    await expect(createLab({ forwarding: 'route', realServers: [{ weight: 1 }], directorDev: '../x' })).rejects.toThrow(TypeError);
    expect(await listNetns()).toEqual(before);
  });
});
