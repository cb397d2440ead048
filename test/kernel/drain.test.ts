// drainDestination() with real traffic: the origin setup (DR, wlc,
// 1000/500/800 on the dcap port) built by createLab, connections held open
// from the client namespace. While a real server drains, new connections go
// to the others and its established ones stay (counted active); it is
// drained when the last one closes; remove deletes it; an abort puts the
// weight back; a timeout reports the counts. ipvsadm in the director's
// namespace is the oracle for weights and presence.
import { describe, expect, it } from 'vitest';

import { createLab } from '../../lib/host/index.js';
import type { DrainProgress } from '../../lib/index.js';
import { ipvsTsInProcess } from './cli-support.js';
import { firstLine, holdConnections } from './traffic.js';
import { ok, run } from './support.js';

const PORT = 22136;

/** `ipvsadm -Ln` weights of the service's real servers, by address. */
function weights(netns: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ok(run('ip', ['netns', 'exec', netns, 'ipvsadm', '-Ln'])).split('\n')) {
    const m = /^\s+->\s+(\S+):\d+\s+\S+\s+(\d+)\s+\d+\s+\d+\s*$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

describe('draining a real server of the origin setup', () => {
  it('new connections go elsewhere, held ones stay until they close; remove, abort and timeout do what they say', async () => {
    const lab = await createLab({ forwarding: 'route', realServers: [{ weight: 1000 }, { weight: 500 }, { weight: 800 }], port: PORT });
    const holder = holdConnections(lab.client.netns, lab.vip, PORT, 9);
    try {
      const held = JSON.parse(await firstLine(holder)) as string[];
      const [rs1, rs2, rs3] = lab.realServers as [typeof lab.realServers[0], typeof lab.realServers[0], typeof lab.realServers[0]];
      const heldOnRs1 = held.filter((n) => n === rs1.name).length;
      expect(heldOnRs1).toBeGreaterThan(0);

      // Drain rs1 until no connection is active; meanwhile new requests, then the held connections close.
      const progress: DrainProgress[] = [];
      const drain = lab.ipvs.drainDestination(lab.service, { address: rs1.address }, { until: 'no-active', interval: 100, onProgress: (p) => progress.push(p) });
      while (progress.length === 0) await new Promise((r) => setTimeout(r, 20));
      expect(weights(lab.director.netns)[rs1.address]).toBe(0);
      expect(progress[0]!.activeConnections).toBe(heldOnRs1);
      const answers: string[] = [];
      for (let i = 0; i < 30; i++) answers.push(await lab.request());
      expect(answers.filter((a) => a === rs1.name)).toEqual([]); // weight 0: no new connection reaches it
      expect(progress.at(-1)!.activeConnections).toBe(heldOnRs1); // the established ones are not cut
      holder.stdin!.end();
      const result = await drain;
      expect(result).toMatchObject({ drained: true, removed: false, previousWeight: 1000, activeConnections: 0 });
      expect(result.inactiveConnections).toBeGreaterThanOrEqual(heldOnRs1); // closing, not yet expired
      expect(weights(lab.director.netns)[rs1.address]).toBe(0);

      // 'idle' does not come while closed connections linger: the timeout reports the counts.
      const timedOut = await lab.ipvs.drainDestination(lab.service, { address: rs2.address }, { interval: 100, timeout: 400, remove: true });
      expect(timedOut).toMatchObject({ drained: false, removed: false, previousWeight: 500, activeConnections: 0 });
      expect(timedOut.inactiveConnections).toBeGreaterThan(0);
      expect(weights(lab.director.netns)[rs2.address]).toBe(0);

      // An abort puts the weight back.
      const ac = new AbortController();
      const aborted = lab.ipvs.drainDestination(lab.service, { address: rs3.address, port: PORT }, { interval: 100, signal: ac.signal, onProgress: () => ac.abort(new Error('changed my mind')) });
      await expect(aborted).rejects.toThrow('changed my mind');
      expect(weights(lab.director.netns)[rs3.address]).toBe(800);

      // A real server with no connection at all: drained at once and removed.
      await lab.ipvs.addDestination(lab.service, { address: '10.77.0.99', weight: 7 });
      const removed = await lab.ipvs.drainDestination(lab.service, { address: '10.77.0.99' }, { remove: true });
      expect(removed).toMatchObject({ drained: true, removed: true, previousWeight: 7, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0 });
      expect(Object.keys(weights(lab.director.netns)).sort()).toEqual([rs1.address, rs2.address, rs3.address].sort());

      // The command line: JSON lines, exit 0 when drained; an unknown server is ENOENT, exit 1.
      const cli = await ipvsTsInProcess(['--netns', lab.director.netns, 'drain', '-t', `${lab.vip}:${PORT}`, '-r', rs3.address, '--until', 'no-active', '--interval', '0.1', '--json']);
      expect(cli.stderr).toBe('');
      expect(cli.status).toBe(0);
      const events = cli.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string });
      expect(events[0]).toMatchObject({ event: 'start', realServer: rs3.address, until: 'no-active' });
      expect(events.at(-1)).toMatchObject({ event: 'drained', drained: true, previousWeight: 800 });
      expect(weights(lab.director.netns)[rs3.address]).toBe(0);
      const unknown = await ipvsTsInProcess(['--netns', lab.director.netns, 'drain', '-t', `${lab.vip}:${PORT}`, '-r', '10.77.0.98']);
      expect(unknown).toMatchObject({ status: 1, stderr: 'ipvs-ts drain: no real server 10.77.0.98 in that service\n' });
    } finally {
      holder.kill();
      await lab.destroy();
    }
  });
});
