// Scenarios recorded from the real kernel (scripts/record-peer-fixtures.mjs)
// and played back on the host (test/unit/peer-replay.test.ts,
// test/unit/peer-model.test.ts). Each drives an `Ipvs` handle through the
// public API and returns what every step gave, errors in words included, so
// that a replay can be checked for the same outcome as well as the same bytes.
//
// They must be deterministic: the same calls in the same order, whatever
// answers. `settle` waits in the real kernel (a sync daemon's thread must
// run before it can be stopped) and not at all in a replay.
import type { Ipvs } from '../../lib/ipvs.js';
import type { ServiceKey } from '../../lib/types.js';

export interface ScenarioContext {
  settle(ms: number): Promise<void>;
}

/** A step's outcome: its value (bigints as strings), or its error's code and message. */
export type Outcome = { ok: unknown } | { error: string; message: string };

export interface Scenario {
  /** What the recording namespace needs first (`ip` arguments, run in order). */
  setup: string[][];
  run(ipvs: Ipvs, ctx: ScenarioContext): Promise<Outcome[]>;
}

const plain = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v ?? null, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)));

async function step(out: Outcome[], call: () => Promise<unknown>): Promise<void> {
  try {
    out.push({ ok: plain(await call()) });
  } catch (e) {
    const err = e as { code?: string; message?: string };
    out.push({ error: err.code ?? 'unknown', message: err.message ?? String(e) });
  }
}

// Routes that make the destinations below routable unicast addresses.
const routes = [
  ['link', 'add', 'dummy0', 'type', 'dummy'],
  ['link', 'set', 'dummy0', 'up'],
  ['addr', 'add', '10.0.0.254/8', 'dev', 'dummy0'],
  ['addr', 'add', '2001:db8::fe/64', 'dev', 'dummy0', 'nodad'],
];

const web: ServiceKey = { protocol: 'tcp', address: '192.0.2.10', port: 80 };
const dns: ServiceKey = { protocol: 'udp', address: '192.0.2.53', port: 53 };
const v6: ServiceKey = { protocol: 'tcp', address: '2001:db8:1::10', port: 443 };
const mark: ServiceKey = { fwmark: 7, family: 'inet6' };

