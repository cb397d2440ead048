// Health checks in the real kernel: the origin setup (DR, wlc, 1000/500/800
// on the dcap port) from createLab, probed from the director's namespace
// (the test process's own namespace has no route to the lab: a probe made
// from there would fail). A real server whose listener stops goes to weight
// 0 within fall × interval (+ one interval), gets no new connection while
// down, keeps its established ones, and has its weight back within
// rise × interval once it listens again; with every real server down the
// sorry server takes the traffic. HTTP probes against a server in a real
// server's namespace: status and body. ipvsadm is the oracle for weights.
import http from 'node:http';
import { describe, expect, it } from 'vitest';

import { createLab, type Lab } from '../../lib/host/index.js';
import { host } from '../../lib/host/native.js';
import { HealthChecker, type HealthEvent } from '../../lib/index.js';
import { ok, run } from './support.js';
import { firstLine, holdConnections } from './traffic.js';

const PORT = 22136;
const INTERVAL = 300;
const FALL = 2;
const RISE = 2;
// The guest is one slow CPU shared with the kernel's own work: room for a late timer.
const SLACK_MS = 1500;

function weights(lab: Lab): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ok(run('ip', ['netns', 'exec', lab.director.netns, 'ipvsadm', '-Ln'])).split('\n')) {
    const m = /^\s+->\s+(\S+):\d+\s+\S+\s+(\d+)\s+\d+\s+\d+\s*$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

function next(checker: HealthChecker, event: 'down' | 'up', address?: string): Promise<HealthEvent> {
  return new Promise((resolve) => {
    const listener = (e: HealthEvent): void => {
      if (address !== undefined && e.destination.address !== address) return;
      checker.off(event, listener);
      resolve(e);
    };
    checker.on(event, listener);
  });
}

async function until(what: string, test: () => boolean, ms = 10_000, seen: () => unknown = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} ${JSON.stringify(seen())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('TCP checks of the origin setup', () => {
  it('down on a stopped listener, no new connections while down, back on restart; the sorry server when all are down', async () => {
    const lab = await createLab({ forwarding: 'route', realServers: [{ weight: 1000 }, { weight: 500 }, { weight: 800 }, { weight: 1 }], port: PORT });
    const [rs1, rs2, rs3, sorry] = lab.realServers as [Lab['realServers'][0], Lab['realServers'][0], Lab['realServers'][0], Lab['realServers'][0]];
    await lab.ipvs.deleteDestination(lab.service, { address: sorry.address });
    const checker = new HealthChecker(lab.ipvs, [
      {
        service: lab.service,
        check: { probe: { type: 'tcp' }, interval: INTERVAL, timeout: 250, fall: FALL, rise: RISE },
        destinations: [rs1, rs2, rs3].map((rs) => ({ address: rs.address, weight: rs.weight })),
        sorryServer: { address: sorry.address, weight: 1 },
      },
    ]);
    const failures: string[] = [];
    checker.on('failed', (f) => failures.push(`${f.what}: ${f.error.message}`));
    const healthy = new Set<string>();
    checker.on('probe', (p) => p.ok && healthy.add(p.destination.address));
    try {
      checker.start();
      await until('a healthy probe of every real server', () => healthy.size === 3);
      expect(checker.states().every((s) => s.state === 'up')).toBe(true);
      // Connections held open from the client: those on rs2 must outlive its fall.
      const holder = holdConnections(lab.client.netns, lab.vip, PORT, 9);
      const held = JSON.parse(await firstLine(holder)) as string[];
      const heldOnRs2 = held.filter((n) => n === rs2.name).length;
      expect(heldOnRs2).toBeGreaterThan(0);

      // rs2's listener stops: down within fall × interval (+ one interval).
      const stoppedAt = Date.now();
      const down = next(checker, 'down', rs2.address);
      await lab.stopServer(rs2.name);
      const event = await down;
      expect(Date.now() - stoppedAt).toBeLessThan((FALL + 1) * INTERVAL + SLACK_MS);
      expect(event).toMatchObject({ state: 'down', reason: 'refused', action: 'weight 0' });
      expect(weights(lab)[rs2.address]).toBe(0);
      const answers: string[] = [];
      for (let i = 0; i < 30; i++) answers.push(await lab.request());
      expect(answers.filter((a) => a === rs2.name)).toEqual([]);
      expect(answers.every((a) => a === rs1.name || a === rs3.name)).toBe(true);
      // Weight 0, not removal: the established connections to rs2 are still there.
      const onRs2 = await lab.ipvs.connections({ destination: { address: rs2.address } });
      expect(onRs2.filter((c) => c.state === 'ESTABLISHED')).toHaveLength(heldOnRs2);
      holder.kill();

      // Listening again: the configured weight is back within rise × interval (+ one).
      const startedAt = Date.now();
      const up = next(checker, 'up', rs2.address);
      await lab.startServer(rs2.name);
      expect(await up).toMatchObject({ state: 'up', action: 'weight 500' });
      expect(Date.now() - startedAt).toBeLessThan((RISE + 1) * INTERVAL + SLACK_MS);
      expect(weights(lab)[rs2.address]).toBe(500);

      // Every real server down: the sorry server is added and answers; one back, it goes.
      const sorryOn = new Promise<void>((resolve) => checker.on('sorry', (e) => e.active && resolve()));
      for (const rs of [rs1, rs2, rs3]) await lab.stopServer(rs.name);
      await sorryOn;
      expect(weights(lab)).toEqual({ [rs1.address]: 0, [rs2.address]: 0, [rs3.address]: 0, [sorry.address]: 1 });
      expect(await lab.request()).toBe(sorry.name);
      const sorryOff = new Promise<void>((resolve) => checker.on('sorry', (e) => !e.active && resolve()));
      await lab.startServer(rs1.name);
      await sorryOff;
      expect(weights(lab)[sorry.address]).toBeUndefined();
      expect(await lab.request()).toBe(rs1.name);
      expect(failures).toEqual([]);

      // stop() leaves the table as it is.
      await checker.stop();
      expect(weights(lab)).toEqual({ [rs1.address]: 1000, [rs2.address]: 0, [rs3.address]: 0 });
    } finally {
      await checker.stop();
      await lab.destroy();
    }
  });
});

describe('HTTP checks', () => {
  it('status and body decide, probed from the director namespace', async () => {
    const lab = await createLab({ forwarding: 'route', realServers: [{ weight: 10 }], port: PORT });
    const rs = lab.realServers[0]!;
    let status = 200;
    let body = 'dcap door: ready';
    const fd = await host().listenTcp(`/run/netns/${rs.netns}`, '0.0.0.0', 8080, 64);
    const server = http.createServer((req, res) => {
      res.statusCode = req.url === '/health' ? status : 404;
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen({ fd }, resolve));
    const checker = new HealthChecker(lab.ipvs, [
      {
        service: lab.service,
        check: { probe: { type: 'http', port: 8080, path: '/health', body: 'ready' }, interval: 200, timeout: 500, fall: 1, rise: 1 },
        destinations: [{ address: rs.address, weight: 10 }],
      },
    ]);
    const probes: { ok: boolean; reason: string }[] = [];
    checker.on('probe', (p) => probes.push(p));
    try {
      checker.start();
      await until('a healthy HTTP probe', () => probes.some((p) => p.ok), 10_000, () => probes.slice(0, 3));
      const down = next(checker, 'down');
      status = 503;
      expect(await down).toMatchObject({ reason: 'status 503', action: 'weight 0' });
      expect(weights(lab)[rs.address]).toBe(0);
      const up = next(checker, 'up');
      status = 200;
      await up;
      expect(weights(lab)[rs.address]).toBe(10);
      const again = next(checker, 'down');
      body = 'draining';
      expect(await again).toMatchObject({ reason: 'body did not match' });
    } finally {
      await checker.stop();
      server.close();
      await lab.destroy();
    }
  });
});
