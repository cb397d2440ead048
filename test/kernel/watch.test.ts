// Watching the origin setup: `ipvs-ts metrics` serves what snapshot() and
// `ipvsadm -Ln --stats --exact` show at the same moment (parsed with a
// Prometheus text-format parser), concurrent scrapes are each whole, and
// `ipvs-ts top` in a real pseudo-terminal (tmux) shows the lab's service and
// its numbers moving with traffic, quitting on q.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

import { createLab, type Lab } from '../../lib/host/index.js';
import { formatMetrics } from '../../lib/metrics.js';
import { buildCli, ipvsTsInProcess } from './cli-support.js';
import { ok, run } from './support.js';

type Sample = { labels?: Record<string, string>; value: string };
type MetricFamily = { name: string; type: string; metrics: Sample[] };
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => MetricFamily[];

const PORT = 22136;
const weights = [1000, 500, 800];

/** `ipvsadm -Ln --stats --exact`: "ADDR:PORT" → [conns, inPkts, outPkts, inBytes, outBytes]. */
function ipvsadmStats(lab: Lab): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of ok(run('ip', ['netns', 'exec', lab.director.netns, 'ipvsadm', '-Ln', '--stats', '--exact'])).split('\n')) {
    const m = /^(?:TCP|\s+->)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (m) out[m[1]!] = m.slice(2, 7);
  }
  return out;
}

/** The metrics as "name address:port" → value (real servers by their own address). */
function byTarget(families: MetricFamily[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of families) {
    for (const m of f.metrics) {
      const l = m.labels ?? {};
      const where = l.real_server ? `${l.real_server}:${l.real_server_port}` : l.address ? `${l.address}:${l.port}` : '';
      out[`${f.name} ${where}`] = m.value;
    }
  }
  return out;
}

