// The health checker's state machine with scripted probes and a recording
// table: fall and rise edges counted in probes, flapping that never reaches
// fall, timeouts, one probe per server at a time, the concurrency cap, the
// sorry server, removal instead of weight 0, stop() with and without
// restore, and settings refused in words. The real probes (TCP, HTTP from
// the director's namespace) run in test/kernel/health.test.ts.
import { describe, expect, it } from 'vitest';

import { HealthChecker, type CheckedService, type HealthEvent, type HealthTarget, type ProbeTarget } from '../../lib/health.js';
import type { AbortSignalLike, DestinationSpec } from '../../lib/types.js';

const SERVICE = { protocol: 'tcp', address: '192.0.2.10', port: 22136 } as const;

/** The next event of that name. */
function next(checker: HealthChecker, event: 'down' | 'up'): Promise<HealthEvent> {
  return new Promise((resolve) => {
    const listener = (e: HealthEvent): void => {
      checker.off(event, listener);
      resolve(e);
    };
    checker.on(event, listener);
  });
}

/** A table that records what is done to it. */
function recordingTable(): HealthTarget & { ops: string[] } {
  const ops: string[] = [];
  return {
    ops,
    netnsPath: undefined,
    updateDestination: async (_s, d: DestinationSpec) => void ops.push(`update ${d.address} weight ${d.weight}`),
    addDestination: async (_s, d: DestinationSpec) => void ops.push(`add ${d.address} weight ${d.weight}`),
    deleteDestination: async (_s, d) => void ops.push(`delete ${d.address}`),
  };
}

/** A custom probe answering from a script per address ('ok', 'fail', 'hang'); the last entry repeats. */
function scriptedProbe(scripts: Record<string, string[]>) {
  const calls: Record<string, number> = {};
  let inFlight = 0;
  let maxInFlight = 0;
  const perServer = new Map<string, number>();
  let maxPerServer = 0;
  const check = async (t: ProbeTarget, signal: AbortSignalLike): Promise<boolean> => {
    const n = (calls[t.address] = (calls[t.address] ?? 0) + 1);
    const script = scripts[t.address]!;
    const step = script[Math.min(n - 1, script.length - 1)];
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    perServer.set(t.address, (perServer.get(t.address) ?? 0) + 1);
    maxPerServer = Math.max(maxPerServer, perServer.get(t.address)!);
    try {
      if (step === 'hang') await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      else await new Promise((r) => setTimeout(r, 1));
      if (step === 'fail') throw new Error('status 503');
      return step === 'ok';
    } finally {
      inFlight--;
      perServer.set(t.address, perServer.get(t.address)! - 1);
    }
  };
  return { check, calls, maxInFlight: () => maxInFlight, maxPerServer: () => maxPerServer };
}

const service = (probe: ReturnType<typeof scriptedProbe>, addresses: string[], extra: Partial<CheckedService> = {}): CheckedService => ({
  service: SERVICE,
  check: { probe: { type: 'custom', check: probe.check }, interval: 10, timeout: 50, fall: 3, rise: 2 },
  destinations: addresses.map((address, i) => ({ address, weight: 1000 - i * 100 })),
  ...extra,
});

