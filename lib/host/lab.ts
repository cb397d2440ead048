/**
 * Throw-away LVS topologies in network namespaces, for integration tests:
 * a client, a director and real servers joined by veth pairs and bridges,
 * with a tiny TCP server on each real server that answers with its name.
 *
 * ```
 * route, tunnel:  client.eth0, director.eth0, rs1.eth0 … rsN.eth0  ── br0
 * masq:           client.eth0, director.eth0                       ── br0
 *                 director.eth1, rs1.eth0 … rsN.eth0               ── br1
 * ```
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

import { Ipvs } from '../ipvs.js';
import type { Family, Forwarding, ServiceKey } from '../types.js';
import { LabParts, netnsPath as path, type LabServer } from './lab-parts.js';
import { configureDirector, configureRealServer } from './lvs.js';
import { host } from './native.js';
import { checkIfName } from './validate.js';

/** Options of {@link createLab}. */
export interface LabOptions {
  /** How the director forwards: `'route'` (DR), `'masq'` (NAT) or `'tunnel'` (ipip). */
  forwarding: Forwarding;
  /** One entry per real server, in order (`rs1`, `rs2`, …). */
  realServers: readonly {
    /** Its IPVS weight. */
    weight: number;
  }[];
  /** IPVS scheduler; default `'wlc'`. */
  scheduler?: string;
  /** Service (and real server) TCP port; default 80. */
  port?: number;
  /** Address family of every address in the lab; default `'inet'`. */
  family?: Family;
  /** Name of the director's client-facing NIC, which carries the VIP; default `eth0` (the origin: `bond0.4001`). */
  directorDev?: string;
  /** Limit for each wait of {@link Lab.request} (connect, read), ms; default 5000. */
  timeoutMs?: number;
  /**
   * A second director on the client segment, without the VIP and without an
   * IPVS table (direct routing only): the standby of a pair, for failover
   * tests ({@link Lab.standby}).
   */
  standby?: boolean;
  /**
   * Also an echo service on this port: every real server echoes what it
   * receives until the client closes, and the director has a second IPVS
   * service VIP:echoPort with the same real servers ({@link Lab.echoService}),
   * for long-lived connections that exchange data.
   */
  echoPort?: number;
}

/** A real server of a {@link Lab}. */
export interface LabRealServer {
  /** What its TCP server answers (`rs1`, `rs2`, …). */
  name: string;
  /** Its address on the director-facing segment (the IPVS destination). */
  address: string;
  /** Its network namespace name (under /run/netns). */
  netns: string;
  /** Its IPVS weight. */
  weight: number;
}

/** One client connection's outcome, from {@link Lab.requestDetails}. */
export interface LabAnswer {
  /** The name of the real server that answered. */
  server: string;
  /** The client's source port: equal ports mean the kernel may fold connections. */
  localPort: number;
}

/** A running lab from {@link createLab}. */
export interface Lab {
  /** IPVS handle on the director's namespace (closed by {@link Lab.destroy}). */
  ipvs: Ipvs;
  /** The virtual IP the client connects to. */
  vip: string;
  /** The service port (also the real servers' port). */
  port: number;
  /** The IPVS service key (`tcp`, vip, port). */
  service: ServiceKey;
  /** The forwarding method of every destination. */
  forwarding: Forwarding;
  /** The family of every address in the lab. */
  family: Family;
  /** The real servers, in the order of {@link LabOptions.realServers}. */
  realServers: LabRealServer[];
  /** The client host. */
  client: {
    /** Its network namespace name. */
    netns: string;
    /** Its address. */
    address: string;
  };
  /** The director host. */
  director: {
    /** Its network namespace name (where `ipvs` works). */
    netns: string;
    /** Its own address on the client segment. */
    address: string;
    /** Its client-facing NIC, which carries the VIP. */
    dev: string;
  };
  /** The second director, when {@link LabOptions.standby} asked for one: no VIP, no table. */
  standby?: {
    /** Its network namespace name. */
    netns: string;
    /** Its own address on the client segment. */
    address: string;
    /** Its client-facing NIC (the VIP's link once it is moved there). */
    dev: string;
  };
  /** The echo service (`tcp`, vip, echoPort), when {@link LabOptions.echoPort} asked for one. */
  echoService?: ServiceKey;
  /** The namespace holding the bridges. */
  switch: {
    /** Its network namespace name. */
    netns: string;
  };
  /** One TCP connection from the client to the VIP; resolves to the answering server's name. */
  request(): Promise<string>;
  /** Like {@link Lab.request}, with the client port used. */
  requestDetails(): Promise<LabAnswer>;
  /**
   * Stops a real server's TCP server from listening (new connections are
   * refused; those it holds stay), as a crashed service would look to a
   * health check. Nothing happens if it is stopped already.
   */
  stopServer(name: string): Promise<void>;
  /** Starts a stopped real server's TCP server again. */
  startServer(name: string): Promise<void>;
  /**
   * Stops the servers, closes the IPVS handle and deletes every namespace
   * (which destroys their links and addresses). Idempotent; rejects with the
   * first failure after trying every step.
   */
  destroy(): Promise<void>;
}

