#!/usr/bin/env node
// npm run bench:host: the JavaScript side of ipvs-ts on the host, against the
// netlink test peer (test/peer) standing in for the kernel — the figures
// User-Mode Linux distorts (fresh pages, garbage collection, event-loop
// stalls). Prints, never asserts. Every figure is a ratio or a bound within
// one run; each scenario runs in a fresh node process, so its peak RSS is its own.
//
//   node scripts/bench-host.mjs [--services 10000] [--dests 10] [--runs 5]
//   node scripts/bench-host.mjs --scenario prune    one scenario: its JSON line
//
// Scenarios:
//   snapshot     snapshot() of SERVICES x DESTS served by the peer's model, against
//                JSON.parse of the same table as JSON text (the anchor); the native
//                share measured with the raw binding on the same peer
//   batch        batch() of SERVICES x (1 + DESTS) adds, against a C loop that sends
//                the same messages to its own peer (test/peer/addon.cc, cBatch)
//   concurrency  10 000 calls in flight on one handle, and 1 000 on each of 8
//   connections  100 000 entries of /proc/net/ip_vs_conn text into objects
//   health       10 000 real servers under check for 5 s
//   metrics      a Prometheus scrape of the whole table, from another process
//   prune        apply --prune owned of the whole table
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '10000' },
    dests: { type: 'string', default: '10' },
    runs: { type: 'string', default: '5' },
    scenario: { type: 'string' },
    file: { type: 'string' },
    spread: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SERVICES = Number(args.services);
const DESTS = Number(args.dests);
const RUNS = Number(args.runs);
const PORT_ID = 4242;