describe('HealthChecker', () => {
  it('goes down after exactly `fall` failures in a row (weight 0), and up after `rise` successes (configured weight)', async () => {
    const probe = scriptedProbe({ '10.0.0.11': ['ok', 'fail', 'fail', 'fail', 'fail', 'ok', 'ok', 'ok'] });
    const table = recordingTable();
    const checker = new HealthChecker(table, [service(probe, ['10.0.0.11'])]);
    checker.start();
    const down = await next(checker, 'down');
    expect(probe.calls['10.0.0.11']).toBe(4); // one ok, then three failures
    expect(down).toMatchObject({ state: 'down', reason: 'status 503', action: 'weight 0', destination: { address: '10.0.0.11', port: 22136 } });
    const up = await next(checker, 'up');
    expect(probe.calls['10.0.0.11']).toBe(7); // one more failure, then two successes
    expect(up).toMatchObject({ state: 'up', reason: 'healthy', action: 'weight 1000' });
    await checker.stop();
    expect(table.ops).toEqual(['update 10.0.0.11 weight 0', 'update 10.0.0.11 weight 1000']);
    expect(checker.states()[0]).toMatchObject({ state: 'up', reason: 'healthy' });
  });

  it('arms the first probes of many servers a slice per turn: each is probed; a stop while arming arms no more', async () => {
    // 1 200 servers: more than one slice of first probes (500 a turn).
    const addressesOf = (s: number): string[] => Array.from({ length: 100 }, (_, d) => `10.0.${s}.${d + 1}`);
    const all = Array.from({ length: 12 }, (_, s) => addressesOf(s)).flat();
    const specs = (probe: ReturnType<typeof scriptedProbe>): CheckedService[] =>
      Array.from({ length: 12 }, (_, s) => ({
        ...service(probe, []),
        service: { ...SERVICE, port: 1000 + s },
        destinations: addressesOf(s).map((address) => ({ address, weight: 100 })),
      }));

    const probe = scriptedProbe(Object.fromEntries(all.map((a) => [a, ['ok']])));
    const checker = new HealthChecker(recordingTable(), specs(probe), { concurrency: 1200 });
    const probed = new Set<string>();
    checker.on('probe', (e) => probed.add(e.destination.address));
    checker.start();
    while (probed.size < all.length) await new Promise((r) => setTimeout(r, 5));
    await checker.stop();
    expect(Object.keys(probe.calls).sort()).toEqual([...all].sort());

    const idle = scriptedProbe(Object.fromEntries(all.map((a) => [a, ['ok']])));
    const stopped = new HealthChecker(recordingTable(), specs(idle));
    stopped.start();
    await stopped.stop();
    await new Promise((r) => setTimeout(r, 30)); // past the first interval
    expect(Object.keys(idle.calls)).toEqual([]);
  });

  it('a flapping server never reaches fall: no change', async () => {
    // fail, fail, ok, over and over: never three failures in a row.
    const scripted = ['fail', 'fail', 'ok', 'fail', 'fail', 'ok', 'fail', 'fail', 'ok'];
    const probe = scriptedProbe({ '10.0.0.11': scripted });
    const table = recordingTable();
    const checker = new HealthChecker(table, [service(probe, ['10.0.0.11'])]);
    let probes = 0;
    checker.on('probe', () => probes++);
    checker.start();
    while (probes < scripted.length) await new Promise((r) => setTimeout(r, 5));
    await checker.stop();
    expect(table.ops).toEqual([]);
    expect(checker.states()[0]).toMatchObject({ state: 'up', reason: 'configured' });
  });

  it('a hung probe is a timeout; one probe per server at a time; the concurrency cap holds', async () => {
    const addresses = ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15'];
    const probe = scriptedProbe(Object.fromEntries(addresses.map((a) => [a, ['hang']])));
    const table = recordingTable();
    const checker = new HealthChecker(table, [service(probe, addresses, { check: { probe: { type: 'custom', check: probe.check }, interval: 10, timeout: 20, fall: 2, rise: 1 } })], { concurrency: 2 });
    const downs: HealthEvent[] = [];
    checker.on('down', (e) => downs.push(e));
    checker.start();
    while (downs.length < addresses.length) await new Promise((r) => setTimeout(r, 5));
    await checker.stop();
    expect(downs.every((d) => d.reason === 'timeout')).toBe(true);
    expect(probe.maxPerServer()).toBe(1);
    expect(probe.maxInFlight()).toBe(2);
  });

  it('the sorry server comes when every real server is down and goes when one is back', async () => {
    const probe = scriptedProbe({ '10.0.0.11': ['fail', 'fail', 'fail', 'fail', 'fail', 'fail', 'ok'], '10.0.0.12': ['fail'] });
    const table = recordingTable();
    const checker = new HealthChecker(table, [service(probe, ['10.0.0.11', '10.0.0.12'], { sorryServer: { address: '10.0.0.99', weight: 1 } })]);
    const sorry: boolean[] = [];
    checker.on('sorry', (e) => sorry.push(e.active));
    checker.start();
    while (sorry.length < 2) await new Promise((r) => setTimeout(r, 5));
    await checker.stop();
    expect(sorry).toEqual([true, false]);
    const i = (op: string): number => table.ops.indexOf(op);
    expect(i('add 10.0.0.99 weight 1')).toBeGreaterThan(Math.max(i('update 10.0.0.11 weight 0'), i('update 10.0.0.12 weight 0')));
    expect(i('delete 10.0.0.99')).toBeGreaterThan(i('update 10.0.0.11 weight 1000'));
  });

  it("onDown 'remove' deletes and re-adds; stop({ restore }) puts everything back, stop() leaves it", async () => {
    const probe = scriptedProbe({ '10.0.0.11': ['fail'], '10.0.0.12': ['fail'] });
    const table = recordingTable();
    const settings = { probe: { type: 'custom' as const, check: probe.check }, interval: 10, timeout: 50, fall: 1, rise: 1 };
    const checker = new HealthChecker(table, [
      { service: SERVICE, check: settings, destinations: [{ address: '10.0.0.11', weight: 5, check: { onDown: 'remove' } }, { address: '10.0.0.12', weight: 7 }] },
    ]);
    const downs: HealthEvent[] = [];
    checker.on('down', (e) => downs.push(e));
    checker.start();
    while (downs.length < 2) await new Promise((r) => setTimeout(r, 5));
    await checker.stop({ restore: true });
    expect(downs.map((d) => d.action).sort()).toEqual(['removed', 'weight 0']);
    expect(table.ops.slice(0, 2).sort()).toEqual(['delete 10.0.0.11', 'update 10.0.0.12 weight 0']);
    expect(table.ops.slice(2)).toEqual(['add 10.0.0.11 weight 5', 'update 10.0.0.12 weight 7']);

    const table2 = recordingTable();
    const left = new HealthChecker(table2, [service(scriptedProbe({ '10.0.0.11': ['fail'] }), ['10.0.0.11'], { check: { ...settings, fall: 1 } })]);
    left.start();
    await next(left, 'down');
    await left.stop();
    expect(table2.ops).toEqual(['update 10.0.0.11 weight 0']);
  });

  it.each([
    [{ check: { probe: { type: 'icmp' } } }, "services[0].check.probe.type must be 'tcp', 'http', 'https' or 'custom', got \"icmp\""],
    [{ check: { probe: { type: 'tcp' }, fall: 0 } }, 'services[0].check.fall must be an integer 1–1000, got 0'],
    [{ check: { probe: { type: 'http', path: 'health' } } }, "services[0].check.probe.path must start with '/', got \"health\""],
    [{ check: { probe: { type: 'tcp', body: 'x' } } }, "services[0].check.probe has an unknown property 'body' for a tcp probe"],
    [{ check: { probe: { type: 'https', status: 700 } } }, 'services[0].check.probe.status must be an HTTP status 100–599 or a list of them, got 700'],
    [{ destinations: [{ address: '10.0.0.11', weight: -1 }] }, 'services[0].destinations[0].weight must be an integer 0–2147483647, got -1'],
    [{ destinations: [{ address: '10.0.0.11' }, { address: '10.0.0.11', port: 22136 }] }, 'services[0].destinations[1] repeats real server 10.0.0.11:22136 of tcp 192.0.2.10:22136'],
    [{ service: { fwmark: 5 }, destinations: [{ address: '10.0.0.11' }] }, "services[0].destinations[0]: a fwmark service's real server needs check.probe.port (there is no port to probe)"],
  ])('refuses %j in words', (change, message) => {
    const base = { service: SERVICE, check: { probe: { type: 'tcp' } }, destinations: [{ address: '10.0.0.11' }] };
    expect(() => new HealthChecker(recordingTable(), [{ ...base, ...change } as never])).toThrow(message);
  });
});
