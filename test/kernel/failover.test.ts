// Two directors in direct routing: the kernel's sync daemons (master on A,
// backup on B, started through ipvs-ts, the backup first) copy A's
// connections to B while 60 long-lived connections exchange data through A
// (the client sends, the real server echoes). A's link to the client goes
// down, the VIP moves to B (moveAddress: rtnetlink and a gratuitous ARP from
// a packet socket), and every one of those connections keeps exchanging data
// through B — counted, N of N — while new connections go through B by
// weight. Then A comes back as the backup and B's connections appear on A.
// An IPv6 VIP moves the same way (unsolicited neighbour advertisement).
// ipvs-ts's own connections() and `ip neigh` in the client are the oracles.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/index.js';
import { createLab, moveAddress, setLinkDown, setLinkUp, type Lab } from '../../lib/host/index.js';
import { ok, run } from './support.js';

const PORT = 22136;
const ECHO = 7000;
const N = 60;

/** N connections to the echo service, each sending a line every 100 ms; answers "count" with how many echoes each has had. */
function echoClients(lab: Lab, n: number): { child: ChildProcess; counts: () => Promise<number[]> } {
  const script = `
const net = require('net');
const counts = new Array(${n}).fill(0);
for (let i = 0; i < ${n}; i++) {
  const s = net.connect(${ECHO}, ${JSON.stringify(lab.vip)});
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { buf += d; const lines = buf.split('\\n'); buf = lines.pop(); counts[i] += lines.length; });
  s.on('error', () => {});
  setInterval(() => s.write('ping ' + i + '\\n'), 100);
}
require('readline').createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify(counts)));
`;
  const child = spawn('ip', ['netns', 'exec', lab.client.netns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const counts = (): Promise<number[]> =>
    new Promise((resolve) => {
      lines.once('line', (l) => resolve(JSON.parse(l) as number[]));
      child.stdin!.write('count\n');
    });
  return { child, counts };
}

async function until(what: string, test: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const desiredOf = (lab: Lab) =>
  [lab.service, lab.echoService!].map((service) => ({
    ...service,
    scheduler: 'wlc',
    destinations: lab.realServers.map((rs) => ({ address: rs.address, forwarding: 'route' as const, weight: rs.weight })),
  }));

describe('two directors', () => {
  it(`${N} live connections survive the VIP moving from A to B; A comes back as the backup`, async () => {
    const lab = await createLab({ forwarding: 'route', realServers: [{ weight: 1000 }, { weight: 500 }, { weight: 800 }], port: PORT, standby: true, echoPort: ECHO });
    const standby = lab.standby!;
    const a = lab.ipvs;
    const b = await Ipvs.open({ netns: standby.netns });
    let clients: ReturnType<typeof echoClients> | undefined;
    try {
      // One desired state on both directors.
      expect((await a.apply(desiredOf(lab), { owner: 'pair', prune: 'none' })).steps).toEqual([]);
      expect((await b.apply(desiredOf(lab), { owner: 'pair', prune: 'none' })).ok).toBe(true);
      // The backup first, then its master; multicast on the lab's link.
      await b.startDaemon({ state: 'backup', interface: standby.dev, syncId: 7 });
      await a.startDaemon({ state: 'master', interface: lab.director.dev, syncId: 7, maxLength: 1472, group: '224.0.0.81', port: 8848, ttl: 1 });
      expect((await b.listDaemons()).map((d) => d.state)).toEqual(['backup']);

      clients = echoClients(lab, N);
      const echoKey = { service: lab.echoService! };
      await until(`${N} echo connections on A`, async () => (await a.connections(echoKey)).filter((c) => c.state === 'ESTABLISHED').length === N);
      // Stopping and starting the master while traffic flows: sync resumes.
      await a.stopDaemon('master');
      await a.startDaemon({ state: 'master', interface: lab.director.dev, syncId: 7 });
      await until(`A's ${N} connections copied to B`, async () => (await b.connections(echoKey)).filter((c) => c.state === 'ESTABLISHED').length === N);

      // Failover: A loses its link to the client, the VIP moves to B.
      await setLinkDown(lab.director.dev, { netns: lab.director.netns });
      const mac = await moveAddress({ address: lab.vip, to: { netns: standby.netns, dev: standby.dev, label: `${standby.dev}:0` } });
      const neigh = ok(run('ip', ['-n', lab.client.netns, 'neigh', 'show', lab.vip]));
      expect(neigh).toContain(`lladdr ${mac}`);
      const before = await clients.counts();
      await new Promise((r) => setTimeout(r, 3000));
      const after = await clients.counts();
      const survived = after.filter((c, i) => c > before[i]! + 5).length;
      expect(`${survived}/${N} connections survived the failover`).toBe(`${N}/${N} connections survived the failover`);

      // New connections go through B, by weight.
      const answers: string[] = [];
      for (let i = 0; i < 23; i++) answers.push(await lab.request());
      expect(new Set(answers)).toEqual(new Set(lab.realServers.map((rs) => rs.name)));
      // (B's counters reach its service every 2 s, with the estimator; its connection table at once.)
      expect((await b.connections({ service: lab.service })).length).toBeGreaterThanOrEqual(23);

      // A comes back as the backup of B.
      await a.stopDaemon('master');
      await b.stopDaemon('backup');
      await setLinkUp(lab.director.dev, { netns: lab.director.netns });
      await a.startDaemon({ state: 'backup', interface: lab.director.dev, syncId: 7 });
      await b.startDaemon({ state: 'master', interface: standby.dev, syncId: 7 });
      await until(`B's connections copied to A`, async () => (await a.connections(echoKey)).filter((c) => c.state === 'ESTABLISHED').length >= N);
    } finally {
      clients?.child.kill();
      await b.close();
      await lab.destroy();
    }
  });

  it('an IPv6 VIP moves the same way: the client learns the new MAC from an unsolicited advertisement', async () => {
    const lab = await createLab({ forwarding: 'route', family: 'inet6', realServers: [{ weight: 1 }, { weight: 1 }], port: PORT, standby: true });
    const standby = lab.standby!;
    const b = await Ipvs.open({ netns: standby.netns });
    try {
      await b.apply([{ ...lab.service, scheduler: 'wlc', destinations: lab.realServers.map((rs) => ({ address: rs.address, weight: 1 })) }], { owner: 'pair', prune: 'none' });
      expect(await lab.request()).toMatch(/^rs[12]$/); // through A: the client now has A's MAC for the VIP
      await setLinkDown(lab.director.dev, { netns: lab.director.netns });
      const mac = await moveAddress({ address: lab.vip, to: { netns: standby.netns, dev: standby.dev } });
      expect(ok(run('ip', ['-n', lab.client.netns, '-6', 'neigh', 'show', lab.vip]))).toContain(`lladdr ${mac}`);
      expect(await lab.request()).toMatch(/^rs[12]$/);
      expect((await b.connections({ service: lab.service })).length).toBeGreaterThanOrEqual(1);
    } finally {
      await b.close();
      await lab.destroy();
    }
  });
});
