// Issue 3: counters against real traffic. A client namespace, the director (a
// NAT/masq service) and a real-server namespace, joined by veth pairs; TCP
// connections from the client through the service move conns/packets/bytes
// exactly as `ipvsadm -Ln --stats --exact` shows them. Also: rates as
// `ipvsadm -Ln --rate --exact` shows them (estimator frozen), zero(), and
// updates in place that keep counters and live connections.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/index.js';
import type { Destination, Service, ServiceKey, Stats } from '../../lib/index.js';
import { connectionCounts, parseListing, statsByIpvs, statsByIpvsadm, type StatsListing } from './api-ipvsadm.js';
import { ok, run, useFreshNetns, type FreshNetns } from './support.js';

const director = useFreshNetns('ipvsts-dir');
const client = useFreshNetns('ipvsts-cl');
const server = useFreshNetns('ipvsts-rs');
let ipvs: Ipvs;

const VIP = '10.1.0.1';
const SERVICE = { protocol: 'tcp', address: VIP, port: 80 } as const;
const RS1 = { address: '10.2.0.2', port: 8080 } as const;
const RS2 = { address: '10.2.0.3', port: 8080 } as const;
const SVC_ID = `tcp ${VIP}:80`;

function ipBatch(ns: FreshNetns, lines: string[]): void {
  ok(run('ip', ['-n', ns.name, '-batch', '-'], { input: `${lines.join('\n')}\n` }));
}

function sysctl(ns: FreshNetns, settings: Record<string, string>): void {
  const script = Object.entries(settings)
    .map(([k, v]) => `echo ${v} > /proc/sys/${k.replaceAll('.', '/')}`)
    .join(' && ');
  ok(ns.exec('bash', ['-c', script]));
}

/** Waits for a line on a child's stdout that matches. */
async function waitForLine(child: ChildProcess, re: RegExp): Promise<string> {
  let buf = '';
  for (;;) {
    const [chunk] = (await Promise.race([once(child.stdout!, 'data'), once(child, 'exit').then(() => [null])])) as [Buffer | null];
    if (chunk === null) throw new Error(`child exited before printing ${re}; it printed ${JSON.stringify(buf)}`);
    buf += chunk.toString();
    const line = buf.split('\n').find((l) => re.test(l));
    if (line !== undefined) return line;
  }
}

const ECHO_SERVER = `
const net = require('net');
net.createServer((s) => {
  s.on('data', (d) => s.write(d));
  s.on('end', () => s.end());
  s.on('error', () => {});
}).listen(8080, '0.0.0.0', () => console.log('listening'));
`;

