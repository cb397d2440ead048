// What the real kernel must give at scale, and under change: a table of
// 100 000 destinations read back whole, thousands of calls in flight on one
// handle and on several, and snapshots taken while another handle changes
// the table (no entry ever twice; with `consistent`, none missing).
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/ipvs.js';
import type { BatchOp, ServiceKey } from '../../lib/types.js';
import { ok, useFreshNetns } from './support.js';

const big = useFreshNetns();
const calls = useFreshNetns();
const churn = useFreshNetns();

const openFds = (): number => readdirSync('/proc/self/fd').length;
const serviceId = (s: { protocol?: string; address?: string; port?: number; fwmark?: number }): string =>
  s.fwmark ? `fwmark ${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`;

describe('a 100 000-destination table', () => {
  it('is read back whole by snapshot(): every destination, none lost to ENOBUFS', async () => {
    // Real servers on a routable /16 (the kernel refuses destinations it cannot route).
    ok(big.exec('ip', ['link', 'add', 'rs0', 'type', 'dummy']));
    ok(big.exec('ip', ['link', 'set', 'rs0', 'up']));
    ok(big.exec('ip', ['addr', 'add', '10.20.0.1/16', 'dev', 'rs0']));
    await using ipvs = await Ipvs.open({ netns: big.name });
    const services = 1000;
    const perService = 100;
    const ops: BatchOp[] = [];
    for (let s = 0; s < services; s++) {
      const service: ServiceKey = { protocol: 'tcp', address: `192.0.2.${(s % 250) + 1}`, port: 1000 + Math.floor(s / 250) };
      ops.push({ type: 'addService', service: { ...service, scheduler: 'wrr' } });
      for (let d = 0; d < perService; d++) {
        ops.push({ type: 'addDestination', service, destination: { address: `10.20.${Math.floor(d / 250)}.${(d % 250) + 2}`, weight: d + 1 } });
      }
    }
    const results = await ipvs.batch(ops);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const table = await ipvs.snapshot();
    expect(table).toHaveLength(services);
    expect(table.reduce((n, s) => n + s.destinations.length, 0)).toBe(services * perService);
    expect(new Set(table.map(serviceId)).size).toBe(services);
    for (const s of table) expect(new Set(s.destinations.map((d) => d.address)).size).toBe(perService);
    // The kernel's own count, from /proc: one "  ->" line per destination, less the header's.
    const arrows = Number(ok(big.exec('grep', ['-c', '^  ->', '/proc/net/ip_vs'])).trim());
    expect(arrows - 1).toBe(services * perService);
    await ipvs.flush();
  });
});

describe('calls in flight against the kernel', () => {
  it('10 000 on one handle and 1 000 on each of 8: every one settles, in order per handle, no descriptor left', async () => {
    const before = openFds();
    ok(calls.ipvsadm('-A', '-t', '192.0.2.1:80', '-s', 'rr'));
    const run = async (handles: number, perHandle: number): Promise<void> => {
      const ipvss = await Promise.all(Array.from({ length: handles }, () => Ipvs.open({ netns: calls.name })));
      // Per kind of call: a listing decodes in slices and resolves a turn later than a call after it.
      const orders = ipvss.map(() => [[], [], []] as number[][]);
      const all: Promise<unknown>[] = [];
      for (let i = 0; i < perHandle; i++) {
        ipvss.forEach((ipvs, h) => {
          const kind = i % 3;
          const call = kind === 0 ? ipvs.info() : kind === 1 ? ipvs.getTimeouts() : ipvs.listServices();
          all.push(call.then(() => orders[h]![kind]!.push(i)));
        });
      }
      await Promise.all(all);
      for (const o of orders) {
        expect(o.reduce((n, l) => n + l.length, 0)).toBe(perHandle);
        for (const list of o) expect(list).toEqual([...list].sort((a, b) => a - b));
      }
      ipvss.forEach((i) => i.close());
    };
    await run(1, 10_000);
    await run(8, 1_000);
    // close() lets the socket go once its last call has run: give the pool a moment.
    for (let i = 0; i < 100 && openFds() !== before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(openFds()).toBe(before);
  });
});

describe('snapshots while another handle changes the table', () => {
  it('never return an entry twice; with { consistent: true } never miss one', async () => {
    await using reader = await Ipvs.open({ netns: churn.name });
    await using writer = await Ipvs.open({ netns: churn.name });
    // 5 000 services that never change, and 50 that come and go.
    const base: BatchOp[] = [];
    for (let s = 0; s < 5000; s++) {
      base.push({ type: 'addService', service: { protocol: 'udp', address: `198.51.100.${(s % 200) + 1}`, port: 2000 + Math.floor(s / 200), scheduler: 'rr' } });
    }
    expect((await writer.batch(base)).every((r) => r.ok)).toBe(true);
    const baseIds = new Set(base.map((op) => serviceId(op.service)));
    const moving = Array.from({ length: 50 }, (_, i): ServiceKey => ({ protocol: 'tcp', address: '203.0.113.1', port: 1 + i }));
    let stop = false;
    const changes = (async () => {
      let n = 0;
      while (!stop) {
        const key = moving[n++ % moving.length]!;
        // Add then delete, so that each read races with both.
        await writer.addService({ ...key, scheduler: 'rr' }).catch(() => undefined);
        await writer.deleteService(key).catch(() => undefined);
      }
      return n;
    })();
    let plainMissing = 0;
    let consistentReads = 0;
    try {
      for (let round = 0; round < 12; round++) {
        const plain = await reader.snapshot();
        const ids = plain.map(serviceId);
        expect(new Set(ids).size).toBe(ids.length); // never twice
        plainMissing += [...baseIds].filter((id) => !ids.includes(id)).length;
        const consistent = await reader.snapshot({ consistent: true, maxReads: 50 }).catch((e: { code?: string }) => {
          if (e.code === 'EAGAIN') return undefined; // the table never held still long enough: allowed, and counted
          throw e;
        });
        if (!consistent) continue;
        consistentReads++;
        const cids = consistent.map(serviceId);
        expect(new Set(cids).size).toBe(cids.length);
        // A state that existed: every base service, and only services of base or moving.
        expect(cids.filter((id) => baseIds.has(id))).toHaveLength(baseIds.size);
        for (const id of cids) expect(baseIds.has(id) || id.startsWith('tcp 203.0.113.1:')).toBe(true);
      }
    } finally {
      stop = true;
    }
    const made = await changes;
    expect(made).toBeGreaterThan(10);
    expect(consistentReads).toBeGreaterThan(0);
    // For the record: how often a plain read missed an unchanged service.
    console.log(`plain snapshots missed ${plainMissing} base services in 12 reads; ${consistentReads}/12 consistent reads; ${made} changes`);
  });
});
