// npm run demo -- health: a real server of the origin setup fails and comes
// back while traffic keeps flowing, on a real kernel.
//
// The lab of the main demo (client, director with wlc, real servers at
// 1000/500/800 in direct routing) plus a fourth real server kept out of the
// service as the sorry server. A HealthChecker probes the doors over TCP
// from the director's namespace; the client sends connections all along.
// rs2 stops listening, goes to weight 0 and gets nothing new; it listens
// again and gets its share back; then every door stops and the sorry server
// answers, until rs1 is back. Each phase prints what the client saw and the
// table as ipvs-ts reads it. Run by scripts/demo.mjs (which boots User-Mode
// Linux when the host kernel has no IPVS).
import { performance } from 'node:perf_hooks';

const { HealthChecker, createLab, formatListing } = await import('../dist/index.js');

const started = performance.now();
const INTERVAL = 500;
const weights = [1000, 500, 800];
console.log(`building the lab: client, director (wlc), doors rs1–rs3 (weights ${weights.join('/')}) and rs4 as the sorry server…`);
const lab = await createLab({ forwarding: 'route', scheduler: 'wlc', port: 22136, realServers: [...weights, 1].map((weight) => ({ weight })) });
const [rs1, rs2, rs3, sorry] = lab.realServers;
const doors = [rs1, rs2, rs3];
const stamp = () => `${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s`;
let status = 0;
let checker;

// The client: connections one after the other, all along; answers counted per phase.
let phase = new Map();
let failed = 0;
let sending = true;
let traffic = Promise.resolve();
const sendAll = async () => {
  while (sending) {
    try {
      const name = await lab.request();
      phase.set(name, (phase.get(name) ?? 0) + 1);
    } catch {
      failed++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Waits for the checker to report `event` for `address` (a sorry event when address is 'sorry'). */
const when = (event, test) =>
  new Promise((resolve) => {
    const listener = (e) => {
      if (!test(e)) return;
      checker.off(event, listener);
      resolve(e);
    };
    checker.on(event, listener);
  });

/** Lets traffic flow for `ms`, then prints what the client saw and the table. */
async function show(title, ms) {
  phase = new Map();
  await new Promise((r) => setTimeout(r, ms));
  const seen = [...lab.realServers].map((rs) => `${rs.name} ${phase.get(rs.name) ?? 0}`).join(', ');
  console.log(`\n── ${title}\n   the client's last ${(ms / 1000).toFixed(0)} s: ${seen}; failed connections so far: ${failed}`);
  const table = await lab.ipvs.snapshot();
  console.log(formatListing(await lab.ipvs.info(), table, { numeric: true }).trimEnd().replace(/^/gm, '   '));
}

try {
  await lab.ipvs.deleteDestination(lab.service, { address: sorry.address });
  checker = new HealthChecker(lab.ipvs, [
    {
      service: lab.service,
      check: { probe: { type: 'tcp' }, interval: INTERVAL, timeout: 400, fall: 2, rise: 2 },
      destinations: doors.map((rs) => ({ address: rs.address, weight: rs.weight })),
      sorryServer: { address: sorry.address, weight: 1 },
    },
  ]);
  for (const e of ['down', 'up']) {
    checker.on(e, (ev) => console.log(`${stamp()}  ${e.padEnd(4)} ${ev.destination.address}: ${ev.reason} → ${ev.action}`));
  }
  checker.on('sorry', (ev) => console.log(`${stamp()}  sorry server ${ev.destination.address} ${ev.active ? 'added: every door is down' : 'removed: a door is back'}`));
  checker.on('failed', (f) => {
    console.error(`demo: ${f.what}: ${f.error.message}`);
    status = 1;
  });
  checker.start();
  traffic = sendAll();
  console.log(`checking ${doors.length} doors over TCP from ${lab.director.netns} every ${INTERVAL} ms (down after 2 failures, back after 2 successes)`);
  await show('all doors up', 3000);

  console.log(`\n${stamp()}  rs2 (${rs2.address}) stops listening`);
  const down = when('down', (e) => e.destination.address === rs2.address);
  const failedBefore = failed;
  await lab.stopServer(rs2.name);
  await down;
  const failedRs2 = failed - failedBefore;
  await show('rs2 down: weight 0, its share goes to rs1 and rs3', 3000);
  const rs2While = phase.get(rs2.name) ?? 0;

  console.log(`\n${stamp()}  rs2 listens again`);
  const up = when('up', (e) => e.destination.address === rs2.address);
  await lab.startServer(rs2.name);
  await up;
  await show('rs2 back at weight 500', 3000);
  const rs2After = phase.get(rs2.name) ?? 0;
  const stuck = (await lab.ipvs.listDestinations(lab.service)).find((d) => d.address === rs2.address)?.activeConnections ?? 0;
  const synRecv = (await lab.ipvs.connections({ destination: { address: rs2.address } })).filter((c) => c.state === 'SYN_RECV');

  console.log(`\n${stamp()}  every door stops listening`);
  const sorryIn = when('sorry', (e) => e.active);
  const failedBeforeAll = failed;
  for (const rs of doors) await lab.stopServer(rs.name);
  await sorryIn;
  const failedAll = failed - failedBeforeAll;
  await show('all doors down: the sorry server answers', 2000);
  const sorryAnswers = phase.get(sorry.name) ?? 0;

  console.log(`\n${stamp()}  rs1 listens again`);
  const sorryOut = when('sorry', (e) => !e.active);
  await lab.startServer(rs1.name);
  await sorryOut;
  await show('rs1 back, the sorry server out', 2000);

  const rs2Back =
    rs2After > 0
      ? `back at weight 500, it got ${rs2After} of the next connections`
      : `back at weight 500, it got none of the next connections yet: wlc weighs each active connection 256 times an ` +
        `inactive one, and the director still counts ${stuck} connection${stuck === 1 ? '' : 's'} to rs2 as active ` +
        `(${synRecv.length} in SYN_RECV, expiring in ${Math.max(0, ...synRecv.map((c) => c.expiresMs / 1000))} s: the ` +
        `client's attempts that rs2 refused while dying; in direct routing the director never sees the refusal), so ` +
        `rs2 waits until the others' closed connections outweigh them`;
  console.log(
    `\nWhat happened: the checker probed each door over TCP from the director's namespace every ${INTERVAL} ms. ` +
      `When rs2 stopped listening, two refused probes took it to weight 0; the client's ${failedRs2} connection` +
      `${failedRs2 === 1 ? '' : 's'} sent to rs2 before that failed, and then it got ${rs2While} new connections while ` +
      `down, rs1 and rs3 taking its share. ${rs2Back[0]?.toUpperCase()}${rs2Back.slice(1)}. With every door down the ` +
      `sorry server rs4 answered ${sorryAnswers} connections (${failedAll} failed in the second before the checks ` +
      `caught up) and left when rs1 came back. Connections in all that failed: ${failed}.`,
  );
  if (rs2While !== 0 || sorryAnswers === 0) status = 1;
} catch (e) {
  console.error(`demo failed: ${e instanceof Error ? e.stack : e}`);
  status = 1;
} finally {
  sending = false;
  await traffic;
  await checker?.stop();
  await lab.destroy();
  console.log(`\ncleaned up: every namespace, link and address of the lab is gone (${((performance.now() - started) / 1000).toFixed(1)} s in all).`);
}
process.exit(status);
