// snapshot() chains its per-service destination dumps through io_uring where
// the kernel offers it, and falls back to one dump at a time when a dump does
// not fit the chain's shape. Every shape is here: services with no
// destination (a dump that is DONE alone), with many (a dump of several
// datagrams), and more services than one chain holds.
import { describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/index.js';
import type { BatchOp, ServiceKey } from '../../lib/index.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();

describe('snapshot()', () => {
  it('equals listServices() + listDestinations() for every shape of service', async () => {
    ok(ns.exec('ip', ['link', 'add', 'd0', 'type', 'dummy']));
    ok(ns.exec('ip', ['addr', 'add', '10.255.255.254/8', 'dev', 'd0']));
    ok(ns.exec('ip', ['link', 'set', 'd0', 'up']));
    await using ipvs = await Ipvs.open({ netns: ns.name });
    const ops: BatchOp[] = [];
    const expected = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const key: ServiceKey = { protocol: 'tcp', address: `172.16.0.${i + 1}`, port: 80 };
      ops.push({ type: 'addService', service: { ...key, scheduler: 'rr' } });
      // Every 7th service has none; every 25th has 400 (several datagrams).
      const count = i % 7 === 3 ? 0 : i % 25 === 1 ? 400 : 3;
      expected.set(`172.16.0.${i + 1}`, count);
      for (let j = 0; j < count; j++) {
        ops.push({ type: 'addDestination', service: key, destination: { address: `10.${i}.${j >> 7}.${(j & 127) + 1}` } });
      }
    }
    const results = await ipvs.batch(ops);
    expect(results.filter((r) => !r.ok)).toEqual([]);

    const snap = await ipvs.snapshot();
    expect(snap).toHaveLength(100);
    const services = await ipvs.listServices();
    expect(snap.map(({ destinations: _, ...s }) => s)).toEqual(services);
    for (const s of snap) {
      expect('address' in s && s.destinations.length).toBe(expected.get('address' in s ? s.address : ''));
      expect(s.destinations).toEqual(await ipvs.listDestinations(s));
    }
    // The plain path (one dump after another, no io_uring) reads the same.
    process.env.IPVS_TS_NO_URING = '1';
    try {
      await using plain = await Ipvs.open({ netns: ns.name });
      expect(await plain.snapshot()).toEqual(snap);
    } finally {
      delete process.env.IPVS_TS_NO_URING;
    }
    // And ipvsadm agrees on the total.
    const lines = ok(ns.ipvsadm('-Ln')).split('\n').filter((l) => l.startsWith('  -> ') && !l.includes('RemoteAddress'));
    expect(lines).toHaveLength([...expected.values()].reduce((a, b) => a + b, 0));
  });

  it('reads the current table each time, though it writes over the buffer of the last read', async () => {
    await using ipvs = await Ipvs.open({ netns: ns.name });
    await ipvs.flush();
    const key = (i: number): ServiceKey => ({ protocol: 'udp', address: `172.16.1.${i + 1}`, port: 53 });
    const ops: BatchOp[] = [];
    for (let i = 0; i < 50; i++) {
      ops.push({ type: 'addService', service: { ...key(i), scheduler: 'wrr' } });
      for (let j = 0; j < 4; j++) ops.push({ type: 'addDestination', service: key(i), destination: { address: `10.1.${i}.${j + 1}`, weight: j + 1 } });
    }
    expect((await ipvs.batch(ops)).every((r) => r.ok)).toBe(true);
    const full = await ipvs.snapshot();
    expect(full).toHaveLength(50);

    // Smaller tables after a bigger read: nothing of the old records shows.
    for (let i = 49; i >= 10; i--) await ipvs.deleteService(key(i));
    await ipvs.deleteDestination(key(0), { address: '10.1.0.4' });
    const small = await ipvs.snapshot();
    // The kernel lists in hash order, which deletes do not change.
    const kept = new Set(Array.from({ length: 10 }, (_, i) => key(i).address));
    const expected = full
      .filter((s) => 'address' in s && kept.has(s.address))
      .map((s) => ('address' in s && s.address === key(0).address ? { ...s, destinations: s.destinations.filter((d) => d.address !== '10.1.0.4') } : s));
    expect(expected).toHaveLength(10);
    expect(small).toEqual(expected);
    expect(await ipvs.listServices()).toEqual(small.map(({ destinations: _, ...s }) => s));
    expect(await ipvs.listDestinations(key(0))).toEqual(small.find((s) => 'address' in s && s.address === key(0).address)!.destinations);
    // The earlier results are the caller's: later reads change none of them.
    expect(full).toHaveLength(50);
    expect(full[0]!.destinations).toHaveLength(4);

    // Reads in flight together each get their own buffer and the same answer.
    const reads = await Promise.all([ipvs.snapshot(), ipvs.listServices(), ipvs.snapshot(), ipvs.getService(key(3))]);
    expect(reads[0]).toEqual(small);
    expect(reads[2]).toEqual(small);
    expect(reads[1]).toEqual(small.map(({ destinations: _, ...s }) => s));
    expect(reads[3]).toEqual(reads[1]!.find((s) => 'address' in s && s.address === key(3).address));
    // And an empty table reads as empty.
    await ipvs.flush();
    expect(await ipvs.snapshot()).toEqual([]);
    expect(await ipvs.listServices()).toEqual([]);
  });
});