/** N sequential connections, each sending one line and reading its echo; prints the bytes echoed. */
const clientScript = (n: number, port: number): string => `
const net = require('net');
(async () => {
  let bytes = 0;
  for (let i = 0; i < ${n}; i++) {
    await new Promise((resolve, reject) => {
      const msg = 'hello number ' + i + '\\n';
      let got = '';
      const s = net.connect(${port}, '${VIP}', () => s.write(msg));
      s.on('data', (d) => { got += d; if (got.length >= msg.length) s.end(); });
      s.on('error', reject);
      s.on('close', () => (got === msg ? (bytes += got.length, resolve()) : reject(new Error('echo: ' + JSON.stringify(got)))));
    });
  }
  console.log(JSON.stringify({ connections: ${n}, bytes }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** One connection held open until killed. */
const HOLDING_CLIENT = `
const s = require('net').connect(80, '${VIP}', () => s.write('hold\\n'));
s.once('data', () => console.log('connected'));
s.on('error', (e) => { console.error(e); process.exit(1); });
`;

function traffic(n: number, port = 80): { connections: number; bytes: number } {
  return JSON.parse(ok(client.exec('node', ['-e', clientScript(n, port)], { timeoutMs: 50_000 }))) as { connections: number; bytes: number };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The connections a service has counted so far (settled by the test before, if any). */
const connsOf = async (key: ServiceKey): Promise<bigint> => (await ipvs.getService(key))!.stats.conns;

/**
 * The kernel counts per CPU and folds the counts into what readers see when
 * its estimator runs (every 2 s). Waits until the service shows `conns`
 * connections, then for one more estimator run (seen as a change of the
 * counters or the decaying rates), so every packet of the last connection is in.
 */
async function countersSettle(conns: bigint, key: ServiceKey = SERVICE): Promise<void> {
  const look = async (): Promise<Service> => (await ipvs.getService(key))!;
  for (let i = 0; (await look()).stats.conns < conns; i++) {
    if (i > 100) throw new Error(`the service never showed ${conns} connections`);
    await sleep(100);
  }
  await nextEstimatorRun(key);
}

/** Waits (at most 6 s) for the estimator to run once: the service's counters or rates change. */
async function nextEstimatorRun(key: ServiceKey): Promise<void> {
  const seen = async (): Promise<string> => JSON.stringify((await ipvs.getService(key))!, replacer);
  const first = await seen();
  for (let i = 0; i < 60 && (await seen()) === first; i++) await sleep(100);
}

/**
 * Reads the counters with ipvsadm, then ipvs-ts, then ipvsadm again, until
 * both ipvsadm readings agree (no packet in between); returns both views.
 */
async function settledStats(): Promise<{ mine: Map<string, StatsListing>; theirs: Map<string, StatsListing> }> {
  for (let attempt = 0; ; attempt++) {
    const a = statsByIpvsadm(director);
    const mine = await statsByIpvs(ipvs);
    const b = statsByIpvsadm(director);
    if (JSON.stringify(a, replacer) === JSON.stringify(b, replacer)) return { mine, theirs: a };
    if (attempt > 20) throw new Error('the counters never settled');
    await new Promise((r) => setTimeout(r, 200));
  }
}
function replacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Map) return Object.fromEntries(v);
  return v;
}
const plain = (m: Map<string, StatsListing>): unknown => JSON.parse(JSON.stringify(m, replacer));

const sum = (list: Stats[]): Stats =>
  list.reduce(
    (t, s) => ({ conns: t.conns + s.conns, inPkts: t.inPkts + s.inPkts, outPkts: t.outPkts + s.outPkts, inBytes: t.inBytes + s.inBytes, outBytes: t.outBytes + s.outBytes }),
    { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n },
  );

function expectStatsTypes(x: Service | Destination): void {
  for (const k of ['conns', 'inPkts', 'outPkts', 'inBytes', 'outBytes'] as const) expect(typeof x.stats[k], k).toBe('bigint');
  for (const k of ['cps', 'inPps', 'outPps', 'inBps', 'outBps'] as const) expect(typeof x.rates[k], k).toBe('number');
}

beforeAll(async () => {
  // client c0 10.1.0.2 ── d0 10.1.0.1 (VIP) director d1 10.2.0.1 ── r0 10.2.0.2, 10.2.0.3 real server
  ok(run('ip', ['link', 'add', 'd0', 'netns', director.name, 'type', 'veth', 'peer', 'name', 'c0', 'netns', client.name]));
  ok(run('ip', ['link', 'add', 'd1', 'netns', director.name, 'type', 'veth', 'peer', 'name', 'r0', 'netns', server.name]));
  ipBatch(director, ['link set lo up', 'link set d0 up', 'link set d1 up', `address add ${VIP}/24 dev d0`, 'address add 10.2.0.1/24 dev d1']);
  ipBatch(client, ['link set lo up', 'link set c0 up', 'address add 10.1.0.2/24 dev c0']);
  ipBatch(server, ['link set lo up', 'link set r0 up', 'address add 10.2.0.2/24 dev r0', 'address add 10.2.0.3/24 dev r0', 'route add default via 10.2.0.1']);
  sysctl(director, { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.d0.rp_filter': '0', 'net.ipv4.conf.d1.rp_filter': '0' });
  sysctl(server, { 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.r0.rp_filter': '0' });

  const echo = server.spawn('node', ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitForLine(echo, /^listening$/);

  ipvs = await Ipvs.open({ netns: director.name });
  await ipvs.addService({ ...SERVICE, scheduler: 'rr' });
  await ipvs.addDestination(SERVICE, { ...RS1, forwarding: 'masq' });
  await ipvs.addDestination(SERVICE, { ...RS2, forwarding: 'masq' });
});
afterAll(() => ipvs?.close());

describe('counters under real traffic through a masq service', () => {
  it('start at zero, as bigint counters and number rates', async () => {
    const svc = (await ipvs.getService(SERVICE))!;
    expect(svc.stats).toStrictEqual({ conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n });
    expectStatsTypes(svc);
    for (const d of await ipvs.listDestinations(SERVICE)) expectStatsTypes(d);
  });

  it('20 TCP connections: conns/packets/bytes of the service and each destination equal ipvsadm --stats --exact', async () => {
    const t = traffic(20);
    const payload = Array.from({ length: 20 }, (_, i) => `hello number ${i}\n`.length).reduce((a, b) => a + b);
    expect(t).toEqual({ connections: 20, bytes: payload });
    await countersSettle(20n);
    const { mine, theirs } = await settledStats();
    expect(plain(mine)).toEqual(plain(theirs));

    const svc = mine.get(SVC_ID)!;
    // Round robin over two servers: ten connections each.
    expect(svc.stats.conns).toBe(20n);
    expect([...svc.destinations.values()].map((s) => s.conns)).toEqual([10n, 10n]);
    // Real packets both ways (masq sees the replies), and at least the echoed payload.
    expect(svc.stats.inPkts).toBeGreaterThanOrEqual(20n * 4n);
    expect(svc.stats.outPkts).toBeGreaterThanOrEqual(20n * 3n);
    expect(svc.stats.inBytes).toBeGreaterThan(BigInt(t.bytes));
    expect(svc.stats.outBytes).toBeGreaterThan(BigInt(t.bytes));
    // The service counts what its destinations count.
    expect(svc.stats).toStrictEqual(sum([...svc.destinations.values()]));

    // Every reader of ipvs-ts says the same.
    const got = (await ipvs.getService(SERVICE))!;
    expectStatsTypes(got);
    expect(got.stats).toStrictEqual(svc.stats);
    expect((await ipvs.listServices()).find((s) => 'port' in s && s.port === 80)!.stats).toStrictEqual(svc.stats);
    for (const d of await ipvs.listDestinations(SERVICE)) {
      expectStatsTypes(d);
      expect(d.stats).toStrictEqual(svc.destinations.get(`${d.address}:${d.port}`));
    }
  });

  it('rates equal ipvsadm --rate --exact once the estimator is frozen', async () => {
    const connsBefore = await connsOf(SERVICE);
    traffic(6);
    await countersSettle(connsBefore + 6n);
    // Let the estimator (every 2 s) see the traffic, then freeze it.
    for (let i = 0; i < 50; i++) {
      const s = (await ipvs.getService(SERVICE))!;
      if (s.rates.inPps > 0 && s.rates.inBps > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    sysctl(director, { 'net.ipv4.vs.run_estimation': '0' });
    try {
      const listing = parseListing(ok(director.ipvsadm('-Ln', '--rate', '--exact'))).get(SVC_ID)!;
      const rates = (cols: string[]): number[] => cols.map(Number);
      const svc = (await ipvs.getService(SERVICE))!;
      expect([svc.rates.cps, svc.rates.inPps, svc.rates.outPps, svc.rates.inBps, svc.rates.outBps]).toEqual(rates(listing.header));
      expect(svc.rates.inPps).toBeGreaterThan(0);
      for (const d of await ipvs.listDestinations(SERVICE)) {
        const cols = listing.destinations.get(`${d.address}:${d.port}`)!;
        expect([d.rates.cps, d.rates.inPps, d.rates.outPps, d.rates.inBps, d.rates.outBps]).toEqual(rates(cols));
      }
    } finally {
      sysctl(director, { 'net.ipv4.vs.run_estimation': '1' });
    }
  });

  it('updateService and updateDestination keep counters and a live connection', async () => {
    const connsBefore = await connsOf(SERVICE);
    const holder = client.spawn('node', ['-e', HOLDING_CLIENT], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await waitForLine(holder, /^connected$/);
      await countersSettle(connsBefore + 1n);
      const before = await ipvs.snapshot();
      const beforeDests = before[0]!.destinations;
      expect(beforeDests.reduce((n, d) => n + d.activeConnections, 0)).toBe(1);

      await ipvs.updateService({ ...SERVICE, scheduler: 'wrr' });
      await ipvs.updateDestination(SERVICE, { ...RS1, forwarding: 'masq', weight: 5, upperThreshold: 100 });
      await ipvs.updateDestination(SERVICE, { ...RS2, forwarding: 'masq', weight: 2 });

      const after = await ipvs.snapshot();
      expect(after[0]!.scheduler).toBe('wrr');
      expect(after[0]!.stats).toStrictEqual(before[0]!.stats);
      for (const d of after[0]!.destinations) {
        const b = beforeDests.find((x) => x.address === d.address)!;
        expect(d.stats, d.address).toStrictEqual(b.stats);
        expect([d.activeConnections, d.inactiveConnections], d.address).toEqual([b.activeConnections, b.inactiveConnections]);
      }
      expect(after[0]!.destinations.map((d) => d.weight).sort()).toEqual([2, 5]);
      // ipvsadm sees the same connection counts and counters.
      const counts = connectionCounts(director).get(SVC_ID)!;
      for (const d of after[0]!.destinations) {
        expect(counts.get(`${d.address}:${d.port}`)).toEqual({
          weight: d.weight,
          persistent: d.persistentConnections,
          active: d.activeConnections,
          inactive: d.inactiveConnections,
        });
      }
      const { mine, theirs } = await settledStats();
      expect(plain(mine)).toEqual(plain(theirs));
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('zero(key) zeroes one service and its destinations; zero() all; ipvsadm agrees', async () => {
    // A second service that keeps its counters while the first is zeroed.
    const other = { protocol: 'tcp', address: VIP, port: 81 } as const;
    await ipvs.addService(other);
    await ipvs.addDestination(other, { ...RS1, forwarding: 'masq' });
    traffic(2, 81);
    await countersSettle(2n, other);
    const otherStats = (await ipvs.getService(other))!.stats;
    expect(otherStats.inPkts).toBeGreaterThan(0n);
    await ipvs.zero(SERVICE);
    let { mine, theirs } = await settledStats();
    expect(plain(mine)).toEqual(plain(theirs));
    const zero = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
    expect(mine.get(SVC_ID)!.stats).toStrictEqual(zero);
    for (const s of mine.get(SVC_ID)!.destinations.values()) expect(s).toStrictEqual(zero);
    expect(mine.get(`tcp ${VIP}:81`)!.stats).toStrictEqual(otherStats);

    traffic(4);
    await countersSettle(4n);
    ({ mine, theirs } = await settledStats());
    expect(plain(mine)).toEqual(plain(theirs));
    expect(mine.get(SVC_ID)!.stats.conns).toBe(4n);

    await ipvs.zero();
    ({ mine, theirs } = await settledStats());
    expect(plain(mine)).toEqual(plain(theirs));
    expect(mine.get(SVC_ID)!.stats).toStrictEqual(zero);
    expect(mine.get(`tcp ${VIP}:81`)!.stats).toStrictEqual(zero);
    for (const s of mine.get(`tcp ${VIP}:81`)!.destinations.values()) expect(s).toStrictEqual(zero);
    await ipvs.deleteService(other);
  });
});