async function settle(lab: Lab, requests: number): Promise<void> {
  // The kernel's counters reach the table with its 2 s estimator tick.
  for (let i = 0; i < 60; i++) {
    const s = (await lab.ipvs.getService(lab.service))!;
    if (s.stats.conns >= BigInt(requests)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('counters did not settle');
}

describe('ipvs-ts metrics', () => {
  it('serves exactly what snapshot() and ipvsadm --stats --exact show; concurrent scrapes are each whole', async () => {
    const lab = await createLab({ forwarding: 'route', realServers: weights.map((weight) => ({ weight })), port: PORT });
    const child = spawn(process.execPath, [buildCli(), '--netns', lab.director.netns, 'metrics', '--listen', '127.0.0.1:9901'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
      expect(first).toBe('serving http://127.0.0.1:9901/metrics');
      for (let i = 0; i < 46; i++) await lab.request();
      await settle(lab, 46);

      const before = await lab.ipvs.snapshot();
      const text = await (await fetch('http://127.0.0.1:9901/metrics')).text();
      const after = await lab.ipvs.snapshot();
      const adm = ipvsadmStats(lab);
      const m = byTarget(parsePrometheus(text));
      const svc = after[0]!;
      const vip = `${lab.vip}:${PORT}`;
      // Counters: the scrape, snapshot() and ipvsadm agree exactly.
      expect(before[0]!.stats).toEqual(svc.stats);
      expect([m[`ipvs_service_connections_total ${vip}`], m[`ipvs_service_packets_in_total ${vip}`], m[`ipvs_service_packets_out_total ${vip}`], m[`ipvs_service_bytes_in_total ${vip}`], m[`ipvs_service_bytes_out_total ${vip}`]]).toEqual([
        ...[svc.stats.conns, svc.stats.inPkts, svc.stats.outPkts, svc.stats.inBytes, svc.stats.outBytes].map(String),
      ]);
      expect(adm[vip]).toEqual([svc.stats.conns, svc.stats.inPkts, svc.stats.outPkts, svc.stats.inBytes, svc.stats.outBytes].map(String));
      for (const d of svc.destinations) {
        const rs = `${d.address}:${d.port}`;
        expect([m[`ipvs_real_server_connections_total ${rs}`], m[`ipvs_real_server_bytes_in_total ${rs}`]]).toEqual([String(d.stats.conns), String(d.stats.inBytes)]);
        expect(adm[rs]![0]).toBe(String(d.stats.conns));
        expect(m[`ipvs_real_server_weight ${rs}`]).toBe(String(d.weight));
        expect(m[`ipvs_real_server_inactive_connections ${rs}`]).toBe(String(d.inactiveConnections));
        // Rates move with the estimator: the scrape's are those of one of the reads around it.
        const rate = Number(m[`ipvs_real_server_connections_per_second ${rs}`]);
        const around = [before, after].map((t) => t[0]!.destinations.find((x) => x.address === d.address)!.rates.cps);
        expect(around).toContain(rate);
      }
      // The lab's weights are what the endpoint says.
      const byAddress = [...svc.destinations].sort((x, y) => x.address.localeCompare(y.address, 'en', { numeric: true }));
      expect(byAddress.map((d) => m[`ipvs_real_server_weight ${d.address}:${d.port}`])).toEqual(weights.map(String));
      // The same text as formatMetrics() of the same table, self-metrics aside.
      const own = byTarget(parsePrometheus(await formatMetrics(after)));
      for (const [k, v] of Object.entries(own)) if (!k.includes('_per_second')) expect(m[k], k).toBe(v);

      // Five scrapes at once: each whole. (That overlapping scrapes share one
      // read depends on their timing here; test/unit/metrics-serve.test.ts
      // holds the read to show it.)
      const texts = await Promise.all(Array.from({ length: 5 }, async () => (await fetch('http://127.0.0.1:9901/metrics')).text()));
      for (const t of texts) expect(byTarget(parsePrometheus(t))[`ipvs_real_server_weight ${byAddress[0]!.address}:${byAddress[0]!.port}`]).toBe(String(weights[0]));
      expect((await fetch('http://127.0.0.1:9901/other')).status).toBe(404);
    } finally {
      child.kill('SIGTERM');
      await lab.destroy();
    }
  });

  it('listens only where told: no --listen is a usage error', async () => {
    expect(await ipvsTsInProcess(['metrics'])).toMatchObject({ status: 2, stderr: expect.stringContaining('metrics needs --listen ADDRESS:PORT') });
  });
});

describe('ipvs-ts top', () => {
  it('in a terminal: the lab service and its real servers, numbers that move with traffic, q quits', async () => {
    const lab = await createLab({ forwarding: 'route', realServers: weights.map((weight) => ({ weight })), port: PORT });
    const session = `ipvs-top-${process.pid}`;
    // The tmux server's socket on a local file system (in User-Mode Linux /tmp
    // is the host's, through hostfs; /run is the guest's own tmpfs).
    const env = { ...process.env, TMUX_TMPDIR: mkdtempSync('/run/ipvs-ts-tmux-') };
    const tmux = (...args: string[]) => ok(run('tmux', args, { env }));
    const topCommand = `${process.execPath} ${buildCli()} --netns ${lab.director.netns} top --interval 0.3`;
    try {
      tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '30', topCommand);
      const screen = async (test: (s: string) => boolean): Promise<string> => {
        for (let i = 0; i < 100; i++) {
          const s = tmux('capture-pane', '-p', '-t', session);
          if (test(s)) return s;
          await new Promise((r) => setTimeout(r, 100));
        }
        return tmux('capture-pane', '-p', '-t', session);
      };
      const idle = await screen((s) => s.includes(`tcp ${lab.vip}:${PORT}`));
      expect(idle).toContain('ipvs-ts top — 1 service, 3 real servers');
      expect(idle).toMatch(/Service \/ real server +Weight +Active +InAct +Conn\/s/);
      for (const rs of lab.realServers) expect(idle).toMatch(new RegExp(`-> ${rs.address.replaceAll('.', '\\.')}:${PORT} route +${rs.weight} +0 +0 `));
      for (let i = 0; i < 23; i++) await lab.request();
      const busy = await screen((s) => /-> 10\.77\.0\.11:22136 route +1000 +\d+ +[1-9]/.test(s));
      expect(busy).toMatch(/-> 10\.77\.0\.11:22136 route +1000 +\d+ +[1-9]\d* /);
      tmux('send-keys', '-t', session, 'q');
      let alive = true;
      for (let i = 0; i < 50 && alive; i++) {
        alive = run('tmux', ['has-session', '-t', session], { env }).status === 0;
        if (alive) await new Promise((r) => setTimeout(r, 100));
      }
      expect(alive).toBe(false);
    } finally {
      run('tmux', ['kill-session', '-t', session], { env });
      rmSync(env.TMUX_TMPDIR, { recursive: true, force: true });
      await lab.destroy();
    }
  });

  it('not on a terminal: a plain listing per refresh (--count)', async () => {
    const lab = await createLab({ forwarding: 'route', realServers: [{ weight: 7 }], port: PORT });
    try {
      const r = await ipvsTsInProcess(['--netns', lab.director.netns, 'top', '--count', '2', '--interval', '0.1', '--sort', 'conns']);
      expect(r.status).toBe(0);
      expect(r.stdout.match(/^ipvs-ts top — 1 service, 1 real server; IPVS \d+\.\d+\.\d+; sort: conns/gm)).toHaveLength(2);
      expect(r.stdout).toMatch(/-> 10\.77\.0\.11:22136 route +7 /);
      expect(r.stdout).not.toContain('\x1b[');
    } finally {
      await lab.destroy();
    }
  });
});
