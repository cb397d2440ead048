// Issue 3: batch() and concurrency on one handle, against the real kernel.
//   - many concurrent calls on one handle each resolve with their own reply;
//   - the event loop keeps running while a 5000-op batch is in flight;
//   - batch() reports every op's outcome in order and does not stop at a refusal;
//   - a 5000+ op batch gives the table ipvsadm -Sn reads back;
//   - a batch with one invalid op rejects naming its index and sends nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs, IpvsError } from '../../lib/index.js';
import type { BatchOp, ServiceKey } from '../../lib/index.js';
import { parseSave, routeDestinations, saved, serviceKeyId, tableByIpvs, tableByIpvsadm } from './api-ipvsadm.js';
import { ok, useFreshNetns } from './support.js';

// The big batch gets a namespace of its own: IPVS keeps deleted destinations in
// a per-namespace trash that every later add scans.
const big = useFreshNetns('ipvsts-big');
const ns = useFreshNetns();
let ipvs: Ipvs;

beforeAll(async () => {
  routeDestinations(big);
  routeDestinations(ns);
  ipvs = await Ipvs.open({ netns: ns.name });
});
afterAll(() => ipvs?.close());

/** 500 services × 10 destinations: 5500 ops. */
function bigOps(): BatchOp[] {
  const ops: BatchOp[] = [];
  for (let i = 0; i < 500; i++) {
    const service: ServiceKey =
      i % 5 === 4
        ? { fwmark: 1000 + i, family: i % 2 ? 'inet6' : 'inet' }
        : { protocol: (['tcp', 'udp', 'sctp', 'tcp'] as const)[i % 4]!, address: i % 3 ? `10.20.${i >> 8}.${i & 255}` : `2001:db8:20::${(i + 1).toString(16)}`, port: 80 + (i % 7) };
    const v6 = 'fwmark' in service ? service.family === 'inet6' : service.address.includes(':');
    ops.push({ type: 'addService', service: { ...service, scheduler: (['rr', 'wrr', 'wlc', 'sh'] as const)[i % 4] } });
    for (let j = 0; j < 10; j++) {
      const address = v6 ? `2001:db8:21:${(i + 1).toString(16)}::${j + 1}` : `172.16.${i >> 4}.${((i & 15) << 4) | j}`;
      ops.push({ type: 'addDestination', service, destination: { address, forwarding: j % 2 ? 'masq' : 'route', weight: j, ...(j % 2 ? { port: 8000 + j } : {}) } });
    }
  }
  return ops;
}