export const scenarios: Record<string, Scenario> = {
  basics: {
    setup: [],
    async run(ipvs) {
      const out: Outcome[] = [];
      await step(out, () => ipvs.info());
      await step(out, () => ipvs.getTimeouts());
      await step(out, () => ipvs.setTimeouts({ tcp: 1000, udp: 20 }));
      await step(out, () => ipvs.getTimeouts());
      await step(out, () => ipvs.setTimeouts({ tcpFin: 0 }));
      await step(out, () => ipvs.listServices());
      await step(out, () => ipvs.snapshot());
      await step(out, () => ipvs.listDaemons());
      await step(out, () => ipvs.flush());
      return out;
    },
  },

  services: {
    setup: [],
    async run(ipvs) {
      const out: Outcome[] = [];
      await step(out, () => ipvs.addService({ ...web, scheduler: 'wlc' }));
      await step(out, () =>
        ipvs.addService({ ...dns, scheduler: 'rr', persistence: { timeout: 600, netmask: '255.255.255.0' } }),
      );
      await step(out, () => ipvs.addService({ ...v6, scheduler: 'sh', schedulerFlags: ['sh-port'] }));
      await step(out, () => ipvs.addService({ ...mark, scheduler: 'mh', schedulerFlags: ['mh-fallback'] }));
      await step(out, () =>
        ipvs.addService({
          protocol: 'udp',
          address: '192.0.2.60',
          port: 5060,
          scheduler: 'rr',
          persistence: { timeout: 30 },
          persistenceEngine: 'sip',
          onePacket: true,
        }),
      );
      await step(out, () => ipvs.getService(web));
      await step(out, () => ipvs.getService(v6));
      await step(out, () => ipvs.getService(mark));
      await step(out, () => ipvs.getService({ protocol: 'tcp', address: '192.0.2.99', port: 1 }));
      await step(out, () => ipvs.addService({ ...web, scheduler: 'rr' }));
      await step(out, () => ipvs.addService({ protocol: 'tcp', address: '192.0.2.11', port: 80, scheduler: 'nosuch' }));
      await step(out, () => ipvs.updateService({ ...web, scheduler: 'sed', persistence: { timeout: 60 } }));
      await step(out, () => ipvs.updateService({ protocol: 'sctp', address: '192.0.2.12', port: 9, scheduler: 'rr' }));
      await step(out, () => ipvs.listServices());
      await step(out, () => ipvs.deleteService(dns));
      await step(out, () => ipvs.deleteService(dns));
      await step(out, () => ipvs.snapshot());
      return out;
    },
  },

  destinations: {
    setup: routes,
    async run(ipvs) {
      const out: Outcome[] = [];
      await step(out, () => ipvs.addService({ ...web, scheduler: 'wlc' }));
      await step(out, () => ipvs.addService({ ...v6, scheduler: 'wrr' }));
      await step(out, () => ipvs.addDestination(web, { address: '10.0.0.11', weight: 1000 }));
      await step(out, () => ipvs.addDestination(web, { address: '10.0.0.12', weight: 500, forwarding: 'masq', port: 8080 }));
      await step(out, () =>
        ipvs.addDestination(web, { address: '10.0.0.13', weight: 800, forwarding: 'tunnel', upperThreshold: 100, lowerThreshold: 10 }),
      );
      await step(out, () =>
        ipvs.addDestination(web, {
          address: '10.0.0.14',
          forwarding: 'tunnel',
          tunnel: { type: 'gue', port: 6080, checksum: 'remcsum' },
        }),
      );
      await step(out, () => ipvs.addDestination(v6, { address: '2001:db8::21', weight: 3 }));
      await step(out, () => ipvs.addDestination(v6, { address: '10.0.0.22', forwarding: 'tunnel' }));
      await step(out, () => ipvs.addDestination(web, { address: '10.0.0.11', weight: 1 }));
      await step(out, () => ipvs.deleteDestination(web, { address: '10.0.0.99' }));
      await step(out, () => ipvs.addDestination({ ...web, port: 81 }, { address: '10.0.0.11' }));
      await step(out, () => ipvs.updateDestination(web, { address: '10.0.0.11', weight: 0 }));
      await step(out, () => ipvs.updateDestination(web, { address: '10.0.0.98', weight: 7 }));
      await step(out, () => ipvs.listDestinations(web));
      await step(out, () => ipvs.listDestinations(v6));
      await step(out, () => ipvs.listDestinations({ ...web, port: 82 }));
      await step(out, () => ipvs.deleteDestination(web, { address: '10.0.0.12', port: 8080 }));
      await step(out, () => ipvs.snapshot());
      return out;
    },
  },

  batch: {
    setup: routes,
    async run(ipvs) {
      const out: Outcome[] = [];
      const ops = [];
      for (let i = 0; i < 12; i++) {
        const svc: ServiceKey = { protocol: 'tcp', address: '192.0.2.20', port: 1000 + i };
        ops.push({ type: 'addService' as const, service: { ...svc, scheduler: i % 2 ? 'rr' : 'wlc' } });
        ops.push({ type: 'addDestination' as const, service: svc, destination: { address: `10.0.1.${i + 1}`, weight: i } });
      }
      ops.push({ type: 'addService' as const, service: { protocol: 'tcp', address: '192.0.2.20', port: 1000, scheduler: 'rr' } });
      ops.push({ type: 'deleteService' as const, service: { protocol: 'tcp', address: '192.0.2.21', port: 1 } });
      ops.push({
        type: 'deleteDestination' as const,
        service: { protocol: 'tcp', address: '192.0.2.20', port: 1001 },
        destination: { address: '10.0.9.9' },
      });
      ops.push({ type: 'updateService' as const, service: { protocol: 'tcp', address: '192.0.2.20', port: 1002, scheduler: 'lc' } });
      await step(out, async () => (await ipvs.batch(ops)).map((r) => (r.ok ? 'ok' : r.error.message)));
      await step(out, () => ipvs.snapshot());
      return out;
    },
  },

  bigdump: {
    setup: routes,
    async run(ipvs) {
      // Enough services for several dump datagrams, and a chain of destination dumps.
      const out: Outcome[] = [];
      const ops = [];
      for (let i = 0; i < 240; i++) {
        const svc: ServiceKey =
          i % 3 === 2
            ? { protocol: 'tcp', address: `2001:db8:2::${i}`, port: 80 }
            : { protocol: i % 3 ? 'udp' : 'tcp', address: `198.51.100.${i % 250}`, port: 1 + i };
        ops.push({ type: 'addService' as const, service: { ...svc, scheduler: 'wrr' } });
        for (let d = 0; d < i % 5; d++) {
          const address = i % 3 === 2 ? `2001:db8::${100 + d}` : `10.0.2.${d + 1}`;
          ops.push({ type: 'addDestination' as const, service: svc, destination: { address, weight: d + 1 } });
        }
      }
      for (let f = 1; f <= 20; f++) ops.push({ type: 'addService' as const, service: { fwmark: f, scheduler: 'rr' } });
      await step(out, async () => (await ipvs.batch(ops)).filter((r) => !r.ok).length);
      await step(out, async () => (await ipvs.listServices()).map((s) => s.scheduler).length);
      await step(out, () => ipvs.snapshot());
      await step(out, () => ipvs.flush());
      return out;
    },
  },

  daemons: {
    setup: [
      ['link', 'add', 'sync0', 'type', 'dummy'],
      ['link', 'set', 'sync0', 'up'],
      ['addr', 'add', '10.9.0.1/24', 'dev', 'sync0'],
      ['link', 'add', 'sync1', 'type', 'dummy'],
      ['link', 'set', 'sync1', 'up'],
      ['addr', 'add', '10.9.1.1/24', 'dev', 'sync1'],
    ],
    async run(ipvs, ctx) {
      const out: Outcome[] = [];
      await step(out, () =>
        ipvs.startDaemon({ state: 'master', interface: 'sync0', syncId: 5, maxLength: 1400, group: '239.1.2.3', port: 9000, ttl: 2 }),
      );
      await step(out, () => ipvs.startDaemon({ state: 'backup', interface: 'sync1' }));
      await ctx.settle(500);
      await step(out, () => ipvs.listDaemons());
      await step(out, () => ipvs.startDaemon({ state: 'master', interface: 'sync1', syncId: 9 }));
      await step(out, () => ipvs.startDaemon({ state: 'backup', interface: 'nosuch0' }));
      await step(out, () => ipvs.stopDaemon('master'));
      await step(out, () => ipvs.stopDaemon('master'));
      await step(out, () => ipvs.stopDaemon('backup'));
      await step(out, () => ipvs.listDaemons());
      return out;
    },
  },

  zeroflush: {
    setup: routes,
    async run(ipvs) {
      const out: Outcome[] = [];
      await step(out, () => ipvs.addService({ ...web, scheduler: 'wlc' }));
      await step(out, () => ipvs.addDestination(web, { address: '10.0.0.11' }));
      await step(out, () => ipvs.zero(web));
      await step(out, () => ipvs.zero({ ...web, port: 99 }));
      await step(out, () => ipvs.zero());
      await step(out, () => ipvs.flush());
      await step(out, () => ipvs.snapshot());
      return out;
    },
  },
};

/** The interfaces the daemons scenario creates, with their MTU, for the model. */
export const SCENARIO_INTERFACES = { lo: 65536, sync0: 1500, sync1: 1500 };
