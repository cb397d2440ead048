/**
 * What the test labs (`createLab`, `createEcmpLab`) build from:
 * namespaces joined by veth pairs to bridges in a switch namespace, TCP
 * servers listening inside namespaces, IPVS handles, and one teardown that
 * removes all of it in reverse order. Internal: not exported by the package.
 *
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';

import type { Ipvs } from '../ipvs.js';
import type { Family } from '../types.js';
import { addAddress, setLinkUp } from './address.js';
import { host } from './native.js';
import { createNetns, deleteNetns } from './netns.js';
import { writeSysctl } from './sysctl.js';
import { checkIfName, netnsArg } from './validate.js';

/** A TCP server of a lab and the connections it holds. */
export interface LabServer {
  server: Server;
  sockets: Set<Socket>;
}

/** The path of a named namespace, as the native helpers take it. */
export const netnsPath = (ns: string): string => netnsArg(ns) as string;

/** Everything a lab creates, kept so that {@link LabParts.destroy} can remove it. */
export class LabParts {
  readonly #namespaces: string[] = [];
  readonly #servers: LabServer[] = [];
  readonly #handles: Ipvs[] = [];
  readonly #family: Family;
  #destroyed = false;

  /** Parts of a lab whose addresses are all of `family`. */
  constructor(family: Family) {
    this.#family = family;
  }

  /**
   * Creates the namespaces, each with `lo` up. New namespaces copy conf/all
   * and conf/default from the initial one: for IPv6 duplicate address
   * detection is turned off, so that addresses are usable at once instead
   * of after a second or more.
   */
  async addNamespaces(names: readonly string[]): Promise<void> {
    for (const ns of names) {
      await createNetns(ns);
      this.#namespaces.push(ns);
      await setLinkUp('lo', { netns: ns });
      if (this.#family === 'inet6') {
        await writeSysctl('net.ipv6.conf.all.accept_dad', 0, { netns: ns });
        await writeSysctl('net.ipv6.conf.default.accept_dad', 0, { netns: ns });
      }
    }
  }

  /** A veth pair: `dev` in `ns` with `address`, its peer `port` in `switchNs` on `bridge`. */
  async plug(switchNs: string, ns: string, dev: string, port: string, bridge: string, address: string, prefixLength: number): Promise<void> {
    checkIfName(port);
    await host().createVeth({ name: dev, netns: netnsPath(ns), peer: port, peerNetns: netnsPath(switchNs), peerMaster: bridge });
    await addAddress({ dev, address, prefixLength, netns: ns });
  }

  /**
   * A TCP server on `port` of every address of `ns`, listening on a socket
   * made inside the namespace; `serve` handles each connection.
   */
  async listen(ns: string, port: number, backlog: number, serve: (socket: Socket) => void): Promise<LabServer> {
    const fd = await host().listenTcp(netnsPath(ns), this.#family === 'inet' ? '0.0.0.0' : '::', port, backlog);
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      serve(socket);
    });
    const entry = { server, sockets };
    this.#servers.push(entry);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return entry;
  }

  /** Keeps `ipvs` to be closed by {@link LabParts.destroy}; returns it. */
  keep(ipvs: Ipvs): Ipvs {
    this.#handles.push(ipvs);
    return ipvs;
  }

  /** Cuts every connection, stops the servers, closes the handles, deletes the namespaces; throws the first failure after trying everything. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    let first: unknown;
    const attempt = async (step: () => Promise<unknown> | void): Promise<void> => {
      try {
        await step();
      } catch (e) {
        first ??= e;
      }
    };
    for (const { server, sockets } of this.#servers) {
      for (const s of sockets) s.destroy();
      if (server.listening) await attempt(() => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))));
    }
    for (const h of this.#handles) await attempt(() => h.close());
    for (const ns of this.#namespaces.reverse()) await attempt(() => deleteNetns(ns));
    if (first !== undefined) throw first;
  }
}
