// Several active directors behind an ECMP router (createEcmpLab): 200
// long-lived connections exchanging data spread over the directors and the
// real servers. Taking a director out of the multipath route (and its link
// down) re-hashes flows onto the others; with `mh` and sloppy_tcp every
// connection keeps exchanging data (N of N), with `wlc` a measured share
// dies (the control). Putting the director back re-hashes again: still N of
// N. A real server taken out of every director's table affects only its own
// flows. The route itself is checked by listRoutes(); an IPv6 VIP goes
// through the same lab.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

import { createEcmpLab, listRoutes, setLinkDown, setLinkUp, type EcmpLab } from '../../lib/host/index.js';

const N = 200;
const weights = [3, 2, 2, 1];

/** N connections to the VIP; each learns its real server (the echo server's first line) and then sends a line every 100 ms. */
function clients(lab: EcmpLab, n: number): { child: ChildProcess; report: () => Promise<{ server: string; echoes: number; closed: boolean }[]> } {
  const script = `
const net = require('net');
const state = [];
for (let i = 0; i < ${n}; i++) {
  const c = { server: '', echoes: 0, closed: false };
  state.push(c);
  const s = net.connect(${lab.port}, ${JSON.stringify(lab.vip)});
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d) => {
    buf += d;
    const lines = buf.split('\\n');
    buf = lines.pop();
    for (const l of lines) { if (!c.server) c.server = l; else c.echoes++; }
  });
  s.on('error', () => {});
  s.on('close', () => { c.closed = true; });
  setInterval(() => { if (!c.closed) s.write('x\\n'); }, 100);
}
require('readline').createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify(state)));
`;
  const child = spawn('ip', ['netns', 'exec', lab.client.netns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const report = () =>
    new Promise<{ server: string; echoes: number; closed: boolean }[]>((resolve) => {
      lines.once('line', (l) => resolve(JSON.parse(l)));
      child.stdin!.write('report\n');
    });
  return { child, report };
}

/** Which connections went on exchanging data over `ms`. */
async function alive(report: () => Promise<{ echoes: number; closed: boolean }[]>, ms = 3000): Promise<boolean[]> {
  const before = await report();
  await new Promise((r) => setTimeout(r, ms));
  const after = await report();
  return after.map((c, i) => !c.closed && c.echoes > before[i]!.echoes + 5);
}

async function settle(report: () => Promise<{ server: string; echoes: number }[]>, n: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await report();
    if (r.filter((c) => c.server && c.echoes > 2).length === n) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error('the connections did not all start exchanging data');
}

/** Established connections of the service in each director's table. */
async function perDirector(lab: EcmpLab): Promise<number[]> {
  return Promise.all(lab.directors.map(async (d) => (await d.ipvs.connections({ service: { protocol: 'tcp', address: lab.vip, port: lab.port } })).filter((c) => c.state === 'ESTABLISHED').length));
}

/** Loses one director from the route and its link: the share of connections that survive. */
async function loseDirector(lab: EcmpLab, report: () => Promise<{ echoes: number; closed: boolean }[]>, index: number): Promise<boolean[]> {
  const lost = lab.directors[index]!;
  await lab.route(lab.directors.filter((d) => d !== lost));
  await setLinkDown('eth0', { netns: lost.netns });
  return alive(report);
}

describe('N active directors behind ECMP', () => {
  it(`mh: ${N} connections spread over 3 directors and 4 real servers; a director lost and back, ${N}/${N} survive; a real server removed affects only its own`, async () => {
    // mh-port: the client's port goes into the hash too, so one client's connections spread over the real servers.
    const lab = await createEcmpLab({ directors: 3, realServers: weights.map((weight) => ({ weight })), schedulerFlags: ['mh-port'], port: 22136 });
    let c: ReturnType<typeof clients> | undefined;
    try {
      const routes = await listRoutes({ netns: lab.router.netns });
      const vipRoute = routes.find((r) => r.destination === lab.vip)!;
      expect(vipRoute.nextHops.map((h) => h.gateway).sort()).toEqual(lab.directors.map((d) => d.address).sort());
      c = clients(lab, N);
      await settle(c.report, N);
      const spread = await perDirector(lab);
      expect(spread.reduce((a, b) => a + b, 0)).toBe(N);
      expect(spread.every((k) => k > N / 10)).toBe(true); // every director carries a share
      const byServer = new Map<string, number>();
      for (const conn of await c.report()) byServer.set(conn.server, (byServer.get(conn.server) ?? 0) + 1);
      const total = weights.reduce((a, b) => a + b, 0);
      for (const [i, rs] of lab.realServers.entries()) expect(byServer.get(rs.name) ?? 0).toBeGreaterThan((N * weights[i]!) / total / 3);

      // Lose d2: every connection goes on; d2's flows now show on d1 and d3.
      const onD2 = spread[1]!;
      const survived = await loseDirector(lab, c.report, 1);
      expect(`${survived.filter(Boolean).length}/${N} connections survived`).toBe(`${N}/${N} connections survived`);
      const others = await perDirector(lab);
      expect(others[0]! + others[2]!).toBeGreaterThanOrEqual(N); // d1 and d3 hold every flow now (a flow that moved between them is in both)
      expect(onD2).toBeGreaterThan(0);

      // d2 back: flows re-hash once more, still all alive.
      await setLinkUp('eth0', { netns: lab.directors[1]!.netns });
      await lab.route();
      const back = await alive(c.report);
      expect(`${back.filter(Boolean).length}/${N} connections survived`).toBe(`${N}/${N} connections survived`);

      // rs4 out of every director's table: only its connections are affected.
      const before = await c.report();
      const rs4 = lab.realServers[3]!;
      for (const d of lab.directors) await d.ipvs.deleteDestination(lab.service, { address: rs4.address });
      const after = await alive(c.report);
      const othersAlive = before.map((conn, i) => conn.server === rs4.name || after[i]).filter((x) => x).length;
      expect(`${othersAlive}/${N}`).toBe(`${N}/${N}`);
    } finally {
      c?.child.kill();
      await lab.destroy();
    }
  });

  it('the control: with wlc, losing a director breaks a share of the moved connections', async () => {
    const lab = await createEcmpLab({ directors: 3, realServers: weights.map((weight) => ({ weight })), scheduler: 'wlc', port: 22136 });
    let c: ReturnType<typeof clients> | undefined;
    try {
      c = clients(lab, N);
      await settle(c.report, N);
      const survived = await loseDirector(lab, c.report, 1);
      const lost = N - survived.filter(Boolean).length;
      console.log(`wlc: ${lost}/${N} connections lost when a director left the route (mh: none)`);
      expect(lost).toBeGreaterThan(0);
    } finally {
      c?.child.kill();
      await lab.destroy();
    }
  });

  it('an IPv6 VIP through the same lab: a director lost, every connection goes on', async () => {
    const lab = await createEcmpLab({ directors: 3, family: 'inet6', realServers: [{ weight: 1 }, { weight: 1 }], schedulerFlags: ['mh-port'], port: 22136 });
    let c: ReturnType<typeof clients> | undefined;
    try {
      expect((await listRoutes({ netns: lab.router.netns, family: 'inet6' })).find((r) => r.destination === lab.vip)?.nextHops).toHaveLength(3);
      c = clients(lab, 60);
      await settle(c.report, 60);
      const survived = await loseDirector(lab, c.report, 0);
      expect(`${survived.filter(Boolean).length}/60`).toBe('60/60');
    } finally {
      c?.child.kill();
      await lab.destroy();
    }
  });
});