let labCounter = 0;

interface Plan {
  prefixLength: number;
  front: (host: number) => string;
  back: (host: number) => string;
}

const PLANS: Record<Family, Plan> = {
  inet: { prefixLength: 24, front: (h) => `10.77.0.${h}`, back: (h) => `10.77.1.${h}` },
  inet6: { prefixLength: 64, front: (h) => `fd77::${h.toString(16)}`, back: (h) => `fd77:1::${h.toString(16)}` },
};
const DIRECTOR = 1;
const CLIENT = 2;
const STANDBY = 3;
const VIP = 100;
const FIRST_RS = 11;

/**
 * Builds a lab: namespaces `<prefix>-sw`, `-client`, `-director`, `-rs1`…, veth
 * pairs into bridges in the switch namespace, addresses (IPv4 10.77.0.0/24 for
 * clients and DR/TUN real servers, 10.77.1.0/24 behind a NAT director; IPv6
 * fd77::/64 and fd77:1::/64), the director set up by {@link configureDirector},
 * DR/TUN real servers by {@link configureRealServer}, NAT real servers routed
 * through the director, and the IPVS service with one destination per server.
 *
 * Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), ip_vs, veth and bridge (and ipip
 * for `tunnel`). On failure everything built so far is removed.
 */
export async function createLab(options: LabOptions): Promise<Lab> {
  if (typeof options !== 'object' || options === null) throw new TypeError('createLab expects an options object');
  const forwarding = options.forwarding;
  if (!['route', 'masq', 'tunnel'].includes(forwarding)) throw new TypeError(`forwarding must be 'route', 'masq' or 'tunnel', got ${String(forwarding)}`);
  const family = options.family ?? 'inet';
  if (family !== 'inet' && family !== 'inet6') throw new TypeError(`family must be 'inet' or 'inet6', got ${String(family)}`);
  const port = options.port ?? 80;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1–65535, got ${port}`);
  const scheduler = options.scheduler ?? 'wlc';
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 3_600_000) throw new RangeError(`timeoutMs must be an integer from 1 to 3600000, got ${timeoutMs}`);
  const directorDev = checkIfName(options.directorDev ?? 'eth0', 'directorDev');
  if (!Array.isArray(options.realServers) || options.realServers.length === 0 || options.realServers.length > 200) {
    throw new RangeError('realServers must list 1–200 servers');
  }
  for (const [i, rs] of options.realServers.entries()) {
    if (!Number.isInteger(rs?.weight) || rs.weight < 0) throw new RangeError(`realServers[${i}].weight must be an integer ≥ 0`);
  }
  if (options.standby !== undefined && typeof options.standby !== 'boolean') throw new TypeError(`standby must be true or false, got ${String(options.standby)}`);
  if (options.standby && forwarding !== 'route') throw new RangeError(`standby: a second director is built for direct routing only, not '${forwarding}'`);
  const echoPort = options.echoPort;
  if (echoPort !== undefined && (!Number.isInteger(echoPort) || echoPort < 1 || echoPort > 65535 || echoPort === port)) {
    throw new RangeError(`echoPort must be 1–65535 and not the service port ${port}, got ${String(echoPort)}`);
  }

  const plan = PLANS[family];
  const masq = forwarding === 'masq';
  const prefix = `lvslab-${process.pid}-${++labCounter}-${randomBytes(2).toString('hex')}`;
  const names = {
    sw: `${prefix}-sw`,
    client: `${prefix}-client`,
    director: `${prefix}-director`,
    standby: `${prefix}-director2`,
    rs: options.realServers.map((_, i) => `${prefix}-rs${i + 1}`),
  };
  const vip = plan.front(VIP);
  const rsAddress = (i: number): string => (masq ? plan.back : plan.front)(FIRST_RS + i);

  const parts = new LabParts(family);
  // servers[i] is realServers[i]'s (stopServer and startServer replace it).
  const servers: LabServer[] = [];
  const destroy = (): Promise<void> => parts.destroy();

  try {
    await parts.addNamespaces([names.sw, names.client, names.director, ...(options.standby ? [names.standby] : []), ...names.rs]);
    await host().createBridge(path(names.sw), 'br0');
    if (masq) await host().createBridge(path(names.sw), 'br1');

    const plug = (ns: string, dev: string, port: string, bridge: string, address: string): Promise<void> =>
      parts.plug(names.sw, ns, dev, port, bridge, address, plan.prefixLength);
    await plug(names.client, 'eth0', 'client', 'br0', plan.front(CLIENT));
    await plug(names.director, directorDev, 'director', 'br0', plan.front(DIRECTOR));
    if (options.standby) await plug(names.standby, directorDev, 'director2', 'br0', plan.front(STANDBY));
    if (masq) await plug(names.director, directorDev === 'eth1' ? 'eth2' : 'eth1', 'director1', 'br1', plan.back(DIRECTOR));
    for (const [i, ns] of names.rs.entries()) await plug(ns, 'eth0', `rs${i + 1}`, masq ? 'br1' : 'br0', rsAddress(i));

    await configureDirector({ vip, dev: directorDev, netns: names.director, forwarding });
    for (const ns of names.rs) {
      if (masq) await host().addRoute(path(ns), 'eth0', null, 0, plan.back(DIRECTOR));
      else await configureRealServer({ vips: [vip], interfaces: ['eth0'], netns: ns, tunnel: forwarding === 'tunnel' });
    }

    const realServers: LabRealServer[] = names.rs.map((ns, i) => ({
      name: `rs${i + 1}`,
      address: rsAddress(i),
      netns: ns,
      weight: options.realServers[i]!.weight,
    }));
    // One TCP server per real server, inside its namespace: it says the server's name.
    const listen = async (i: number): Promise<void> => {
      const rs = realServers[i]!;
      servers[i] = await parts.listen(rs.netns, port, 511, (socket) => socket.end(rs.name));
    };
    for (let i = 0; i < realServers.length; i++) await listen(i);
    // Echo servers: what the client sends comes back, until it closes.
    if (echoPort !== undefined) {
      for (const rs of realServers) await parts.listen(rs.netns, echoPort, 511, (socket) => socket.pipe(socket));
    }
    const indexOf = (name: string): number => {
      const i = realServers.findIndex((rs) => rs.name === name);
      if (i < 0) throw new RangeError(`no real server named ${JSON.stringify(name)} in this lab (${realServers.map((rs) => rs.name).join(', ')})`);
      return i;
    };

    const ipvs = parts.keep(await Ipvs.open({ netns: names.director }));
    const service: ServiceKey = { protocol: 'tcp', address: vip, port };
    await ipvs.addService({ ...service, scheduler });
    for (const rs of realServers) await ipvs.addDestination(service, { address: rs.address, port, forwarding, weight: rs.weight });
    const echoService: ServiceKey | undefined = echoPort === undefined ? undefined : { protocol: 'tcp', address: vip, port: echoPort };
    if (echoService) {
      await ipvs.addService({ ...echoService, scheduler });
      for (const rs of realServers) await ipvs.addDestination(echoService, { address: rs.address, port: echoPort, forwarding, weight: rs.weight });
    }

    const requestDetails = async (): Promise<LabAnswer> => {
      const r = await host().tcpRequest(path(names.client), vip, port, timeoutMs, 256);
      return { server: r.data, localPort: r.localPort };
    };
    return {
      ipvs,
      vip,
      port,
      service,
      forwarding,
      family,
      realServers,
      client: { netns: names.client, address: plan.front(CLIENT) },
      director: { netns: names.director, address: plan.front(DIRECTOR), dev: directorDev },
      ...(options.standby ? { standby: { netns: names.standby, address: plan.front(STANDBY), dev: directorDev } } : {}),
      ...(echoService ? { echoService } : {}),
      switch: { netns: names.sw },
      request: async () => (await requestDetails()).server,
      requestDetails,
      stopServer: async (name: string) => {
        const entry = servers[indexOf(name)];
        // close() stops listening at once; its callback would wait for held connections.
        if (entry?.server.listening) entry.server.close();
      },
      startServer: async (name: string) => {
        const i = indexOf(name);
        if (servers[i]?.server.listening) return;
        const old = servers[i];
        await listen(i);
        // Connections accepted before the stop stay where destroy() finds them.
        if (old) for (const s of old.sockets) servers[i]!.sockets.add(s);
      },
      destroy,
    };
  } catch (e) {
    await destroy().catch(() => undefined);
    throw e;
  }
}
