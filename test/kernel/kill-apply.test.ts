// `ipvs-ts apply` of 10 000 services killed with SIGKILL from outside at
// random moments. The kills form one chain: each next apply starts from what
// the killed one left and is itself killed further on (three times while it
// creates services, twice while it adds their destinations); after every kill
// another tool's services are untouched and the ownership record parses and
// claims no more than the owner may have sent; the apply after the last kill
// converges to the desired table with a record that claims exactly it. (One
// chain costs about two whole applies in the guest; a fresh start per kill
// cost eleven.)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { Ipvs } from '../../lib/ipvs.js';
import { buildCli, labLinks } from './cli-support.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns('ipvsts-kill9');
let dir = '';

const SERVICES = 10_000;
const desired = {
  owner: 'fleet',
  services: Array.from({ length: SERVICES }, (_, i) => ({
    protocol: 'tcp',
    address: `10.8.${i >> 8}.${i & 255}`,
    port: 443,
    scheduler: 'wlc',
    destinations: [{ address: `192.168.1.${(i % 250) + 1}`, weight: 1 + (i % 100) }],
  })),
};
const FOREIGN = ['192.0.2.1:80', '192.0.2.2:80', '10.8.0.0:80'];

beforeAll(() => {
  labLinks(ns);
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-kill9-'));
  writeFileSync(join(dir, 'desired.json'), JSON.stringify(desired));
  for (const vip of FOREIGN) ok(ns.ipvsadm('-A', '-t', vip, '-s', 'rr'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Run = { code: number | null; signal: NodeJS.Signals | null; stderr: string };

/**
 * Runs `ipvs-ts --netns NS apply FILE`; with `killWhen`, sends it SIGKILL as
 * soon as that returns true (polled while it runs).
 */
async function apply(bin: string, file = 'desired.json', killWhen?: () => Promise<boolean>): Promise<Run & { killed: boolean }> {
  const child = spawn(process.execPath, [bin, '--netns', ns.name, 'apply', join(dir, file)], {
    env: { ...process.env, IPVS_TS_STATE_DIR: join(dir, 'state') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Run>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  let killed = false;
  if (killWhen) {
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      if (await killWhen()) {
        killed = child.kill('SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  return { ...(await exited), killed };
}

interface OwnershipRecord {
  owner: string;
  services: string[];
  destinations: string[];
}

/** The owner's record: one file, whole (it parses), for this owner. */
function readRecord(): OwnershipRecord {
  const folders = readdirSync(join(dir, 'state', 'apply'));
  expect(folders).toHaveLength(1);
  const record = JSON.parse(readFileSync(join(dir, 'state', 'apply', folders[0]!, 'fleet.json'), 'utf8')) as OwnershipRecord;
  expect(record.owner).toBe('fleet');
  for (const vip of FOREIGN) expect(record.services).not.toContain(`tcp ${vip}`);
  return record;
}

/** After a kill: the foreign services are there, every service of ours in the kernel is claimed (claims are written ahead of sends). */
async function checkAfterKill(ipvs: Ipvs): Promise<void> {
  const table = await ipvs.listServices();
  const ids = new Set(table.map((s) => ('address' in s ? `${s.address}:${s.port}` : '')));
  for (const vip of FOREIGN) expect(ids.has(vip), `foreign service ${vip}`).toBe(true);
  const claimed = new Set(readRecord().services);
  const ours = table.filter((s) => 'address' in s && s.port === 443);
  for (const s of ours) if ('address' in s) expect(claimed.has(`tcp ${s.address}:443`), `tcp ${s.address}:443 is claimed`).toBe(true);
}

/** After an apply that ran to its end: the table is the desired one plus the foreign services, the record claims exactly ours. */
async function checkConverged(ipvs: Ipvs): Promise<void> {
  const table = await ipvs.snapshot();
  const ids = new Set(table.map((s) => ('address' in s ? `${s.address}:${s.port}` : '')));
  for (const vip of FOREIGN) expect(ids.has(vip), `foreign service ${vip}`).toBe(true);
  const ours = table.filter((s) => 'address' in s && s.port === 443);
  expect(ours).toHaveLength(SERVICES);
  expect(ours.every((s) => s.destinations.length === 1 && s.scheduler === 'wlc')).toBe(true);
  expect(table).toHaveLength(SERVICES + FOREIGN.length);
  const record = readRecord();
  expect(record.services).toHaveLength(SERVICES);
  expect(record.destinations).toHaveLength(SERVICES);
}

it('killed with SIGKILL at five moments in a row, the next apply each time goes on from there and the last converges; foreign entries untouched, the record whole', async () => {
  const bin = buildCli();
  await using watcher = await Ipvs.open({ netns: ns.name });
  const key = (i: number) => ({ protocol: 'tcp' as const, address: desired.services[i]!.address, port: 443 });
  const rounds: string[] = [];
  // Services are created first, then their destinations: kill in both phases,
  // each point further on than the last.
  for (const [phase, at] of [
    ['service', 0.1 + Math.random() * 0.2],
    ['service', 0.4 + Math.random() * 0.2],
    ['service', 0.7 + Math.random() * 0.2],
    ['destination', 0.1 + Math.random() * 0.3],
    ['destination', 0.5 + Math.random() * 0.4],
  ] as const) {
    const target = Math.floor(at * SERVICES);
    const killed = await apply(bin, 'desired.json', async () =>
      phase === 'service'
        ? (await watcher.getService(key(target))) !== undefined
        : (await watcher.listDestinations(key(target)).catch(() => [])).length > 0,
    );
    expect(killed.killed, `the apply ended before its ${phase} #${target} appeared`).toBe(true);
    expect(killed.signal).toBe('SIGKILL');
    await checkAfterKill(watcher);
    rounds.push(`${phase} #${target}`);
  }
  const again = await apply(bin);
  expect(again.code, again.stderr).toBe(0);
  await checkConverged(watcher);
  // And a second apply of the same state has nothing left to do.
  const still = await apply(bin);
  expect(still.code, still.stderr).toBe(0);
  await checkConverged(watcher);
  console.log(`killed at: ${rounds.join(', ')}`);
}, 600_000);
