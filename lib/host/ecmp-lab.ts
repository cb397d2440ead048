/**
 * A scale-out lab: several active directors behind an upstream router that
 * spreads flows over them by equal-cost multipath, for integration tests.
 *
 * ```
 * client.eth0 ── br0 ── router.eth0   router.eth1 ── br1 ── d1.eth0 … dN.eth0, rs1.eth0 … rsM.eth0
 * ```
 *
 * The router holds a multipath route for the VIP over every director (L4
 * hash policy: flows spread by ports too); each director holds the VIP on
 * `lo` (it neither answers ARP for it nor announces it), `sloppy_tcp` on (it
 * picks up a flow mid-stream), and the same IPVS table: one service, the
 * real servers in direct routing. The real servers hold the VIP on `lo` and
 * answer the client through the router. Each real server runs an echo
 * server that first says its name.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

import { Ipvs } from '../ipvs.js';
import type { Family, ServiceKey } from '../types.js';
import { LabParts, netnsPath as path } from './lab-parts.js';
import { configureRealServer } from './lvs.js';
import { host } from './native.js';
import { setRoute } from './routes.js';
import { writeSysctl } from './sysctl.js';

/** Options of {@link createEcmpLab}. */
export interface EcmpLabOptions {
  /** Active directors, 2–16. */
  directors: number;
  /** One entry per real server. */
  realServers: readonly {
    /** Its IPVS weight. */
    weight: number;
  }[];
  /** IPVS scheduler of every director; default `'mh'`. */
  scheduler?: string;
  /** Scheduler flags (`mh-fallback`, `mh-port`). */
  schedulerFlags?: ('mh-fallback' | 'mh-port')[];
  /** Service port; default 80. */
  port?: number;
  /** Address family of the lab; default `'inet'`. */
  family?: Family;
}

/** A director of an {@link EcmpLab}. */
export interface EcmpDirector {
  /** `d1`, `d2`, … */
  name: string;
  /** Its network namespace. */
  netns: string;
  /** Its address on the server segment (the router's next hop). */
  address: string;
  /** Its IPVS handle (closed by {@link EcmpLab.destroy}). */
  ipvs: Ipvs;
}

/** A running lab from {@link createEcmpLab}. */
export interface EcmpLab {
  /** The VIP. */
  vip: string;
  /** The service port. */
  port: number;
  /** The family of every address. */
  family: Family;
  /** The IPVS service key on every director. */
  service: ServiceKey;
  /** The directors, in order. */
  directors: EcmpDirector[];
  /** The real servers. */
  realServers: {
    /** `rs1`, `rs2`, …: what its echo server says first. */
    name: string;
    /** Its address (the IPVS destination). */
    address: string;
    /** Its network namespace. */
    netns: string;
    /** Its IPVS weight. */
    weight: number;
  }[];
  /** The client. */
  client: {
    /** Its network namespace. */
    netns: string;
    /** Its address. */
    address: string;
  };
  /** The upstream router. */
  router: {
    /** Its network namespace. */
    netns: string;
    /** Its link to the directors (the multipath route's). */
    dev: string;
  };
  /** Points the router's VIP route at these directors (all by default): a multipath route replaced in one step. */
  route(directors?: readonly EcmpDirector[]): Promise<void>;
  /** Stops the servers, closes the handles, deletes every namespace. */
  destroy(): Promise<void>;
}

const PLANS: Record<Family, { prefix: number; client: (h: number) => string; server: (h: number) => string; vip: string }> = {
  inet: { prefix: 24, client: (h) => `10.78.0.${h}`, server: (h) => `10.77.0.${h}`, vip: '10.79.0.100' },
  inet6: { prefix: 64, client: (h) => `fd78::${h.toString(16)}`, server: (h) => `fd77::${h.toString(16)}`, vip: 'fd79::100' },
};
const ROUTER = 254;
let labs = 0;

/**
 * Builds a scale-out lab (see the module's documentation). Needs root,
 * ip_vs (and the scheduler's module), veth and bridge. On failure
 * everything built so far is removed.
 */
