// applyDesired's plan against a fake handle: what counts as a change (and
// what does not), the order of steps, the ownership record and its
// write-ahead. The kernel tests run the same against the real table.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { applyDesired, describePlan, type ApplyTarget, type DesiredService } from '../../lib/apply.js';
import { IpvsError } from '../../lib/errors.js';
import type { BatchOp, Destination, ServiceWithDestinations } from '../../lib/types.js';

const ZERO = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

function dest(address: string, port: number, more: Partial<Destination> = {}): Destination {
  return {
    address,
    family: address.includes(':') ? 'inet6' : 'inet',
    port,
    forwarding: 'route',
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    activeConnections: 0,
    inactiveConnections: 0,
    persistentConnections: 0,
    stats: ZERO,
    rates: RATES,
    ...more,
  };
}

/** A handle whose table is `table`; batch() records what it was sent and what the record said then. */
function fakeIpvs(table: ServiceWithDestinations[], netnsPath: string, refuse: (op: BatchOp) => string | undefined = () => undefined) {
  const sent: BatchOp[][] = [];
  const recordDuringBatch: string[] = [];
  let recordPath: string | undefined;
  const ipvs: ApplyTarget = {
    netnsPath,
    netnsInode: 0,
    snapshot: async () => structuredClone(table),
    batch: async (ops: readonly BatchOp[]) => {
      sent.push([...ops]);
      if (recordPath) {
        try {
          recordDuringBatch.push(readFileSync(recordPath, 'utf8'));
        } catch {
          recordDuringBatch.push('');
        }
      }
      return ops.map((op) => {
        const code = refuse(op);
        return code ? { ok: false as const, error: new IpvsError(`refused (${code})`, { errno: 1, code, op: op.type }) } : { ok: true as const };
      });
    },
  };
  return { ipvs, sent, recordDuringBatch, watch: (p: string) => (recordPath = p) };
}

let dir: string;
let netnsFile: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-plan-'));
  netnsFile = join(dir, 'netns');
  writeFileSync(netnsFile, '');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SVC = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const kernelService = (destinations: Destination[], more: Partial<ServiceWithDestinations> = {}): ServiceWithDestinations =>
  ({ ...SVC, family: 'inet', scheduler: 'wlc', stats: ZERO, rates: RATES, destinations, ...more }) as ServiceWithDestinations;

describe('what is a change', () => {
  it('defaults and spellings equal to the kernel\'s values are no change', async () => {
    const v6 = {
      protocol: 'udp',
      address: '2001:db8::1',
      port: 53,
      family: 'inet6',
      scheduler: 'sh',
      schedulerFlags: ['sh-port', 'sh-fallback'],
      persistence: { timeout: 300, netmask: 128 },
      stats: ZERO,
      rates: RATES,
      destinations: [dest('2001:db8::10', 53), dest('10.0.0.5', 53, { forwarding: 'tunnel', tunnel: { type: 'ipip', port: 0, checksum: 'nocsum' } })],
    } as ServiceWithDestinations;
    const table = [kernelService([dest('192.168.1.10', 80), dest('192.168.1.11', 8080, { forwarding: 'masq', weight: 3 }), dest('192.168.0.1', 80, { forwarding: 'local' })], { persistence: { timeout: 60, netmask: '255.255.255.255' } }), v6];
    const desired: DesiredService[] = [
      {
        ...SVC,
        persistence: { timeout: 60 },
        destinations: [{ address: '192.168.1.10' }, { address: '192.168.1.11', port: 8080, forwarding: 'masq', weight: 3 }, { address: '192.168.0.1', forwarding: 'route' }],
      },
      {
        protocol: 'udp',
        address: '2001:DB8:0::1',
        port: 53,
        scheduler: 'sh',
        schedulerFlags: ['sh-fallback', 'sh-port'],
        persistence: { timeout: 300 },
        destinations: [{ address: '2001:db8:0:0::10' }, { address: '10.0.0.5', forwarding: 'tunnel' }],
      },
    ];
    const { ipvs, sent } = fakeIpvs(table, netnsFile);
    const plan = await applyDesired(ipvs, desired, { stateDir: dir, prune: 'all' });
    expect(plan.steps).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('what the kernel reads back is a desired state with nothing to do, local real servers included', async () => {
    const table = [kernelService([dest('192.168.0.1', 80, { forwarding: 'local', weight: 4, activeConnections: 3 }), dest('192.168.1.10', 80, { stats: { ...ZERO, conns: 5n } })])];
    const { ipvs } = fakeIpvs(table, netnsFile);
    expect((await applyDesired(ipvs, structuredClone(table), { stateDir: dir, prune: 'all' })).steps).toEqual([]);
    // 'local' means the default; the weight still counts.
    const changed = structuredClone(table);
    changed[0]!.destinations[0]!.weight = 5;
    const plan = await applyDesired(ipvs, changed, { stateDir: dir, prune: 'all' });
    expect(plan.steps.map((s) => [s.action, s.changes])).toEqual([['update', [{ field: 'weight', from: 4, to: 5 }]]]);
    expect(plan.steps[0]?.op).toEqual({ type: 'updateDestination', service: SVC, destination: { address: '192.168.0.1', port: 80, weight: 5, upperThreshold: 0, lowerThreshold: 0 } });
  });

  it('a kernel without tunnel details (before 5.2) is not asked to change tunnels', async () => {
    const table = [kernelService([dest('10.0.0.5', 80, { forwarding: 'tunnel' })])];
    const { ipvs } = fakeIpvs(table, netnsFile);
    const plan = await applyDesired(ipvs, [{ ...SVC, destinations: [{ address: '10.0.0.5', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080 } }] }], { stateDir: dir });
    expect(plan.steps).toEqual([]);
  });

  it('every setting that differs is listed on its one update', async () => {
    const table = [kernelService([dest('192.168.1.10', 80, { forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } })])];
    const { ipvs } = fakeIpvs(table, netnsFile);
    const plan = await applyDesired(
      ipvs,
      [
        {
          ...SVC,
          scheduler: 'rr',
          persistence: { timeout: 30, netmask: '255.255.0.0' },
          destinations: [{ address: '192.168.1.10', forwarding: 'tunnel', weight: 9, upperThreshold: 10, lowerThreshold: 5, tunnel: { type: 'gue', port: 6081, checksum: 'csum' } }],
        },
      ],
      { stateDir: dir },
    );
    expect(plan.steps.map((s) => [s.action, s.target, s.changes?.map((c) => c.field)])).toEqual([
      ['update', 'service', ['scheduler', 'persistence']],
      ['update', 'destination', ['weight', 'upperThreshold', 'lowerThreshold', 'tunnel']],
    ]);
    expect(describePlan(plan)).toBe(
      '~ service tcp 10.0.0.1:80: scheduler wlc → rr, persistence unset → {"timeout":30,"netmask":"255.255.0.0"}\n' +
        '~ destination 192.168.1.10:80 of tcp 10.0.0.1:80: weight 1 → 9, upperThreshold 0 → 10, lowerThreshold 0 → 5, tunnel {"type":"gue","port":6080,"checksum":"csum"} → {"type":"gue","port":6081,"checksum":"csum"}\n',
    );
  });
});

