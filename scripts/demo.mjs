#!/usr/bin/env node
// npm run demo: the origin's LVS setup, end to end, on a real kernel.
//
// A client, a director and three real servers, each in its own network
// namespace, joined by a bridge (createLab from lib/host). The director puts
// the VIP on its NIC and runs one IPVS service, wlc, with the real servers at
// weights 1000/500/800 and direct routing; each real server holds the VIP on
// lo with arp_ignore/arp_announce set, and answers with its name. The client
// opens connections to the VIP; the demo prints the ipvsadm-style --stats
// table, a paragraph on what happened, and removes everything.
//
// On a host whose kernel has no IPVS it re-runs itself inside User-Mode Linux
// (scripts/uml.mjs), as the tests do. Needs the build (npm run demo builds it).
//
// Further demos are named: `npm run demo -- health` (scripts/demo-health.mjs),
// `npm run demo -- failover` (scripts/demo-failover.mjs), `npm run demo -- scale-out`
// (scripts/demo-scale-out.mjs).
import { performance } from 'node:perf_hooks';

import { hostIpvs, runInUml } from './uml.mjs';

const started = performance.now();
const REQUESTS = 690;

const DEMOS = { health: './demo-health.mjs', failover: './demo-failover.mjs', 'scale-out': './demo-scale-out.mjs' };
const name = process.argv[2];
if (name !== undefined && !(name in DEMOS)) {
  console.error(`demo: no demo named '${name}'; there are: the main one (no name), ${Object.keys(DEMOS).join(', ')}`);
  process.exit(2);
}

if (process.env.IPVS_UML !== '1') {
  const host = hostIpvs();
  if (!host.ok) {
    console.log(`demo: ${host.reason}; running inside User-Mode Linux\n`);
    process.exit(await runInUml([process.execPath, ...process.argv.slice(1)], { timeoutSec: 300 }));
  }
}

if (name !== undefined) await import(DEMOS[name]); // it exits by itself

const { createLab, describePlan } = await import('../dist/index.js');
const { main } = await import('../dist/cli/main.js');

const weights = [1000, 500, 800];
console.log(`building the lab: client, director (wlc), ${weights.length} direct-routing real servers (weights ${weights.join('/')})…`);
const lab = await createLab({ forwarding: 'route', scheduler: 'wlc', port: 22136, realServers: weights.map((weight) => ({ weight })) });
let status = 0;
try {
  const { ipvs } = lab;
  // The lab made the service; applying the same state declaratively finds nothing to change.
  const same = await ipvs.apply(
    [{ ...lab.service, scheduler: 'wlc', destinations: lab.realServers.map((rs) => ({ address: rs.address, port: lab.port, forwarding: 'route', weight: rs.weight })) }],
    { dryRun: true, prune: 'none' },
  );
  if (same.steps.length) throw new Error(`the lab's table differs from the origin setup:\n${describePlan(same)}`);

  console.log(`sending ${REQUESTS} connections from the client to ${lab.vip}:${lab.port}…\n`);
  const answered = new Map(lab.realServers.map((rs) => [rs.name, 0]));
  const t0 = performance.now();
  // A few at a time: wlc weighs the connections a server holds against its weight.
  for (let sent = 0; sent < REQUESTS; sent += 10) {
    const names = await Promise.all(Array.from({ length: Math.min(10, REQUESTS - sent) }, () => lab.request()));
    for (const n of names) answered.set(n, (answered.get(n) ?? 0) + 1);
  }
  const seconds = (performance.now() - t0) / 1000;

  // The kernel sums its per-CPU counters every two seconds (the rate estimator's
  // tick): wait for them, the service's and its real servers' (up to 20 s: a
  // busy machine delays the tick).
  const counted = (t) => [t[0]?.stats.conns ?? 0n, ...(t[0]?.destinations ?? []).map((d) => d.stats.conns)];
  const settled = (t) => {
    const [service, ...dests] = counted(t);
    return service >= BigInt(REQUESTS) && dests.reduce((a, b) => a + b, 0n) >= BigInt(REQUESTS);
  };
  let table = await ipvs.snapshot();
  for (let i = 0; i < 80 && !settled(table); i++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    table = await ipvs.snapshot();
  }
  const listing = ['--netns', lab.director.netns, 'adm', '-L', '-n', '--stats'];
  console.log(`$ ipvs-ts ${listing.join(' ')}`);
  if ((await main(listing)) !== 0) throw new Error('ipvs-ts adm -L -n --stats failed');
  console.log();

  const svc = table[0];
  const total = weights.reduce((a, b) => a + b, 0);
  const shares = lab.realServers.map((rs) => {
    const got = answered.get(rs.name) ?? 0;
    const dest = svc.destinations.find((d) => d.address === rs.address);
    return { rs, got, pct: (100 * got) / REQUESTS, want: (100 * rs.weight) / total, conns: dest?.stats.conns ?? 0n };
  });
  const fmt = (n) => n.toFixed(0);
  const parts = shares.map((s) => `${s.rs.name} (${s.rs.address}, weight ${s.rs.weight}) ${s.got} (${fmt(s.pct)}%, weight share ${fmt(s.want)}%)`);
  const agree = shares.every((s) => s.conns === BigInt(s.got));
  const maxOff = Math.max(...shares.map((s) => Math.abs(s.pct - s.want)));
  console.log(
    `What happened: the director (namespace ${lab.director.netns}) holds the VIP ${lab.vip} on ${lab.director.dev} and one ` +
      `IPVS service, TCP ${lab.vip}:${lab.port} with the weighted least-connection scheduler; its real servers hold the ` +
      `VIP on lo and neither answer nor announce ARP for it, so only the director does. The client opened ${REQUESTS} ` +
      `connections to the VIP in ${seconds.toFixed(1)} s; IPVS gave them out as ${parts.join(', ')} — within ` +
      `${fmt(maxOff)} points of the weights. The counters above ${agree ? 'agree' : 'do not agree'} with what the client ` +
      `saw, connection for connection. With direct routing the director only forwards the client's packets ` +
      `(InPkts ${svc.stats.inPkts}, InBytes ${svc.stats.inBytes}); the real servers answer the client straight from the ` +
      `VIP, which is why OutPkts and OutBytes are 0.`,
  );
  if (!agree) {
    const kernel = shares.map((s) => `${s.rs.name} ${s.conns}`).join(', ');
    const client = shares.map((s) => `${s.rs.name} ${s.got}`).join(', ');
    console.error(`demo: the kernel counted connections as ${kernel}; the client saw ${client}`);
    status = 1;
  }
  if (maxOff > 15) {
    console.error(`demo: the shares are ${fmt(maxOff)} points off the weights (more than 15)`);
    status = 1;
  }
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? e.stack : e}`);
  status = 1;
} finally {
  await lab.destroy();
  console.log(`\ncleaned up: every namespace, link and address of the lab is gone (${((performance.now() - started) / 1000).toFixed(1)} s in all).`);
}
process.exit(status);
