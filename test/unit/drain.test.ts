// The drain's logic against a scripted table: the weight goes to 0 first and
// comes back on abort, each reading is reported, 'idle' and 'no-active' end
// at the right reading, the timeout resolves with the counts of that moment,
// remove deletes only a drained server, bad options are refused up front.
// With real traffic in the kernel: test/kernel/drain.test.ts.
import { describe, expect, it } from 'vitest';

import { drainDestination, validateDrainOptions, type DrainProgress, type DrainTarget } from '../../lib/drain.js';
import type { Destination, DestinationSpec } from '../../lib/types.js';

const SERVICE = { protocol: 'tcp', address: '192.0.2.10', port: 22136 } as const;
const ZERO = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

/** A table with one real server whose counts follow `script`, one entry per reading (the last repeats). */
function scripted(script: [active: number, inactive: number, persistent: number][]) {
  const calls: string[] = [];
  let reading = 0;
  let weight = 1000;
  let present = true;
  const dest = (): Destination => {
    const [a, i, p] = script[Math.min(reading, script.length - 1)]!;
    return {
      address: '10.0.0.11',
      family: 'inet',
      port: 22136,
      forwarding: 'route',
      weight,
      upperThreshold: 0,
      lowerThreshold: 0,
      activeConnections: a,
      inactiveConnections: i,
      persistentConnections: p,
      stats: ZERO,
      rates: RATES,
    };
  };
  const target: DrainTarget = {
    listDestinations: async () => {
      const d = present ? [dest()] : [];
      reading++;
      return d;
    },
    updateDestination: async (_s, spec: DestinationSpec) => {
      calls.push(`weight ${spec.weight}`);
      weight = spec.weight ?? 1;
    },
    deleteDestination: async () => {
      calls.push('delete');
      present = false;
    },
  };
  return { target, calls, weight: () => weight };
}

describe('drainDestination', () => {
  it("sets weight 0, reports each reading, and ends 'idle' when nothing is left", async () => {
    const t = scripted([[2, 1, 1], [1, 2, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0]]);
    const seen: DrainProgress[] = [];
    const r = await drainDestination(t.target, SERVICE, { address: '10.0.0.11' }, { interval: 10, onProgress: (p) => seen.push(p) });
    // The first list finds the server; the weight goes to 0 before any reading is reported.
    expect(t.calls).toEqual(['weight 0']);
    expect(seen.map((p) => [p.activeConnections, p.inactiveConnections, p.persistentConnections])).toEqual([[1, 2, 1], [0, 1, 1], [0, 0, 1], [0, 0, 0]]);
    expect(r).toMatchObject({ drained: true, removed: false, previousWeight: 1000, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0 });
    expect(t.weight()).toBe(0);
  });

  it("'no-active' ends at the first reading without an active connection", async () => {
    const t = scripted([[3, 0, 0], [2, 1, 0], [0, 3, 2]]);
    const r = await drainDestination(t.target, SERVICE, { address: '10.0.0.11' }, { interval: 10, until: 'no-active' });
    expect(r).toMatchObject({ drained: true, activeConnections: 0, inactiveConnections: 3, persistentConnections: 2 });
  });

  it('a timeout resolves with the counts of that moment, the weight left at 0, nothing removed', async () => {
    const t = scripted([[5, 0, 0]]);
    const r = await drainDestination(t.target, SERVICE, { address: '10.0.0.11', port: 22136 }, { interval: 10, timeout: 45, remove: true });
    expect(r).toMatchObject({ drained: false, removed: false, activeConnections: 5, previousWeight: 1000 });
    expect(r.elapsedMs).toBeGreaterThanOrEqual(40);
    expect(t.calls).toEqual(['weight 0']);
  });

  it('remove deletes the server once drained', async () => {
    const t = scripted([[1, 0, 0], [0, 0, 0]]);
    const r = await drainDestination(t.target, SERVICE, { address: '10.0.0.11' }, { interval: 10, remove: true });
    expect(r).toMatchObject({ drained: true, removed: true });
    expect(t.calls).toEqual(['weight 0', 'delete']);
  });

  it('an abort puts the weight back and rejects with the reason', async () => {
    const t = scripted([[4, 0, 0]]);
    const ac = new AbortController();
    const drain = drainDestination(t.target, SERVICE, { address: '10.0.0.11' }, { interval: 10, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('operator changed their mind')), 35);
    await expect(drain).rejects.toThrow('operator changed their mind');
    expect(t.calls).toEqual(['weight 0', 'weight 1000']);
    expect(t.weight()).toBe(1000);
  });

  it('a signal already aborted changes nothing; an unknown server is ENOENT in words', async () => {
    const t = scripted([[0, 0, 0]]);
    await expect(drainDestination(t.target, SERVICE, { address: '10.0.0.11' }, { signal: AbortSignal.abort() })).rejects.toThrow();
    expect(t.calls).toEqual([]);
    await expect(drainDestination(t.target, SERVICE, { address: '10.0.0.99' }, {})).rejects.toMatchObject({ code: 'ENOENT', message: 'no real server 10.0.0.99 in that service' });
  });

  it.each([
    [{ until: 'empty' }, "options.until must be 'idle' or 'no-active', got \"empty\""],
    [{ interval: 1 }, 'options.interval must be a number of ms 10–2147483647, got 1'],
    [{ timeout: -1 }, 'options.timeout must be a number of ms 0–2147483647, got -1'],
    [{ remove: 'yes' }, 'options.remove must be true or false, got "yes"'],
    [{ signal: {} }, 'options.signal must be an AbortSignal'],
    [{ wait: 1 }, "options has an unknown property 'wait'"],
  ])('refuses %j in words', (options, message) => {
    expect(() => validateDrainOptions(options)).toThrow(message);
  });
});