describe('batch()', () => {
  it('5500 ops in one batch all succeed; ipvsadm -Sn reads back exactly that table; the event loop ran meanwhile', async () => {
    await using b = await Ipvs.open({ netns: big.name });
    const ops = bigOps();
    expect(ops.length).toBe(5500);
    let ticksWhileInFlight = 0;
    let inFlight = true;
    const timer = setInterval(() => {
      if (inFlight) ticksWhileInFlight++;
    }, 1);
    let results;
    try {
      results = await b.batch(ops);
      inFlight = false;
    } finally {
      clearInterval(timer);
    }
    // The interval fired while the batch was in flight: the loop was not blocked throughout.
    expect(ticksWhileInFlight).toBeGreaterThan(0);
    expect(results).toHaveLength(5500);
    const failed = results.flatMap((r, i) => (r.ok ? [] : [`ops[${i}]: ${r.error.message}`]));
    expect(failed).toEqual([]);

    // What ipvsadm reads back equals the ops, service by service.
    const save = parseSave(ok(big.ipvsadm('-Sn')));
    expect(save).toHaveLength(500);
    expect(save.reduce((n, e) => n + e.destinations.length, 0)).toBe(5000);
    const byId = new Map(save.map((e) => [e.id, e]));
    for (const op of ops) {
      if (op.type === 'addService') {
        const e = byId.get(serviceKeyId(op.service));
        expect(e?.service.scheduler, serviceKeyId(op.service)).toBe(op.service.scheduler);
      } else if (op.type === 'addDestination') {
        const e = byId.get(serviceKeyId(op.service))!;
        const port = op.destination.port ?? ('fwmark' in op.service ? 0 : op.service.port);
        const d = e.destinations.find((x) => x.address === op.destination.address && x.port === port);
        expect(d, `${op.destination.address}:${port} in ${e.id}`).toMatchObject({
          forwarding: op.destination.forwarding,
          weight: op.destination.weight,
        });
      }
    }
    // And ipvs-ts's snapshot reads the very same table.
    const snap = await b.snapshot();
    expect(snap).toHaveLength(500);
    expect(snap.reduce((n, s) => n + s.destinations.length, 0)).toBe(5000);
  });

  it('reports each outcome in order and does not stop at a refusal (EEXIST, ESRCH, ENOENT, unknown scheduler)', async () => {
    const A = { protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
    const B = { protocol: 'udp', address: '2001:db8::1', port: 53 } as const;
    const M = { fwmark: 9 } as const;
    const ops: BatchOp[] = [
      /* 0 */ { type: 'addService', service: { ...A, scheduler: 'rr' } },
      /* 1 */ { type: 'addService', service: { ...A, scheduler: 'wlc' } }, // EEXIST
      /* 2 */ { type: 'addDestination', service: A, destination: { address: '192.168.1.10' } },
      /* 3 */ { type: 'addDestination', service: A, destination: { address: '192.168.1.10', weight: 3 } }, // EEXIST
      /* 4 */ { type: 'addDestination', service: B, destination: { address: '2001:db8::10' } }, // ESRCH
      /* 5 */ { type: 'addService', service: B },
      /* 6 */ { type: 'addDestination', service: B, destination: { address: '2001:db8::10', forwarding: 'masq', port: 5353 } },
      /* 7 */ { type: 'deleteDestination', service: A, destination: { address: '192.168.1.99' } }, // ENOENT
      /* 8 */ { type: 'updateDestination', service: A, destination: { address: '192.168.1.10', weight: 7 } },
      /* 9 */ { type: 'updateService', service: { ...M, scheduler: 'rr' } }, // ESRCH
      /* 10 */ { type: 'addService', service: { ...M, scheduler: 'nosuch' } }, // ENOENT (scheduler)
      /* 11 */ { type: 'addService', service: { ...M, scheduler: 'sh', schedulerFlags: ['sh-port'] } },
      /* 12 */ { type: 'updateService', service: { ...A, scheduler: 'wrr' } },
      /* 13 */ { type: 'deleteService', service: { protocol: 'sctp', address: '10.0.0.1', port: 80 } }, // ESRCH
      /* 14 */ { type: 'updateDestination', service: B, destination: { address: '2001:db8::11', forwarding: 'masq' } }, // ENOENT
      /* 15 */ { type: 'addDestination', service: M, destination: { address: '192.168.9.1', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080 } } },
      /* 16 */ { type: 'addDestination', service: M, destination: { address: '224.0.0.9' } }, // EINVAL
      /* 17 */ { type: 'deleteDestination', service: B, destination: { address: '2001:db8::10', port: 5353 } },
      /* 18 */ { type: 'deleteService', service: B },
      /* 19 */ { type: 'deleteService', service: B }, // ESRCH
    ];
    const results = await ipvs.batch(ops);
    const summary = results.map((r) => (r.ok ? 'ok' : `${r.error.op}:${r.error.code}`));
    expect(summary).toEqual([
      'ok',
      'addService:EEXIST',
      'ok',
      'addDestination:EEXIST',
      'addDestination:ESRCH',
      'ok',
      'ok',
      'deleteDestination:ENOENT',
      'ok',
      'updateService:ESRCH',
      'addService:ENOENT',
      'ok',
      'ok',
      'deleteService:ESRCH',
      'updateDestination:ENOENT',
      'ok',
      'addDestination:EINVAL',
      'ok',
      'ok',
      'deleteService:ESRCH',
    ]);
    for (const r of results) if (!r.ok) expect(r.error).toBeInstanceOf(IpvsError);
    const msg = (i: number): string => {
      const r = results[i]!;
      return r.ok ? 'ok' : r.error.message;
    };
    expect(msg(1)).toMatch(/^service tcp 10\.0\.0\.1:80 already exists \(EEXIST/);
    expect(msg(3)).toMatch(/^destination 192\.168\.1\.10:80 already exists in service tcp 10\.0\.0\.1:80 \(EEXIST/);
    expect(msg(4)).toMatch(/^no such service udp \[2001:db8::1\]:53 \(ESRCH/);
    expect(msg(7)).toMatch(/^no such destination 192\.168\.1\.99:80 in service tcp 10\.0\.0\.1:80 \(ENOENT/);
    expect(msg(10)).toMatch(/^unknown scheduler 'nosuch' \(no ip_vs_nosuch module\) \(ENOENT/);
    expect(msg(14)).toMatch(/^no such destination \[2001:db8::11\]:53 in service udp \[2001:db8::1\]:53 \(ENOENT/);
    expect(results[1]).toMatchObject({ ok: false, error: { errno: 17, code: 'EEXIST', op: 'addService' } });

    // The table is what the successful ops made it.
    expect(ok(ns.ipvsadm('-Sn')).trim().split('\n')).toEqual([
      '-A -t 10.0.0.1:80 -s wrr',
      '-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 7',
      '-A -f 9 -s sh -b sh-port',
      '-a -f 9 -r 192.168.9.1:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum',
    ]);
    expect(await tableByIpvs(ipvs)).toEqual(tableByIpvsadm(ns));
    await ipvs.flush();
  });

  it('an empty batch resolves to []', async () => {
    expect(await ipvs.batch([])).toEqual([]);
  });

  it('one invalid op rejects the whole batch naming its index, and nothing is sent', async () => {
    ok(ns.exec('ipvsadm', ['-R'], { input: '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.1.10 -g\n' }));
    const before = saved(ns);
    const valid = (i: number): BatchOp => ({ type: 'addService', service: { protocol: 'tcp', address: '10.0.1.1', port: 1000 + i } });
    const cases: [BatchOp[], typeof TypeError | typeof RangeError, RegExp][] = [
      [[valid(0), valid(1), valid(2), { type: 'addDestination', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 }, destination: { address: '192.168.1.11', weight: -1 } }, valid(4)], RangeError, /^ops\[3\]\.destination\.weight must be an integer 0–2147483647, got -1$/],
      [[valid(0), { type: 'addService', service: { protocol: 'tcp', address: '10.0.0.300', port: 80 } }], TypeError, /^ops\[1\]\.service\.address is not an IPv4 or IPv6 address: '10\.0\.0\.300'$/],
      [[{ type: 'deleteService', service: { fwmark: 0 } }, valid(1)], RangeError, /^ops\[0\]\.service\.fwmark/],
      [[valid(0), valid(1), { type: 'addServise', service: valid(2).service } as unknown as BatchOp], TypeError, /^ops\[2\]\.type must be .*got 'addServise'$/],
      [[valid(0), { type: 'addDestination', service: { protocol: 'tcp', address: '10.0.0.1', port: 80 }, destination: { address: '192.168.1.12', forwarding: 'tunnel', tunnel: { type: 'gue' } } }], TypeError, /^ops\[1\]\.destination\.tunnel\.port is required for a 'gue' tunnel$/],
      [[valid(0), null as unknown as BatchOp], TypeError, /^ops\[1\] must be an object, got null$/],
    ];
    // The last op of a long batch: every op before it would have been valid.
    const long = Array.from({ length: 6000 }, (_, i) => valid(i % 60000));
    long.push({ type: 'addService', service: { protocol: 'tcp', address: '10.0.0.2', port: 0 } });
    cases.push([long, RangeError, /^ops\[6000\]\.service\.port 0/]);
    // Not an array at all.
    cases.push([{ 0: valid(0), length: 1 } as unknown as BatchOp[], TypeError, /^ops must be an array of operations, got \{ '0': .*length: 1 \}$/]);
    cases.push([undefined as unknown as BatchOp[], TypeError, /^ops must be an array of operations, got undefined$/]);
    for (const [ops, kind, message] of cases) {
      const e = await ipvs.batch(ops).then(
        () => new Error('resolved'),
        (err: unknown) => err as Error,
      );
      expect(e.constructor, e.message).toBe(kind);
      expect(e.message).toMatch(message);
      expect(saved(ns)).toBe(before);
    }
    await ipvs.flush();
  });
});

describe('concurrency on one handle', () => {
  it('calls made without awaiting run in the order they were made', async () => {
    // Each service's five calls depend on the one before: any two swapped
    // (pool threads may reach the handle in any order) would fail one.
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const service = { protocol: 'udp' as const, address: `10.0.5.${(i % 250) + 1}`, port: 3000 + i };
      const destination = { address: `192.168.5.${(i % 250) + 1}`, weight: 1 };
      calls.push(
        ipvs.addService(service),
        ipvs.addDestination(service, destination),
        ipvs.updateDestination(service, { ...destination, weight: 2 }),
        ipvs.deleteDestination(service, destination),
        ipvs.deleteService(service),
      );
    }
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.filter((o) => o.status === 'rejected')).toEqual([]);
    expect(outcomes).toHaveLength(1500);
    expect(await ipvs.listServices()).toEqual([]);
  });

  it('many concurrent calls of different kinds each resolve with their own reply', async () => {
    const services = Array.from({ length: 40 }, (_, i) => ({ protocol: 'tcp' as const, address: '10.0.3.1', port: 2000 + i }));
    await Promise.all(services.map((s, i) => ipvs.addService({ ...s, scheduler: i % 2 ? 'rr' : 'wlc' })));
    await Promise.all(services.map((s, i) => ipvs.addDestination(s, { address: `192.168.3.${i + 1}`, weight: i })));

    const calls: Promise<unknown>[] = [];
    const expectations: ((v: unknown) => void)[] = [];
    for (let round = 0; round < 3; round++) {
      services.forEach((s, i) => {
        calls.push(ipvs.getService(s));
        expectations.push((v) => expect(v).toMatchObject({ port: 2000 + i, scheduler: i % 2 ? 'rr' : 'wlc' }));
        calls.push(ipvs.listDestinations(s));
        expectations.push((v) => expect(v).toMatchObject([{ address: `192.168.3.${i + 1}`, weight: i }]));
        calls.push(ipvs.getService({ ...s, protocol: 'udp' }));
        expectations.push((v) => expect(v).toBeUndefined());
      });
      calls.push(ipvs.info());
      expectations.push((v) => expect(v).toMatchObject({ version: '1.2.1' }));
      calls.push(ipvs.getTimeouts());
      expectations.push((v) => expect(v).toHaveProperty('tcp'));
      calls.push(ipvs.listServices());
      expectations.push((v) => expect(v).toHaveLength(40));
      calls.push(ipvs.snapshot());
      expectations.push((v) => expect((v as unknown[]).length).toBe(40));
      calls.push(ipvs.addService(services[0]!).catch((e: IpvsError) => e.code));
      expectations.push((v) => expect(v).toBe('EEXIST'));
      calls.push(ipvs.listDestinations({ fwmark: 77 }).catch((e: IpvsError) => e.code));
      expectations.push((v) => expect(v).toBe('ESRCH'));
    }
    const values = await Promise.all(calls);
    expect(values).toHaveLength(expectations.length);
    values.forEach((v, i) => expectations[i]!(v));

    // Concurrent batches and single calls interleave without mixing replies.
    const batches = await Promise.all([
      ipvs.batch(services.slice(0, 20).map((s) => ({ type: 'updateService', service: { ...s, scheduler: 'sed' } }) as BatchOp)),
      ipvs.getService(services[30]!),
      ipvs.batch(services.slice(20).map((s) => ({ type: 'deleteService', service: { ...s, protocol: 'udp' } }) as BatchOp)),
      ipvs.batch(services.slice(20).map((s) => ({ type: 'updateService', service: { ...s, scheduler: 'nq' } }) as BatchOp)),
    ]);
    expect((batches[0] as { ok: boolean }[]).every((r) => r.ok)).toBe(true);
    expect(batches[1]).toMatchObject({ port: 2030, scheduler: 'wlc' });
    expect((batches[2] as { ok: boolean; error?: IpvsError }[]).map((r) => r.error?.code)).toEqual(Array(20).fill('ESRCH'));
    expect((batches[3] as { ok: boolean }[]).every((r) => r.ok)).toBe(true);
    const sched = new Map((await ipvs.listServices()).map((s) => [serviceKeyId(s), s.scheduler]));
    services.forEach((s, i) => expect(sched.get(serviceKeyId(s))).toBe(i < 20 ? 'sed' : 'nq'));
    await ipvs.flush();
  });
});
