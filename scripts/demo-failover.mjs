// npm run demo -- failover: two directors, live connections, the active one
// dies, the VIP moves, the connections go on — on a real kernel.
//
// The origin setup (wlc, 1000/500/800, direct routing) with a standby
// director and an echo service beside the dcap port. One desired state is
// applied to both directors; the kernel's sync daemons (master on A, backup
// on B) copy A's connections to B. The client holds 60 connections that
// exchange a line every 100 ms. A's link goes down, the VIP moves to B with
// a gratuitous ARP, and the demo counts the connections that keep
// exchanging data. Run by scripts/demo.mjs (which boots User-Mode Linux
// when the host kernel has no IPVS).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const { Ipvs, createLab, formatListing, moveAddress, setLinkDown } = await import('../dist/index.js');

const started = performance.now();
const N = 60;
const ECHO = 7000;
const weights = [1000, 500, 800];
const stamp = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s`;

console.log(`building the lab: client, directors A and B, real servers at ${weights.join('/')} (direct routing), dcap port 22136 and an echo port ${ECHO}…`);
const lab = await createLab({ forwarding: 'route', port: 22136, standby: true, echoPort: ECHO, realServers: weights.map((weight) => ({ weight })) });
const a = lab.ipvs;
let b;
let client;
let status = 0;

async function tables(title) {
  console.log(`\n── ${title}`);
  for (const [name, ipvs, netns] of [['A', a, lab.director.netns], ['B', b, lab.standby.netns]]) {
    const echo = (await ipvs.connections({ service: lab.echoService })).filter((c) => c.state === 'ESTABLISHED').length;
    console.log(`   director ${name} (${netns}): ${echo} established echo connections in its table`);
    console.log(formatListing(await ipvs.info(), await ipvs.snapshot(), { numeric: true }).trimEnd().replace(/^/gm, '     '));
  }
}

try {
  b = await Ipvs.open({ netns: lab.standby.netns });
  const desired = [lab.service, lab.echoService].map((service) => ({
    ...service,
    scheduler: 'wlc',
    destinations: lab.realServers.map((rs) => ({ address: rs.address, forwarding: 'route', weight: rs.weight })),
  }));
  for (const ipvs of [a, b]) {
    const plan = await ipvs.apply(desired, { owner: 'pair', prune: 'none' });
    if (!plan.ok) throw new Error('apply failed');
  }
  await b.startDaemon({ state: 'backup', interface: lab.standby.dev, syncId: 7 });
  await a.startDaemon({ state: 'master', interface: lab.director.dev, syncId: 7 });
  console.log(`${stamp()}  one desired state applied to A and B; sync daemons: master on A, backup on B (sync id 7)`);

  const script = `
const net = require('net');
const counts = new Array(${N}).fill(0);
for (let i = 0; i < ${N}; i++) {
  const s = net.connect(${ECHO}, ${JSON.stringify(lab.vip)});
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { buf += d; const lines = buf.split('\\n'); buf = lines.pop(); counts[i] += lines.length; });
  s.on('error', () => {});
  setInterval(() => s.write('ping\\n'), 100);
}
require('readline').createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify(counts)));
`;
  client = spawn('ip', ['netns', 'exec', lab.client.netns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: client.stdout });
  const counts = () =>
    new Promise((resolve) => {
      lines.once('line', (l) => resolve(JSON.parse(l)));
      client.stdin.write('count\n');
    });
  console.log(`${stamp()}  the client opens ${N} connections to ${lab.vip}:${ECHO}, each sending a line every 100 ms`);
  const synced = async () => (await b.connections({ service: lab.echoService })).filter((c) => c.state === 'ESTABLISHED').length;
  for (let i = 0; i < 100 && (await synced()) < N; i++) await new Promise((r) => setTimeout(r, 200));
  await tables('before: A carries the traffic, B holds copies of its connections');

  console.log(`\n${stamp()}  director A loses its link to the client`);
  await setLinkDown(lab.director.dev, { netns: lab.director.netns });
  const mac = await moveAddress({ address: lab.vip, to: { netns: lab.standby.netns, dev: lab.standby.dev, label: `${lab.standby.dev}:0` } });
  console.log(`${stamp()}  the VIP ${lab.vip} moved to B (${lab.standby.dev}:0), announced by gratuitous ARP from ${mac}`);
  const before = await counts();
  await new Promise((r) => setTimeout(r, 3000));
  const after = await counts();
  const survived = after.filter((c, i) => c > before[i] + 5).length;
  const answers = new Map();
  for (let i = 0; i < 23; i++) {
    const name = await lab.request();
    answers.set(name, (answers.get(name) ?? 0) + 1);
  }
  await tables('after: B carries the traffic');
  console.log(`\nnew connections through B: ${[...answers].map(([n, k]) => `${n} ${k}`).join(', ')}`);
  console.log(`${survived}/${N} connections survived the failover`);
  if (survived !== N) status = 1;
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? e.stack : e}`);
  status = 1;
} finally {
  client?.kill();
  await b?.close();
  await lab.destroy();
  console.log(`\ncleaned up: every namespace, link and address of the lab is gone (${((performance.now() - started) / 1000).toFixed(1)} s in all).`);
}
process.exit(status);
