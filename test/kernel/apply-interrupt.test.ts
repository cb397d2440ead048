// Issue 5: "an apply killed half-way is completed by the next apply". A child
// process applies a large table and is killed (SIGKILL) between two pipelined
// chunks; the next apply, from another process, finishes the job, and the
// entries the killed apply created are its owner's (claimed before they were
// sent), so a later prune removes them and nothing else.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { applyDesired, type DesiredService } from '../../lib/apply.js';
import { Ipvs } from '../../lib/index.js';
import { buildCli, distOf, labLinks } from './cli-support.js';
import { ok, run, useFreshNetns } from './support.js';

const ns = useFreshNetns('ipvsts-kill');
const twin = useFreshNetns('ipvsts-killref');
let dir: string;

const SERVICES = 200;
const DESTS = 15;
const desired: DesiredService[] = Array.from({ length: SERVICES }, (_, i) => ({
  protocol: 'tcp',
  address: `10.9.${i >> 8}.${i & 255}`,
  port: 80,
  scheduler: i % 2 ? 'rr' : 'wlc',
  destinations: Array.from({ length: DESTS }, (_, j) => ({ address: `192.168.${j + 1}.${(i % 250) + 1}`, weight: j + 1 })),
}));
const TOTAL = SERVICES * (DESTS + 1);

beforeAll(() => {
  labLinks(ns);
  labLinks(twin);
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-kill-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const count = (sn: string, prefix: string): number => sn.split('\n').filter((l) => l.startsWith(prefix)).length;

it('a SIGKILLed apply leaves a partial table; the next apply completes it; what the killed one created is owned', async () => {
  const bin = buildCli();
  const file = join(dir, 'desired.json');
  writeFileSync(file, JSON.stringify({ owner: 'bulk', services: desired }));
  const child = join(dir, 'child.mjs');
  writeFileSync(
    child,
    `import { readFileSync } from 'node:fs';
const [dist, netns, stateDir, file, killAt] = process.argv.slice(2);
const { Ipvs } = await import(dist + '/ipvs.js');
const { applyDesired } = await import(dist + '/apply.js');
const ipvs = await Ipvs.open({ netns });
await applyDesired(ipvs, JSON.parse(readFileSync(file, 'utf8')), {
  stateDir,
  onProgress(done) { if (done >= Number(killAt)) process.kill(process.pid, 'SIGKILL'); },
});
console.log('not killed');
`,
  );
  // Someone else's service, there before and after.
  ok(ns.ipvsadm('-A', '-t', '10.0.0.77:80', '-s', 'rr'));
  ok(ns.ipvsadm('-a', '-t', '10.0.0.77:80', '-r', '192.168.0.77', '-g'));

  const killed = run(process.execPath, [child, distOf(bin), ns.name, dir, file, '1000'], { timeoutMs: 60_000 });
  expect(killed.status).toBeNull(); // killed by a signal
  expect(killed.stdout).not.toContain('not killed');
  const partial = ok(ns.ipvsadm('-Sn'));
  // Services go first, then real servers: the first chunk held every service and some real servers.
  expect(count(partial, '-A ')).toBe(SERVICES + 1);
  const firstDests = count(partial, '-a ') - 1;
  expect(firstDests).toBe(1000 - SERVICES);

  // The killed apply had claimed everything it meant to create before sending any of it.
  const inode = ok(ns.exec('stat', ['-L', '-c', '%i', '/proc/self/ns/net'])).trim();
  const record = JSON.parse(readFileSync(join(dir, 'apply', `netns-${inode}`, 'bulk.json'), 'utf8')) as { services: string[]; destinations: string[] };
  expect(record.services).toHaveLength(SERVICES);
  expect(record.destinations).toHaveLength(SERVICES * DESTS);

  // The next apply (another process, another handle) creates only what is missing.
  await using ipvs = await Ipvs.open({ netns: ns.name });
  const plan = await applyDesired(ipvs, { owner: 'bulk', services: desired }, { stateDir: dir });
  expect(plan.ok).toBe(true);
  expect(plan.steps).toHaveLength(TOTAL - 1000);
  expect(plan.steps.every((s) => s.action === 'create' && s.target === 'destination' && s.status === 'done')).toBe(true);
  // Converged: the same table as one uninterrupted apply in a twin namespace, plus the foreign service.
  await using ref = await Ipvs.open({ netns: twin.name });
  ok(twin.ipvsadm('-A', '-t', '10.0.0.77:80', '-s', 'rr'));
  ok(twin.ipvsadm('-a', '-t', '10.0.0.77:80', '-r', '192.168.0.77', '-g'));
  expect((await applyDesired(ref, { owner: 'bulk', services: desired }, { stateDir: join(dir, 'twin') })).ok).toBe(true);
  expect(ok(ns.ipvsadm('-Sn'))).toBe(ok(twin.ipvsadm('-Sn')));
  expect((await applyDesired(ipvs, { owner: 'bulk', services: desired }, { stateDir: dir })).steps).toEqual([]);

  // Pruning the owner's entries removes every one of them, those the killed apply created included; the foreign service stays.
  const prune = await applyDesired(ipvs, { owner: 'bulk', services: [] }, { stateDir: dir, prune: 'owned' });
  expect(prune.ok).toBe(true);
  expect(prune.steps).toHaveLength(SERVICES);
  expect(ok(ns.ipvsadm('-Sn'))).toBe('-A -t 10.0.0.77:80 -s rr\n-a -t 10.0.0.77:80 -r 192.168.0.77:80 -g -w 1\n');
});