describe('order and batching', () => {
  it('service creations and updates, destination deletions, destination creations and updates, service deletions; one batch per 1000', async () => {
    const table = [
      kernelService([dest('192.168.1.10', 80), dest('192.168.1.99', 80)]),
      kernelService([], { address: '10.0.0.9' } as Partial<ServiceWithDestinations>),
    ];
    const many: DesiredService = { protocol: 'udp', address: '10.0.0.2', port: 53, destinations: Array.from({ length: 1200 }, (_, i) => ({ address: `192.168.${(i >> 8) + 2}.${i & 255}` })) };
    const { ipvs, sent } = fakeIpvs(table, netnsFile);
    const progress: number[] = [];
    const plan = await applyDesired(ipvs, [{ ...SVC, scheduler: 'rr', destinations: [{ address: '192.168.1.10', weight: 2 }] }, many], {
      stateDir: dir,
      prune: 'all',
      onProgress: (done) => progress.push(done),
    });
    const kinds = plan.steps.map((s) => `${s.action} ${s.target}`);
    expect(kinds.slice(0, 2)).toEqual(['update service', 'create service']);
    expect(kinds[2]).toBe('delete destination');
    expect(kinds[3]).toBe('update destination');
    expect(kinds.slice(4, -1).every((k) => k === 'create destination')).toBe(true);
    expect(kinds.at(-1)).toBe('delete service');
    expect(plan.steps).toHaveLength(1205);
    expect(sent.map((ops) => ops.length)).toEqual([1000, 205]);
    expect(progress).toEqual([1000, 1205]);
  });
});

