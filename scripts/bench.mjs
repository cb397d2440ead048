#!/usr/bin/env node
// npm run bench: ipvs-ts against ipvsadm in the same kernel boot. Prints, never asserts.
// First it runs scripts/bench-host.mjs (npm run bench:host): the JavaScript
// side on the host against the netlink test peer (--no-host leaves it out).
//
//   node scripts/bench.mjs [--sizes 1000,10000] [--dests 10] [--no-single] [--no-host]
//
// On a host without IPVS it re-runs itself inside User-Mode Linux (scripts/uml.mjs).
// Every measured run gets a fresh network namespace: IPVS keeps deleted destinations
// in a per-namespace trash that each add scans for about two minutes, so reusing a
// namespace after a flush would measure the trash, not the tool.
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { hostIpvs, runInUml } from './uml.mjs';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' },
    dests: { type: 'string', default: '10' },
    'no-single': { type: 'boolean', default: false },
    'no-host': { type: 'boolean', default: false },
  },
});

// First the JavaScript side on the host, against the netlink test peer
// (scripts/bench-host.mjs): the figures the guest distorts.
if (process.env.IPVS_UML !== '1' && !args['no-host']) {
  console.log('── on the host, against the netlink test peer (npm run bench:host) ──');
  const built = spawnSync(process.execPath, [fileURLToPath(new URL('./build-peer.mjs', import.meta.url))], { stdio: 'inherit' });
  const host = built.status === 0 && spawnSync(process.execPath, [fileURLToPath(new URL('./bench-host.mjs', import.meta.url))], { stdio: 'inherit' });
  if (!host || host.status !== 0) console.log('bench: the host bench failed; going on with the kernel bench');
  console.log('\n── against the kernel ──');
}

if (process.env.IPVS_UML !== '1' && !hostIpvs().ok) {
  console.log('bench: the host kernel has no IPVS; running inside User-Mode Linux');
  process.exit(await runInUml([process.execPath, ...process.argv.slice(1), '--no-host']));
}

const { Ipvs } = await import('../dist/index.js');

