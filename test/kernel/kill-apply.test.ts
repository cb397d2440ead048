// `ipvs-ts apply` of 10 000 services killed with SIGKILL from outside at
// random moments: each time, the next apply converges to the desired table,
// leaves another tool's services alone, and leaves an ownership record that
// parses and claims exactly what this owner created.
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

async function check(): Promise<void> {
  await using ipvs = await Ipvs.open({ netns: ns.name });
  const table = await ipvs.snapshot();
  const ids = new Set(table.map((s) => ('address' in s ? `${s.address}:${s.port}` : '')));
  for (const vip of FOREIGN) expect(ids.has(vip), `foreign service ${vip}`).toBe(true);
  const ours = table.filter((s) => 'address' in s && s.port === 443);
  expect(ours).toHaveLength(SERVICES);
  expect(ours.every((s) => s.destinations.length === 1 && s.scheduler === 'wlc')).toBe(true);
  expect(table).toHaveLength(SERVICES + FOREIGN.length);
  // The record: one file for this owner, whole, claiming every service it made and nothing else.
  const folders = readdirSync(join(dir, 'state', 'apply'));
  expect(folders).toHaveLength(1);
  const record = JSON.parse(readFileSync(join(dir, 'state', 'apply', folders[0]!, 'fleet.json'), 'utf8')) as {
    owner: string;
    services: string[];
    destinations: string[];
  };
  expect(record.owner).toBe('fleet');
  expect(record.services).toHaveLength(SERVICES);
  expect(record.destinations).toHaveLength(SERVICES);
  for (const vip of FOREIGN) expect(record.services).not.toContain(`tcp ${vip}`);
}

it('killed with SIGKILL at random moments, every next apply converges, foreign entries untouched, the record whole', async () => {
  const bin = buildCli();
  const full = await apply(bin);
  expect(full.code, full.stderr).toBe(0);
  await check();
  await using watcher = await Ipvs.open({ netns: ns.name });
  const key = (i: number) => ({ protocol: 'tcp' as const, address: desired.services[i]!.address, port: 443 });
  const rounds: string[] = [];
  // Services are created first, then their destinations: kill in both phases.
  for (const [phase, at] of [
    ['service', 0.15 + Math.random() * 0.2],
    ['service', 0.45 + Math.random() * 0.2],
    ['service', 0.75 + Math.random() * 0.2],
    ['destination', 0.1 + Math.random() * 0.3],
    ['destination', 0.5 + Math.random() * 0.4],
  ] as const) {
    // Empty our part of the table again (an apply of nothing prunes what this owner made).
    writeFileSync(join(dir, 'empty.json'), JSON.stringify({ owner: 'fleet', services: [] }));
    const emptied = await apply(bin, 'empty.json');
    expect(emptied.code, emptied.stderr).toBe(0);
    expect((await watcher.listServices()).length).toBe(FOREIGN.length);
    const target = Math.floor(at * SERVICES);
    const killed = await apply(bin, 'desired.json', async () =>
      phase === 'service'
        ? (await watcher.getService(key(target))) !== undefined
        : (await watcher.listDestinations(key(target)).catch(() => [])).length > 0,
    );
    expect(killed.killed, `the apply ended before its ${phase} #${target} appeared`).toBe(true);
    expect(killed.signal).toBe('SIGKILL');
    const again = await apply(bin);
    expect(again.code, again.stderr).toBe(0);
    await check();
    rounds.push(`${phase} #${target}`);
  }
  console.log(`killed at: ${rounds.join(', ')}`);
}, 600_000);