const require = createRequire(import.meta.url);
const peerAddon = () => require(fileURLToPath(new URL('../test/peer/build/Release/ipvs_test_peer.node', import.meta.url)));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(1)} ms`;

/**
 * The event loop's worst stall while `fn` runs, and through the turn after it
 * settles: a 1 ms timer's lateness.
 */
async function worstStall(fn) {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    last = now;
  }, 1);
  try {
    const value = await fn();
    await new Promise((r) => setTimeout(r, 2)); // the tick after the call resolves counts
    const now = performance.now();
    worst = Math.max(worst, now - last - 1);
    return { value, worst };
  } finally {
    clearInterval(timer);
  }
}

const rssMB = () => process.resourceUsage().maxRSS / 1024;

async function openPeerHandle(Ipvs, peer, options = {}) {
  const { socketFd, eventFd } = peer.fds();
  return Ipvs.openPeer({ socketFd, eventFd, portId: PORT_ID, firstSeq: 1 }, options);
}

// --- scenarios (each in its own process) ------------------------------------

async function snapshotScenario() {
  const { Ipvs } = await import('../dist/index.js');
  const { Peer } = peerAddon();
  const before = rssMB();
  const peer = new Peer({ mode: 'model' });
  peer.populate(SERVICES, DESTS);
  const modelMB = process.memoryUsage().rss / 1048576 - before;
  const ipvs = await openPeerHandle(Ipvs, peer);

  let t = performance.now();
  let table = await ipvs.snapshot();
  const firstMs = performance.now() - t;
  const destinations = table.reduce((n, s) => n + s.destinations.length, 0);
  table = undefined;

  const total = [];
  const stalls = [];
  for (let i = 0; i < RUNS; i++) {
    t = performance.now();
    const { value, worst } = await worstStall(() => ipvs.snapshot());
    total.push(performance.now() - t);
    stalls.push(worst);
    if (value.length !== SERVICES) throw new Error(`snapshot gave ${value.length} services`);
  }
  const peakRssMB = rssMB();

  // The same reads through the raw binding (records, no objects), in a
  // process of its own; and the anchor, JSON.parse of the same table as
  // JSON text, in another (neither counts in this one's memory).
  const nativeMs = JSON.parse(runScenario('snapshot-native')).nativeMs;
  const text = JSON.stringify(await ipvs.snapshot(), (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
  ipvs.close();
  peer.stop();
  const file = path.join(os.tmpdir(), `ipvs-bench-${process.pid}.json`);
  fs.writeFileSync(file, text);
  let parse;
  try {
    parse = JSON.parse(runScenario('json-parse', ['--file', file])).parseMs;
  } finally {
    fs.rmSync(file, { force: true });
  }
  const totalMedian = median(total);
  return {
    scenario: 'snapshot',
    services: SERVICES,
    destinations,
    jsonBytes: text.length,
    firstMs,
    totalMs: totalMedian,
    nativeMs,
    jsMs: totalMedian - nativeMs,
    jsonParseMs: parse,
    ratio: totalMedian / parse,
    jsRatio: (totalMedian - nativeMs) / parse,
    worstStallMs: Math.max(...stalls),
    peakRssMB,
    modelMB,
  };
}

/** The native share of snapshot(): the raw binding's read of the same table, median of RUNS. */
async function snapshotNativeScenario() {
  const native = (await import('../dist/native.js')).native();
  const { Peer } = peerAddon();
  const peer = new Peer({ mode: 'model' });
  peer.populate(SERVICES, DESTS);
  const { socketFd, eventFd } = peer.fds();
  const raw = await native.openPeer(socketFd, eventFd, { portId: PORT_ID, firstSeq: 1 });
  let reuse = (await native.snapshot(raw)).records;
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    reuse = (await native.snapshot(raw, reuse)).records;
    times.push(performance.now() - t);
  }
  native.close(raw);
  peer.stop();
  return { scenario: 'snapshot-native', nativeMs: median(times) };
}

/** The anchor: JSON.parse of a file's text, median of RUNS. */
async function jsonParseScenario() {
  const text = fs.readFileSync(args.file, 'utf8');
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    JSON.parse(text);
    times.push(performance.now() - t);
  }
  return { scenario: 'json-parse', parseMs: median(times), peakRssMB: rssMB() };
}

async function batchScenario() {
  const { Ipvs } = await import('../dist/index.js');
  const { Peer, cBatch } = peerAddon();
  const ops = [];
  for (let s = 0; s < SERVICES; s++) {
    const service = { protocol: 'tcp', address: `10.${Math.floor(s / 60000)}.0.1`, port: 1 + (s % 60000) };
    ops.push({ type: 'addService', service: { ...service, scheduler: 'wlc' } });
    for (let d = 1; d <= DESTS; d++) {
      ops.push({ type: 'addDestination', service, destination: { address: `11.0.0.${d}`, weight: 100 * d } });
    }
  }
  const peer = new Peer({ mode: 'model' });
  const ipvs = await openPeerHandle(Ipvs, peer);
  let t = performance.now();
  const { value: results, worst } = await worstStall(() => ipvs.batch(ops));
  const batchMs = performance.now() - t;
  const refused = results.filter((r) => !r.ok).length;
  const table = peer.table();
  ipvs.close();
  peer.stop();

  // The C loop: the same messages to a peer of its own (same family id as the model's default).
  const cPeer = new Peer({ mode: 'model' });
  const { socketFd, eventFd } = cPeer.fds();
  const cMs = cBatch(socketFd, eventFd, SERVICES, DESTS, 0x20) / 1e6;
  const cTable = cPeer.table();
  cPeer.stop();
  return {
    scenario: 'batch',
    ops: ops.length,
    refused,
    table,
    cTable,
    batchMs,
    cLoopMs: cMs,
    ratio: batchMs / cMs,
    opsPerSecond: ops.length / (batchMs / 1000),
    worstStallMs: worst,
    peakRssMB: rssMB(),
  };
}

async function concurrencyScenario() {
  const { Ipvs } = await import('../dist/index.js');
  const { Peer } = peerAddon();
  const run = async (handles, perHandle) => {
    const peers = [];
    const ipvss = [];
    for (let h = 0; h < handles; h++) {
      const peer = new Peer({ mode: 'model' });
      peer.populate(10, 2);
      peers.push(peer);
      ipvss.push(await openPeerHandle(Ipvs, peer));
    }
    // Completion order per handle and per kind of call: the handle runs calls
    // in the order made and their replies settle in that order; a read that
    // decodes its records in slices (listServices) resolves a turn later than
    // a call made after it that resolves at once, so kinds are kept apart.
    const orders = ipvss.map(() => [[], [], []]);
    const t = performance.now();
    // Issued 500 at a time, a turn of the event loop apart: all in flight
    // together, without this loop itself holding the event loop.
    const { worst } = await worstStall(async () => {
      const calls = [];
      for (let i = 0; i < perHandle; i++) {
        ipvss.forEach((ipvs, h) => {
          const kind = i % 3;
          const call = kind === 0 ? ipvs.info() : kind === 1 ? ipvs.getTimeouts() : ipvs.listServices();
          calls.push(call.then(() => orders[h][kind].push(i)));
        });
        if ((i + 1) % Math.ceil(500 / handles) === 0) await turn();
      }
      return Promise.all(calls);
    });
    const elapsed = performance.now() - t;
    const settled = orders.reduce((n, o) => n + o[0].length + o[1].length + o[2].length, 0);
    const inOrder = orders.every((o) => o.every((list) => list.every((v, i) => i === 0 || v > list[i - 1])));
    ipvss.forEach((i) => i.close());
    peers.forEach((p) => p.stop());
    return { handles, perHandle, settled, inOrder, elapsedMs: elapsed, worstStallMs: worst };
  };
  const one = await run(1, 10000);
  await turn();
  const eight = await run(8, 1000);
  return { scenario: 'concurrency', one, eight, peakRssMB: rssMB() };
}

/**
 * The connection table's JavaScript side: 100 000 entries of
 * /proc/net/ip_vs_conn text (the kernel's format) turned into objects a
 * slice at a time. The read itself is a pool thread's (one read of a file
 * in the namespace); what matters here is the JS thread.
 */
async function connectionsScenario() {
  const { parseConnectionTable } = await import('../dist/connections.js');
  const { Pacer } = await import('../dist/pace.js');
  const hex = (n, w) => n.toString(16).toUpperCase().padStart(w, '0');
  let text = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n';
  const ENTRIES = 100_000;
  for (let i = 0; i < ENTRIES; i++) {
    text += `TCP ${hex(0x0a000000 + i, 8)} ${hex(1024 + (i % 60000), 4)} C000020A 5678 ${hex(0x0a00010b + (i % 3), 8)} 5678 ${(i % 2 ? 'ESTABLISHED' : 'TIME_WAIT').padEnd(11)} ${String(100 + (i % 800)).padStart(7)}\n`;
  }
  const times = [];
  const stalls = [];
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    const { value, worst } = await worstStall(() => parseConnectionTable(text, {}, new Pacer()));
    times.push(performance.now() - t);
    stalls.push(worst);
    if (value.length !== ENTRIES) throw new Error(`parsed ${value.length} entries`);
  }
  return { scenario: 'connections', entries: ENTRIES, textMB: text.length / 1e6, parseMs: median(times), worstStallMs: Math.max(...stalls), peakRssMB: rssMB() };
}

/**
 * 10 000 real servers under check (custom probes that answer after 1 ms, a
 * 1 s interval, every tenth failing so that servers go down and come back
 * against a table that only counts calls): the event loop over 5 s.
 */
async function healthScenario() {
  const { HealthChecker } = await import('../dist/health.js');
  const SERVERS = 10_000;
  let changes = 0;
  const table = {
    netnsPath: undefined,
    updateDestination: async () => void changes++,
    addDestination: async () => void changes++,
    deleteDestination: async () => void changes++,
  };
  let probes = 0;
  const check = async (target) => {
    probes++;
    await new Promise((r) => setTimeout(r, 1));
    const n = Number(target.address.split('.')[3]);
    return !(n % 10 === 0 && Math.floor(probes / SERVERS) % 2 === 0);
  };
  const services = Array.from({ length: SERVERS / 10 }, (_, i) => ({
    service: { protocol: 'tcp', address: `192.0.${i >> 8}.${i & 255}`, port: 80 },
    check: { probe: { type: 'custom', check }, interval: 1000, timeout: 500, fall: 1, rise: 1 },
    destinations: Array.from({ length: 10 }, (_, j) => ({ address: `10.${i >> 8}.${i & 255}.${j * 10 + (j === 0 ? 10 : 1)}`, weight: 100 })),
  }));
  const checker = new HealthChecker(table, services, { concurrency: 256 });
  const { worst } = await worstStall(async () => {
    checker.start();
    await new Promise((r) => setTimeout(r, 5000));
    await checker.stop();
  });
  return { scenario: 'health', servers: SERVERS, probes, changes, worstStallMs: worst, peakRssMB: rssMB() };
}

/**
 * A Prometheus scrape of the whole table: serveMetrics() over a handle on
 * the peer, scraped by another process (node's fetch), so the server's event
 * loop is measured alone. Median scrape time of RUNS, worst stall, bytes.
 */
async function metricsScenario() {
  const { Ipvs, serveMetrics } = await import('../dist/index.js');
  const { Peer } = peerAddon();
  const peer = new Peer({ mode: 'model' });
  peer.populate(SERVICES, DESTS);
  const ipvs = await openPeerHandle(Ipvs, peer);
  const server = await serveMetrics(ipvs, { host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${server.address.port}/metrics`;
  const scrape = () =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => console.log(t.length))`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`scrape exited ${code}`))));
    });
  const times = [];
  const stalls = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const { value, worst } = await worstStall(scrape);
    times.push(performance.now() - t);
    stalls.push(worst);
    bytes = value;
  }
  await server.close();
  ipvs.close();
  return { scenario: 'metrics', services: SERVICES, dests: DESTS, scrapeMs: median(times), worstStallMs: Math.max(...stalls), textMB: bytes / 1e6, peakRssMB: rssMB() };
}

/**
 * Pruning an owned table: apply() creates SERVICES x DESTS on the peer, then
 * prunes every service it owns (desired state empty). Median prune time of
 * RUNS, worst stall during the prunes (the table is created afresh each run).
 */
async function pruneScenario() {
  const { Ipvs, applyDesired } = await import('../dist/index.js');
  const { Peer } = peerAddon();
  const peer = new Peer({ mode: 'model' });
  const ipvs = await openPeerHandle(Ipvs, peer);
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-bench-prune-'));
  const services = Array.from({ length: SERVICES }, (_, i) => ({
    protocol: 'tcp',
    address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
    port: 80,
    destinations: Array.from({ length: DESTS }, (_, j) => ({ address: `192.168.${j}.${(i % 250) + 1}` })),
  }));
  const times = [];
  const stalls = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const created = await applyDesired(ipvs, { owner: 'bench', services }, { stateDir });
      if (!created.ok) throw new Error('apply did not create the table');
      const t = performance.now();
      const { value, worst } = await worstStall(() => applyDesired(ipvs, { owner: 'bench', services: [] }, { stateDir, prune: 'owned' }));
      times.push(performance.now() - t);
      stalls.push(worst);
      if (!value.ok || value.steps.length !== SERVICES) throw new Error(`prune did ${value.steps.length} steps`);
    }
  } finally {
    ipvs.close();
    peer.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
  return { scenario: 'prune', services: SERVICES, dests: DESTS, pruneMs: median(times), worstStallMs: Math.max(...stalls), stallsMs: stalls, peakRssMB: rssMB() };
}

// --- driver --------------------------------------------------------------------

const SCENARIOS = { snapshot: snapshotScenario, batch: batchScenario, concurrency: concurrencyScenario, connections: connectionsScenario, health: healthScenario, metrics: metricsScenario, prune: pruneScenario };
const HELPERS = { 'json-parse': jsonParseScenario, 'snapshot-native': snapshotNativeScenario };
// Where the peer's hand-offs dominate (one per destination dump): one CPU.
const PINNED = new Set(['snapshot', 'snapshot-native']);

// The peer answers from a thread of its own: every request is a hand-off
// between threads, which the kernel, answering inside the send, never pays.
// On two CPUs of a virtual machine a hand-off that wakes the other CPU costs
// ~40 us (10 000 destination dumps, one request each: ~0.8 s); on one CPU it
// costs a few. So the snapshot scenarios run on one CPU (taskset) unless
// --spread. Batches (a request per 256 operations) and the concurrency runs
// hand off rarely and keep every CPU: there the pool thread and the JS
// thread work side by side, as they would against a kernel.
const taskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
const pin = (name, argv) => (taskset && !args.spread && PINNED.has(name) ? ['taskset', '-c', '0', ...argv] : argv);

/** Runs one scenario in a fresh node process; returns its JSON line. */
function runScenario(name, extra = []) {
  const [cmd, ...rest] = pin(name, [
    process.execPath,
    fileURLToPath(import.meta.url),
    '--scenario', name, '--services', String(SERVICES), '--dests', String(DESTS), '--runs', String(RUNS), ...extra,
  ]);
  const r = spawnSync(cmd, rest, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    console.error(`bench:host: scenario ${name} failed (exit ${r.status})`);
    process.exit(1);
  }
  return r.stdout.trim().split('\n').pop();
}

if (args.scenario) {
  const result = await (SCENARIOS[args.scenario] ?? HELPERS[args.scenario])();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

const results = {};
for (const name of Object.keys(SCENARIOS)) results[name] = JSON.parse(runScenario(name));
if (args.json) {
  console.log(JSON.stringify(results, null, 2));
  process.exit(0);
}

const s = results.snapshot;
const b = results.batch;
const c = results.concurrency;
console.log(`bench:host — node ${process.version}, ${process.arch}, against the netlink test peer (model of Linux 6.1 IPVS), host figures`);
console.log(taskset && !args.spread ? 'snapshot on one CPU (taskset -c 0), the rest on every CPU: see the comment in scripts/bench-host.mjs' : 'every scenario on every CPU (--spread)');
console.log('');
console.log(`snapshot() of ${s.services} services x ${DESTS} destinations (${s.destinations} in all), median of ${RUNS}:`);
console.log(`  total ${ms(s.totalMs)} (first call ${ms(s.firstMs)}); native read ${ms(s.nativeMs)}, JavaScript ${ms(s.jsMs)}`);
console.log(`  JSON.parse of the same table (${(s.jsonBytes / 1e6).toFixed(1)} MB of JSON): ${ms(s.jsonParseMs)}`);
console.log(`  => ${s.ratio.toFixed(2)}x JSON.parse in all, ${s.jsRatio.toFixed(2)}x for the JavaScript share`);
console.log(`  worst event-loop stall ${ms(s.worstStallMs)}; peak RSS ${s.peakRssMB.toFixed(0)} MB (the peer's own table ${s.modelMB.toFixed(0)} MB of it)`);
console.log('');
console.log(`batch() of ${b.ops} adds (${b.refused} refused; the peer then held ${b.table.services} services, ${b.table.destinations} destinations):`);
console.log(`  ${ms(b.batchMs)} (${Math.round(b.opsPerSecond)} ops/s); the C loop, same messages: ${ms(b.cLoopMs)}`);
console.log(`  => ${b.ratio.toFixed(2)}x the C loop; worst event-loop stall ${ms(b.worstStallMs)}; peak RSS ${b.peakRssMB.toFixed(0)} MB`);
console.log('');
for (const k of ['one', 'eight']) {
  const x = c[k];
  console.log(
    `${x.handles} handle${x.handles > 1 ? 's' : ''} x ${x.perHandle} calls in flight: ${x.settled} settled${x.inOrder ? ', in order per handle' : ', OUT OF ORDER'} in ${ms(x.elapsedMs)}; worst stall ${ms(x.worstStallMs)}`,
  );
}
const k = results.connections;
const h = results.health;
console.log('');
console.log(`connections(): ${k.entries} entries (${k.textMB.toFixed(1)} MB of /proc text) into objects in ${ms(k.parseMs)} (median of ${RUNS}); worst event-loop stall ${ms(k.worstStallMs)}; peak RSS ${k.peakRssMB.toFixed(0)} MB`);
console.log(`HealthChecker: ${h.servers} real servers under check for 5 s: ${h.probes} probes, ${h.changes} table changes; worst event-loop stall ${ms(h.worstStallMs)}; peak RSS ${h.peakRssMB.toFixed(0)} MB`);
const p = results.metrics;
console.log(`metrics: a scrape of ${p.services} x ${p.dests} (${p.textMB.toFixed(1)} MB of text) in ${ms(p.scrapeMs)} (median of ${RUNS}, scraped by another process); worst event-loop stall ${ms(p.worstStallMs)}; peak RSS ${p.peakRssMB.toFixed(0)} MB`);
const q = results.prune;
console.log(`apply --prune owned of ${q.services} x ${q.dests} owned: ${ms(q.pruneMs)} (median of ${RUNS}); worst event-loop stall ${ms(q.worstStallMs)}; peak RSS ${q.peakRssMB.toFixed(0)} MB`);