// Every command goes through one helper process started now, while this
// process is small: see scripts/bench-runner.mjs for why this one never forks.
const runner = spawn(process.execPath, [fileURLToPath(new URL('./bench-runner.mjs', import.meta.url))], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const pending = new Map();
let nextId = 0;
createInterface({ input: runner.stdout }).on('line', (line) => {
  const answer = JSON.parse(line);
  pending.get(answer.id)(answer);
  pending.delete(answer.id);
});

/** Runs a command in the helper; resolves with its time in ms, rejects on failure. */
function sh(cmd, cmdArgs, input) {
  const id = nextId++;
  runner.stdin.write(`${JSON.stringify({ id, cmd, args: cmdArgs, input })}\n`);
  return new Promise((resolve, reject) => {
    pending.set(id, (a) => (a.status === 0 ? resolve(a.ms) : reject(new Error(`${cmd} ${cmdArgs.join(' ')}: ${a.stderr}`))));
  });
}

let nsCounter = 0;
/** A fresh namespace where every 10.0.0.0/8 destination is routable. */
async function freshNetns() {
  const name = `ipvsts-bench-${process.pid}-${++nsCounter}`;
  await sh('ip', ['netns', 'add', name]);
  const inNs = (...a) => sh('ip', ['-n', name, ...a]);
  await inNs('link', 'add', 'd0', 'type', 'dummy');
  await inNs('addr', 'add', '10.255.255.254/8', 'dev', 'd0');
  await inNs('link', 'set', 'd0', 'up');
  await inNs('link', 'set', 'lo', 'up');
  return name;
}
const dropNetns = (name) => sh('ip', ['netns', 'delete', name]);
/** ipvsadm inside a namespace; nsenter is the cheapest way in, so ipvsadm's own time dominates. */
const ipvsadmIn = (ns, args, input) => sh('nsenter', [`--net=/run/netns/${ns}`, 'ipvsadm', ...args], input);

/** The same table three ways: batch ops, ipvsadm -R rules. */
function table(services, destsPer) {
  const ops = [];
  const rules = [];
  for (let i = 0; i < services; i++) {
    const vip = `172.16.${i >> 8}.${i & 255}`;
    const key = { protocol: 'tcp', address: vip, port: 80 };
    ops.push({ type: 'addService', service: { ...key, scheduler: 'wlc' } });
    rules.push(`-A -t ${vip}:80 -s wlc`);
    for (let j = 0; j < destsPer; j++) {
      const rip = `10.${(i >> 8) & 255}.${i & 255}.${j + 1}`;
      ops.push({ type: 'addDestination', service: key, destination: { address: rip, port: 80, weight: j + 1, forwarding: 'route' } });
      rules.push(`-a -t ${vip}:80 -r ${rip}:80 -g -w ${j + 1}`);
    }
  }
  return { ops, rules: rules.join('\n') + '\n' };
}

/** Reads of each kind per size, taken in turns. */
const READS = 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const ms = (ns) => Number(ns) / 1e6;
const fmt = (x) => x.toFixed(1).padStart(9);
/**
 * Lets the delay monitor's timer fire once more: the task that resolved the
 * call measured is only counted by the timer tick after it.
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 5));
async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { ms: ms(process.hrtime.bigint() - t0), result };
}

async function benchSize(services, destsPer) {
  // Each side gets its input only while it needs it: 110 000 op objects
  // kept alive through the reads would be work for every collection there.
  let { ops } = table(services, destsPer);
  const opCount = ops.length;
  const rows = [];
  console.log(`\n== ${services} services x ${destsPer} destinations (${opCount} operations) ==`);

  // batch(): pipelined on one socket; the event loop is watched meanwhile.
  let ns = await freshNetns();
  let ipvs = await Ipvs.open({ netns: ns });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const batch = await timed(() => ipvs.batch(ops));
  await settle();
  delay.disable();
  const failed = batch.result.filter((r) => !r.ok).length;
  if (failed) console.log(`  ! batch: ${failed} operations failed, first: ${batch.result.find((r) => !r.ok).error.message}`);
  const stallMs = delay.max / 1e6;
  rows.push(['ipvs-ts batch()', batch.ms]);
  ops = undefined;
  batch.result = undefined;

  // snapshot() vs ipvsadm -Ln --stats, on the table batch() just built, taken
  // in turns READS times: the first call, and the median, which is what a
  // process that watches its table sees (single runs in UML vary up to 3x).
  const snaps = [];
  const listings = [];
  let snapStallMs = 0;
  for (let i = 0; i < READS; i++) {
    const readDelay = monitorEventLoopDelay({ resolution: 1 });
    readDelay.enable();
    const read = await timed(() => ipvs.snapshot());
    await settle();
    readDelay.disable();
    snapStallMs = Math.max(snapStallMs, readDelay.max / 1e6);
    if (i > 0) read.result = undefined; // only the first is kept, for its counts
    snaps.push(read);
    const listed = await ipvsadmIn(ns, ['-Ln', '--stats']);
    listings.push({ ms: listed });
  }
  const snap = { first: snaps[0].ms, ms: median(snaps.map((t) => t.ms)), result: snaps[0].result };
  const listing = { first: listings[0].ms, ms: median(listings.map((t) => t.ms)) };
  const dests = snap.result.reduce((n, s) => n + s.destinations.length, 0);
  ipvs.close();
  await dropNetns(ns);

  // ipvsadm -R of the same rules.
  ns = await freshNetns();
  const restore = { ms: await ipvsadmIn(ns, ['-R'], table(services, destsPer).rules) };
  await dropNetns(ns);
  rows.push(['ipvsadm -R', restore.ms]);

  // Awaited single calls, one request per round trip.
  let single;
  if (!args['no-single']) {
    ops = table(services, destsPer).ops;
    ns = await freshNetns();
    ipvs = await Ipvs.open({ netns: ns });
    single = await timed(async () => {
      for (const op of ops) {
        if (op.type === 'addService') await ipvs.addService(op.service);
        else await ipvs.addDestination(op.service, op.destination);
      }
    });
    ipvs.close();
    await dropNetns(ns);
    rows.push(['ipvs-ts awaited single calls', single.ms]);
  }

  console.log(`  create                         ms     vs ipvsadm -R`);
  for (const [name, t] of rows) console.log(`  ${name.padEnd(28)}${fmt(t)}   ${(restore.ms / t).toFixed(1).padStart(6)}x`);
  console.log(`  read (${snap.result.length} services, ${dests} destinations), ms: median of ${READS} (first)`);
  console.log(`  ${'ipvs-ts snapshot()'.padEnd(28)}${fmt(snap.ms)} (${snap.first.toFixed(1)})   ${(listing.ms / snap.ms).toFixed(1).padStart(6)}x faster than ipvsadm -Ln --stats (first: ${(listing.first / snap.first).toFixed(1)}x)`);
  console.log(`  ${'ipvsadm -Ln --stats'.padEnd(28)}${fmt(listing.ms)} (${listing.first.toFixed(1)})`);
  console.log(`  event loop worst stall during batch(): ${stallMs.toFixed(1)} ms; during snapshot(): ${snapStallMs.toFixed(1)} ms`);
  console.log(`  peak RSS so far: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

// Warm-up: one small batch and snapshot in a throw-away namespace, so that the
// timings below are the steady state of a long-lived process (V8's compiler
// has seen the code) rather than its first call. ipvsadm, a fresh process per
// run, gets no such help; each figure below says which it is.
async function warmUp() {
  const ns = await freshNetns();
  const ipvs = await Ipvs.open({ netns: ns });
  const { ops } = table(300, 10);
  await ipvs.batch(ops);
  await ipvs.snapshot();
  ipvs.close();
  await dropNetns(ns);
}

const probe = await Ipvs.open();
const { version } = await probe.info();
probe.close();
console.log(`ipvs-ts bench — IPVS ${version}, kernel ${os.release()}, node ${process.version}${process.env.IPVS_UML === '1' ? ' (User-Mode Linux)' : ''}`);
await warmUp();
for (const size of args.sizes.split(',').map(Number)) await benchSize(size, Number(args.dests));
runner.stdin.end();
