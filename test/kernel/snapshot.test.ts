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
});
