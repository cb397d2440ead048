// `ipvs-ts run FILE` as a process of its own on the origin setup (DR, wlc,
// 1000/500/800 on the dcap port): it applies FILE, logs one JSON line per
// change, takes a stopped real server to weight 0 and brings it back,
// reloads on SIGHUP (a changed weight applied, a down server kept down, a
// bad FILE logged and the running one kept), stops on SIGTERM leaving the
// table, and on SIGINT with --restore-on-exit puts the configured weights
// back. A bad FILE at start: every problem, exit 2. ipvsadm is the oracle.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';

import { createLab, type Lab } from '../../lib/host/index.js';
import { buildCli, ipvsTsHere } from './cli-support.js';
import { ok, run } from './support.js';

const PORT = 22136;
const dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function weights(lab: Lab): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ok(run('ip', ['netns', 'exec', lab.director.netns, 'ipvsadm', '-Ln'])).split('\n')) {
    const m = /^\s+->\s+(\S+):\d+\s+\S+\s+(\d+)\s+\d+\s+\d+\s*$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The JSON lines of a running `ipvs-ts run`, awaited one event at a time. */
class RunLog {
  readonly lines: { event: string; [k: string]: unknown }[] = [];
  #waiters: (() => void)[] = [];

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(JSON.parse(line) as { event: string });
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** The next line (from `from` on) matching, within 20 s. */
  async next(match: (l: { event: string; [k: string]: unknown }) => boolean, from = 0): Promise<{ event: string; [k: string]: unknown }> {
    const end = Date.now() + 20_000;
    for (;;) {
      const found = this.lines.slice(from).find(match);
      if (found) return found;
      if (Date.now() > end) throw new Error(`no such line; got ${JSON.stringify(this.lines)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }
}

const fileFor = (lab: Lab, weightsBy: number[]) => ({
  owner: 'doors',
  services: [
    {
      ...lab.service,
      scheduler: 'wlc',
      check: { probe: { type: 'tcp' }, interval: 300, timeout: 250, fall: 2, rise: 2 },
      destinations: lab.realServers.map((rs, i) => ({ address: rs.address, weight: weightsBy[i] })),
    },
  ],
});

describe('ipvs-ts run', () => {
  it('applies, checks, reloads on SIGHUP keeping check state, stops on SIGTERM leaving the table; --restore-on-exit undoes the checks', async () => {
    const lab = await createLab({ forwarding: 'route', realServers: [{ weight: 1 }, { weight: 1 }, { weight: 1 }], port: PORT });
    const [rs1, rs2, rs3] = lab.realServers as [Lab['realServers'][0], Lab['realServers'][0], Lab['realServers'][0]];
    const bin = buildCli();
    const file = join(dir, 'doors.json');
    const env = { ...process.env, IPVS_TS_STATE_DIR: join(dir, 'state') };
    let child: ChildProcess | undefined;
    try {
      writeFileSync(file, JSON.stringify(fileFor(lab, [1000, 500, 800])));
      child = spawn(process.execPath, [bin, '--netns', lab.director.netns, 'run', file, '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      const log = new RunLog(child);
      expect(await log.next((l) => l.event === 'applied')).toMatchObject({ updated: 3, ok: true });
      await log.next((l) => l.event === 'checking');
      expect(weights(lab)).toEqual({ [rs1.address]: 1000, [rs2.address]: 500, [rs3.address]: 800 });

      await lab.stopServer(rs2.name);
      expect(await log.next((l) => l.event === 'down')).toMatchObject({ realServer: `${rs2.address}:${PORT}`, reason: 'refused', action: 'weight 0' });
      expect(weights(lab)[rs2.address]).toBe(0);

      // SIGHUP with rs1's weight changed: applied, and rs2 stays down at weight 0.
      writeFileSync(file, JSON.stringify(fileFor(lab, [700, 500, 800])));
      const mark = log.lines.length;
      child.kill('SIGHUP');
      expect(await log.next((l) => l.event === 'applied', mark)).toMatchObject({ updated: 1, ok: true });
      await log.next((l) => l.event === 'checking', mark);
      expect(weights(lab)).toEqual({ [rs1.address]: 700, [rs2.address]: 0, [rs3.address]: 800 });

      await lab.startServer(rs2.name);
      expect(await log.next((l) => l.event === 'up', mark)).toMatchObject({ realServer: `${rs2.address}:${PORT}`, action: 'weight 500' });
      expect(weights(lab)[rs2.address]).toBe(500);

      // A bad FILE on SIGHUP: logged, the running configuration kept.
      writeFileSync(file, '{"services": [{"protocol": "tcp"');
      const mark2 = log.lines.length;
      child.kill('SIGHUP');
      await log.next((l) => l.event === 'reload-failed', mark2);
      expect(child.exitCode).toBeNull();

      // SIGTERM: exit 0, the table as it is (rs3 down meanwhile stays at 0).
      await lab.stopServer(rs3.name);
      await log.next((l) => l.event === 'down' && l.realServer === `${rs3.address}:${PORT}`);
      const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await log.next((l) => l.event === 'stopped')).toMatchObject({ signal: 'SIGTERM', restored: false });
      expect(weights(lab)).toEqual({ [rs1.address]: 700, [rs2.address]: 500, [rs3.address]: 0 });

      // Again with --restore-on-exit: rs3 is still stopped, so it goes down; SIGINT puts 800 back.
      writeFileSync(file, JSON.stringify(fileFor(lab, [700, 500, 800])));
      child = spawn(process.execPath, [bin, '--netns', lab.director.netns, 'run', file, '--json', '--restore-on-exit'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      const log2 = new RunLog(child);
      await log2.next((l) => l.event === 'down' && l.realServer === `${rs3.address}:${PORT}`);
      const exited2 = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
      child.kill('SIGINT');
      expect(await exited2).toBe(0);
      expect(weights(lab)).toEqual({ [rs1.address]: 700, [rs2.address]: 500, [rs3.address]: 800 });
    } finally {
      child?.kill('SIGKILL');
      await lab.destroy();
    }
  });

  it('refuses a bad FILE with every problem and its field path, exit 2, before touching the table', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        services: [
          { protocol: 'tcp', address: '192.0.2.1', port: 80, check: { probe: { type: 'tcp' }, rise: 0 }, destinations: [{ address: '10.0.0.1', weight: -1 }] },
          { protocol: 'tcp', address: '300.1.1.1', port: 80 },
        ],
      }),
    );
    const r = ipvsTsHere(buildCli(), ['run', file]);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `ipvs-ts run: ${file}: services[0].check.rise must be an integer 1–1000, got 0`,
      `ipvs-ts run: ${file}: services[0].destinations[0].weight must be an integer 0–2147483647, got -1`,
      `ipvs-ts run: ${file}: services[1].address is not an IPv4 or IPv6 address: '300.1.1.1'`,
    ]);
  });
});
