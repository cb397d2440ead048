// Pruning a large owned table through the netlink test peer (test/peer): the
// real client and the real apply, a model of the kernel on the host. Pruning
// 10 000 owned services once took a minute and held the event loop for most
// of it (each released service scanned every claim); now it is linear, and
// every long loop of an apply (planning, claim bookkeeping, reading and
// writing the record) hands the event loop a turn every few milliseconds.
//
// No timing is asserted here (speed is the benchmarks' business): the
// event-loop stall while pruning 10 000 × 10 is `npm run bench:host -- --scenario prune`'s
// figure (docs/design.md). What this test holds is the behaviour at that size,
// and the scale itself: a quadratic release (57.8 s of blocked JavaScript at
// 10 000 services) runs past this test's 30 s limit.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { applyDesired, type DesiredService } from '../../lib/apply.js';
import type { Ipvs } from '../../lib/ipvs.js';
import { TestPeer } from '../peer/peer.js';

const SERVICES = 10_000;
const DESTS = 10;

let peer: TestPeer;
let ipvs: Ipvs;
let stateDir: string;
beforeAll(async () => {
  peer = new TestPeer();
  ipvs = await peer.open();
  stateDir = mkdtempSync(join(tmpdir(), 'ipvs-ts-scale-'));
});
afterAll(() => {
  ipvs?.close();
  peer?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const desired: DesiredService[] = Array.from({ length: SERVICES }, (_, i) => ({
  protocol: 'tcp',
  address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
  port: 80,
  destinations: Array.from({ length: DESTS }, (_, j) => ({ address: `192.168.${j}.${(i % 250) + 1}` })),
}));

it(`prunes ${SERVICES} owned services × ${DESTS} real servers, every one, and forgets them`, async () => {
  const created = await applyDesired(ipvs, { owner: 'bulk', services: desired }, { stateDir });
  expect(created.ok).toBe(true);
  expect(created.steps).toHaveLength(SERVICES * (1 + DESTS));
  expect(peer.table()).toEqual({ services: SERVICES, destinations: SERVICES * DESTS });
  const record = JSON.parse(readFileSync(created.statePath, 'utf8')) as { services: string[]; destinations: string[] };
  expect(record.services).toHaveLength(SERVICES);
  expect(record.destinations).toHaveLength(SERVICES * DESTS);

  // The event loop keeps turning while the prune runs (apply works in slices).
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const pruned = await applyDesired(ipvs, { owner: 'bulk', services: [] }, { stateDir, prune: 'owned' }).finally(() => clearInterval(ticker));
  expect(pruned.ok).toBe(true);
  expect(pruned.steps).toHaveLength(SERVICES);
  expect(pruned.steps.every((s) => s.action === 'delete' && s.target === 'service' && s.status === 'done')).toBe(true);
  expect(peer.table()).toEqual({ services: 0, destinations: 0 });
  expect(existsSync(pruned.statePath)).toBe(false); // nothing owned any more
  expect(turns).toBeGreaterThan(0);
}, 30_000);
