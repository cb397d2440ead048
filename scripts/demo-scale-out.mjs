// npm run demo -- scale-out: three active directors behind an ECMP router,
// one is lost, every live connection goes on — on a real kernel.
//
// createEcmpLab: a client, an upstream router with a multipath route for the
// VIP over three directors (L4 hash), each director with the same table
// (scheduler mh with mh-port, sloppy_tcp on), four real servers in direct
// routing. 200 connections exchange a line every 100 ms; director d2 leaves
// the route and loses its link; the router re-hashes its flows (and some
// others) onto d1 and d3, which pick them up mid-stream and choose the same
// real servers. Run by scripts/demo.mjs.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const { createEcmpLab, setLinkDown } = await import('../dist/index.js');

const started = performance.now();
const N = 200;
const weights = [3, 2, 2, 1];
console.log(`building the lab: a client, an ECMP router, 3 active directors (mh, mh-port, sloppy_tcp), 4 real servers at ${weights.join('/')}…`);
const lab = await createEcmpLab({ directors: 3, realServers: weights.map((weight) => ({ weight })), schedulerFlags: ['mh-port'], port: 22136 });
let client;
let status = 0;

async function counts(title) {
  console.log(`\n── ${title}`);
  const key = { service: lab.service };
  for (const d of lab.directors) {
    const conns = (await d.ipvs.connections(key)).filter((c) => c.state === 'ESTABLISHED');
    const by = new Map(lab.realServers.map((rs) => [rs.address, 0]));
    for (const c of conns) by.set(c.destination.address, (by.get(c.destination.address) ?? 0) + 1);
    console.log(`   ${d.name} (${d.address}): ${String(conns.length).padStart(3)} established  ${lab.realServers.map((rs) => `${rs.name} ${by.get(rs.address)}`).join(', ')}`);
  }
}

try {
  const script = `
const net = require('net');
const state = [];
for (let i = 0; i < ${N}; i++) {
  const c = { server: '', echoes: 0, closed: false };
  state.push(c);
  const s = net.connect(${lab.port}, ${JSON.stringify(lab.vip)});
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d) => { buf += d; const lines = buf.split('\\n'); buf = lines.pop(); for (const l of lines) { if (!c.server) c.server = l; else c.echoes++; } });
  s.on('error', () => {});
  s.on('close', () => { c.closed = true; });
  setInterval(() => { if (!c.closed) s.write('x\\n'); }, 100);
}
require('readline').createInterface({ input: process.stdin }).on('line', () => console.log(JSON.stringify(state)));
`;
  client = spawn('ip', ['netns', 'exec', lab.client.netns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: client.stdout });
  const report = () =>
    new Promise((resolve) => {
      lines.once('line', (l) => resolve(JSON.parse(l)));
      client.stdin.write('r\n');
    });
  console.log(`the client opens ${N} connections to ${lab.vip}:${lab.port}, each sending a line every 100 ms`);
  for (let i = 0; i < 100; i++) {
    if ((await report()).filter((c) => c.server && c.echoes > 2).length === N) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const servers = new Map();
  for (const c of await report()) servers.set(c.server, (servers.get(c.server) ?? 0) + 1);
  console.log(`real servers the client reached: ${lab.realServers.map((rs) => `${rs.name} (weight ${rs.weight}) ${servers.get(rs.name) ?? 0}`).join(', ')}`);
  await counts('before: every director carries a share');

  const lost = lab.directors[1];
  console.log(`\ndirector ${lost.name} leaves the router's multipath route and loses its link`);
  await lab.route(lab.directors.filter((d) => d !== lost));
  await setLinkDown('eth0', { netns: lost.netns });
  const before = await report();
  await new Promise((r) => setTimeout(r, 3000));
  const after = await report();
  const survived = after.filter((c, i) => !c.closed && c.echoes > before[i].echoes + 5).length;
  await counts(`after: ${lab.directors.filter((d) => d !== lost).map((d) => d.name).join(' and ')} hold every flow (${lost.name}'s entries stay until they expire)`);
  console.log(`\n${survived}/${N} connections survived`);
  console.log(
    'What happened: the router hashes each flow over the directors in its route. Without d2 it hashes again, and ' +
      'some flows land on a director that has never seen them; sloppy_tcp lets that director take them up mid-stream, ' +
      'and mh with mh-port, a consistent hash of the client address and port, picks the same real server any ' +
      'director would. The real server still holds the TCP state, so the connection goes on, with no state shared ' +
      'between directors.',
  );
  if (survived !== N) status = 1;
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? e.stack : e}`);
  status = 1;
} finally {
  client?.kill();
  await lab.destroy();
  console.log(`\ncleaned up: every namespace, link and address of the lab is gone (${((performance.now() - started) / 1000).toFixed(1)} s in all).`);
}
process.exit(status);