export async function createEcmpLab(options: EcmpLabOptions): Promise<EcmpLab> {
  if (typeof options !== 'object' || options === null) throw new TypeError('createEcmpLab expects an options object');
  const n = options.directors;
  if (!Number.isInteger(n) || n < 2 || n > 16) throw new RangeError(`directors must be an integer 2–16, got ${String(n)}`);
  if (!Array.isArray(options.realServers) || options.realServers.length < 1 || options.realServers.length > 64) throw new RangeError('realServers must list 1–64 servers');
  const family = options.family ?? 'inet';
  const plan = PLANS[family];
  if (!plan) throw new TypeError(`family must be 'inet' or 'inet6', got ${String(family)}`);
  const port = options.port ?? 80;
  const prefix = `ecmplab-${process.pid}-${++labs}-${randomBytes(2).toString('hex')}`;
  const names = {
    sw: `${prefix}-sw`,
    client: `${prefix}-client`,
    router: `${prefix}-router`,
    directors: Array.from({ length: n }, (_, i) => `${prefix}-d${i + 1}`),
    rs: options.realServers.map((_, i) => `${prefix}-rs${i + 1}`),
  };
  const parts = new LabParts(family);
  const destroy = (): Promise<void> => parts.destroy();

  try {
    await parts.addNamespaces([names.sw, names.client, names.router, ...names.directors, ...names.rs]);
    await host().createBridge(path(names.sw), 'br0');
    await host().createBridge(path(names.sw), 'br1');
    const plug = (ns: string, dev: string, portName: string, bridge: string, address: string): Promise<void> =>
      parts.plug(names.sw, ns, dev, portName, bridge, address, plan.prefix);
    const defaultVia = async (ns: string, gateway: string): Promise<void> => host().addRoute(path(ns), 'eth0', null, 0, gateway);

    await plug(names.client, 'eth0', 'client', 'br0', plan.client(2));
    await defaultVia(names.client, plan.client(1));
    await plug(names.router, 'eth0', 'router0', 'br0', plan.client(1));
    await plug(names.router, 'eth1', 'router1', 'br1', plan.server(ROUTER));
    await writeSysctl(family === 'inet' ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding', 1, { netns: names.router });
    // Hash on ports too: flows of one client spread over the directors.
    await writeSysctl(family === 'inet' ? 'net.ipv4.fib_multipath_hash_policy' : 'net.ipv6.fib_multipath_hash_policy', 1, { netns: names.router });

    const service: ServiceKey = { protocol: 'tcp', address: plan.vip, port };
    const realServers = options.realServers.map((rs, i) => ({ name: `rs${i + 1}`, address: plan.server(11 + i), netns: names.rs[i]!, weight: rs.weight }));
    const directors: EcmpDirector[] = [];
    for (const [i, ns] of names.directors.entries()) {
      await plug(ns, 'eth0', `d${i + 1}`, 'br1', plan.server(i + 1));
      await defaultVia(ns, plan.server(ROUTER));
      // The VIP on lo, ARP for it neither answered nor announced: the router reaches a director by its own address.
      await configureRealServer({ vips: [plan.vip], interfaces: ['eth0'], netns: ns });
      await writeSysctl('net.ipv4.vs.sloppy_tcp', 1, { netns: ns });
      const ipvs = parts.keep(await Ipvs.open({ netns: ns }));
      await ipvs.addService({ ...service, scheduler: options.scheduler ?? 'mh', ...(options.schedulerFlags ? { schedulerFlags: options.schedulerFlags } : {}) });
      for (const rs of realServers) await ipvs.addDestination(service, { address: rs.address, forwarding: 'route', weight: rs.weight });
      directors.push({ name: `d${i + 1}`, netns: ns, address: plan.server(i + 1), ipvs });
    }
    for (const rs of realServers) {
      await plug(rs.netns, 'eth0', rs.name, 'br1', rs.address);
      await defaultVia(rs.netns, plan.server(ROUTER));
      await configureRealServer({ vips: [plan.vip], interfaces: ['eth0'], netns: rs.netns });
      await parts.listen(rs.netns, port, 1024, (socket) => {
        socket.write(`${rs.name}\n`);
        socket.pipe(socket);
      });
    }

    const route = async (over: readonly EcmpDirector[] = directors): Promise<void> => {
      await setRoute({ netns: names.router, destination: plan.vip, nextHops: over.map((d) => ({ gateway: d.address, dev: 'eth1' })), replace: true });
    };
    await route();
    return {
      vip: plan.vip,
      port,
      family,
      service,
      directors,
      realServers,
      client: { netns: names.client, address: plan.client(2) },
      router: { netns: names.router, dev: 'eth1' },
      route,
      destroy,
    };
  } catch (e) {
    await destroy().catch(() => undefined);
    throw e;
  }
}