describe('the ownership record', () => {
  it('is written before the creations are sent, and keeps only what was created', async () => {
    const { ipvs, recordDuringBatch, watch } = fakeIpvs([], netnsFile, (op) => (op.type === 'addDestination' && op.destination.address === '192.168.1.11' ? 'EINVAL' : undefined));
    const dry = await applyDesired(ipvs, [], { owner: 'web', stateDir: dir, dryRun: true });
    watch(dry.statePath);
    const plan = await applyDesired(
      ipvs,
      { owner: 'web', services: [{ ...SVC, destinations: [{ address: '192.168.1.10' }, { address: '192.168.1.11' }] }] },
      { stateDir: dir },
    );
    expect(plan.ok).toBe(false);
    expect(plan.statePath).toBe(dry.statePath);
    expect(plan.statePath).toMatch(/\/apply\/netns-\d+\/web\.json$/);
    // While the batch ran, every creation was already claimed.
    const during = JSON.parse(recordDuringBatch[0] ?? '{}') as { services: string[]; destinations: string[] };
    expect(during.services).toEqual(['tcp 10.0.0.1:80']);
    expect(during.destinations).toEqual(['tcp 10.0.0.1:80 -> 192.168.1.10:80', 'tcp 10.0.0.1:80 -> 192.168.1.11:80']);
    // After it, the refused one is not.
    const after = JSON.parse(readFileSync(plan.statePath, 'utf8')) as { format: string; version: number; owner: string; destinations: string[] };
    expect(after).toMatchObject({ format: 'ipvs-ts/apply-ownership', version: 1, owner: 'web' });
    expect(after.destinations).toEqual(['tcp 10.0.0.1:80 -> 192.168.1.10:80']);
  });

  it('claims on entries the kernel no longer has are dropped; owners are kept apart', async () => {
    const first = fakeIpvs([], netnsFile);
    const plan = await applyDesired(first.ipvs, { owner: 'a', services: [{ ...SVC, destinations: [{ address: '192.168.1.10' }] }] }, { stateDir: dir });
    // The kernel lost the service (deleted by hand): nothing is deleted, the claims go.
    const empty = fakeIpvs([], netnsFile);
    const again = await applyDesired(empty.ipvs, { owner: 'a', services: [] }, { stateDir: dir });
    expect(again.steps).toEqual([]);
    expect(() => readFileSync(plan.statePath)).toThrow();
    // Owner b never sees owner a's entries as its own.
    await applyDesired(first.ipvs, { owner: 'a', services: [{ ...SVC }] }, { stateDir: dir });
    const table = [kernelService([])];
    expect((await applyDesired(fakeIpvs(table, netnsFile).ipvs, { owner: 'b', services: [] }, { stateDir: dir })).steps).toEqual([]);
    expect((await applyDesired(fakeIpvs(table, netnsFile).ipvs, { owner: 'a', services: [] }, { stateDir: dir })).steps.map((s) => s.action)).toEqual(['delete']);
  });

  it('a record that is not ours is an error, not silently replaced', async () => {
    const { ipvs } = fakeIpvs([], netnsFile);
    const { statePath } = await applyDesired(ipvs, [], { owner: 'web', stateDir: dir, dryRun: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(statePath, '..'), { recursive: true });
    writeFileSync(statePath, '{"something": "else"}');
    await expect(applyDesired(ipvs, [], { owner: 'web', stateDir: dir })).rejects.toThrow(/is not an ipvs-ts ownership record/);
    // Not JSON at all: the message names the file.
    writeFileSync(statePath, '{"format": "ipvs-ts/apply-ownership"} trailing');
    const e = await applyDesired(ipvs, [], { owner: 'web', stateDir: dir }).catch((err: unknown) => err as Error);
    expect(e.message).toContain(`${statePath} is not an ipvs-ts ownership record: `);
  });

  it('applies at once in one process each write the record whole (no shared temporary file)', async () => {
    const { statePath } = await applyDesired(fakeIpvs([], netnsFile).ipvs, [], { owner: 'web', stateDir: dir, dryRun: true });
    for (let round = 0; round < 10; round++) {
      // Records of different lengths, written at once by the same owner.
      const plans = await Promise.all(
        [1, 2, 3, 4, 5, 6].map((n) =>
          applyDesired(
            fakeIpvs([], netnsFile).ipvs,
            { owner: 'web', services: Array.from({ length: n }, (_, i) => ({ ...SVC, port: 1000 + round * 10 + i })) },
            { stateDir: dir },
          ),
        ),
      );
      expect(plans.every((p) => p.ok)).toBe(true);
      const record = JSON.parse(readFileSync(statePath, 'utf8')) as { services: string[] };
      expect([1, 2, 3, 4, 5, 6]).toContain(record.services.length);
    }
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(statePath, '..')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('bad input', () => {
  it('is a TypeError naming the field, before the kernel is read', async () => {
    const { ipvs } = fakeIpvs([], netnsFile);
    const cases: [unknown, RegExp][] = [
      [null, /^desired must be an array of services or \{ owner\?, services \}, got null$/],
      [[null], /^services\[0\] must be an object, got null$/],
      [[SVC, { ...SVC, port: 'x' }], /^services\[1\]\.port must be an integer/],
      [[{ ...SVC, destinations: [{ address: '10.0.0.300' }] }], /^services\[0\]\.destinations\[0\]\.address is not an IPv4 or IPv6 address/],
    ];
    for (const [desired, message] of cases) {
      await expect(applyDesired(ipvs, desired as never, { stateDir: dir })).rejects.toThrow(message);
    }
    await expect(applyDesired(ipvs, [], { stateDir: dir, owner: '../x' })).rejects.toThrow(/^owner must be/);
    await expect(applyDesired(ipvs, [], { stateDir: dir, prune: 'some' as never })).rejects.toThrow(/^prune must be/);
  });
});
