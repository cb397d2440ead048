// The FILE of `ipvs-ts run`: a desired state whose services and real servers
// carry health-check settings. Every problem of the table and of the checks
// comes with its field path (ipvs-ts check reads run files too), and what a
// (re)load applies keeps what the checks did: a real server that is down
// stays at weight 0 (or out), the sorry server of an all-down service stays
// in. The command itself, with signals and real traffic, is in
// test/kernel/run.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { main } from '../../lib/cli/main.js';
import { desiredWithStates, planRun } from '../../lib/cli/run.js';
import type { HealthState } from '../../lib/health.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-run-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SERVICE = { protocol: 'tcp', address: '192.0.2.10', port: 22136 } as const;
const FILE = {
  owner: 'dcache',
  services: [
    {
      ...SERVICE,
      scheduler: 'wlc',
      check: { probe: { type: 'tcp' }, interval: 2000, timeout: 1000, fall: 3, rise: 2 },
      sorryServer: { address: '10.0.0.99', weight: 1 },
      destinations: [
        { address: '10.0.0.11', weight: 1000 },
        { address: '10.0.0.12', weight: 500, check: { onDown: 'remove' } },
        { address: '10.0.0.13', weight: 800, check: { probe: { type: 'http', path: '/health', status: 200 } } },
      ],
    },
    { protocol: 'udp', address: '192.0.2.10', port: 53, destinations: [{ address: '10.0.0.11' }] },
  ],
};

const state = (address: string, s: 'up' | 'down'): HealthState => ({
  service: SERVICE,
  destination: { address, port: 22136 },
  state: s,
  reason: s === 'down' ? 'refused' : 'healthy',
  since: new Date(),
  probes: 3,
});

describe('a run FILE', () => {
  it('splits into the table (checks stripped) and the checks of the services that have them', async () => {
    const { plan, problems } = await planRun(FILE, undefined);
    expect(problems).toEqual([]);
    expect(plan!.desired.owner).toBe('dcache');
    expect(plan!.desired.services[0]).not.toHaveProperty('check');
    expect(plan!.desired.services[0]!.destinations![1]).toEqual({ address: '10.0.0.12', weight: 500 });
    expect(plan!.checks.map((c) => c?.destinations.length)).toEqual([3, undefined]);
  });

  it('every problem of the table and of the checks, with its field path, in file order', async () => {
    const bad = structuredClone(FILE) as unknown as { services: Record<string, unknown>[] };
    bad.services[0]!.check = { probe: { type: 'tcp' }, fall: 0 };
    (bad.services[0]!.destinations as Record<string, unknown>[])[0]!.weight = -1;
    (bad.services[0]!.destinations as Record<string, unknown>[])[2]!.check = { probe: { type: 'http', path: 'health' } };
    bad.services[1]!.address = '300.1.1.1';
    const { plan, problems } = await planRun(bad, undefined);
    expect(plan).toBeUndefined();
    expect(problems.map((p) => p.field)).toEqual(['services[0].check.fall', 'services[0].destinations[0].weight', 'services[1].address']);
    // Within a service the checker reports its first problem: fixed, the next shows.
    bad.services[0]!.check = { probe: { type: 'tcp' } };
    (bad.services[0]!.destinations as Record<string, unknown>[])[0]!.weight = 1;
    expect((await planRun(bad, undefined)).problems.map((p) => p.message)).toEqual([
      "services[0].destinations[2].check.probe.path must start with '/', got \"health\"",
      "services[1].address is not an IPv4 or IPv6 address: '300.1.1.1'",
    ]);
  });

  it('ipvs-ts check validates run files, checks included', async () => {
    const f = path.join(dir, 'run.json');
    writeFileSync(f, JSON.stringify(FILE));
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, readStdin: async () => '' };
    expect(await main(['check', f], { io })).toBe(0);
    expect(out).toBe(`${f}: valid: 2 services, 4 real servers\n`);
    const bad = structuredClone(FILE);
    (bad.services[0]!.check as Record<string, unknown>).interval = 'often';
    writeFileSync(f, JSON.stringify(bad));
    out = '';
    expect(await main(['check', f], { io })).toBe(2);
    expect(out).toBe(`${f}: services[0].check.interval must be an integer 10–86400000, got "often"\n`);
  });
});

describe('what a (re)load applies', () => {
  it('keeps a down real server at weight 0, or out when going down removes it', async () => {
    const { plan } = await planRun(FILE, undefined);
    const desired = desiredWithStates(plan!, [state('10.0.0.11', 'down'), state('10.0.0.12', 'down'), state('10.0.0.13', 'up')]);
    expect(desired.services[0]!.destinations).toEqual([{ address: '10.0.0.11', weight: 0 }, { address: '10.0.0.13', weight: 800 }]);
    expect(desired.services[1]).toEqual(plan!.desired.services[1]);
  });

  it('keeps the sorry server in while every real server is down', async () => {
    const { plan } = await planRun(FILE, undefined);
    const desired = desiredWithStates(plan!, ['10.0.0.11', '10.0.0.12', '10.0.0.13'].map((a) => state(a, 'down')));
    expect(desired.services[0]!.destinations).toEqual([{ address: '10.0.0.11', weight: 0 }, { address: '10.0.0.13', weight: 0 }, { address: '10.0.0.99', weight: 1 }]);
  });
});
