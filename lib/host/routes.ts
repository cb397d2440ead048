/**
 * Routes with one or several next hops (equal-cost multipath with weights)
 * through rtnetlink, without `ip route`: what an upstream router of several
 * active directors holds for the VIP.
 *
 * @module
 */
import type { Family } from '../types.js';
import type { NetnsOption } from './address.js';
import { inNetns } from './context.js';
import { host } from './native.js';
import { checkAddress, checkIfName, checkPrefix, netnsArg } from './validate.js';

/** One next hop of a route. */
export interface NextHop {
  /** The gateway (a director's address); none for a directly connected route. */
  gateway?: string;
  /** The link it is reached through. */
  dev: string;
  /** Its share of the flows against the other hops, 1–256; default 1. */
  weight?: number;
}

/** Options of {@link setRoute}. */
export interface RouteOptions extends NetnsOption {
  /** The destination address (the VIP). */
  destination: string;
  /** Its prefix length; default 32 / 128. */
  prefixLength?: number;
  /** One hop, or several: a multipath route (`ip route add VIP nexthop … nexthop …`). */
  nextHops: readonly NextHop[];
  /** Replace the existing route to the destination (`ip route replace`); default false: `EEXIST` when there is one. */
  replace?: boolean;
}

/** A route as {@link listRoutes} reads it. */
export interface RouteInfo {
  /** The destination (`0.0.0.0` / `::` for the default route). */
  destination: string;
  /** Its prefix length. */
  prefixLength: number;
  /** Its next hops: one, or several for a multipath route. */
  nextHops: {
    /** The gateway, when there is one. */
    gateway?: string;
    /** The link. */
    dev: string;
    /** The weight (1 unless set). */
    weight: number;
  }[];
}

function checkHops(hops: unknown, family: Family): { gateway: string | null; dev: string; weight: number }[] {
  if (!Array.isArray(hops) || hops.length === 0 || hops.length > 64) throw new TypeError('nextHops must be an array of 1–64 next hops');
  return hops.map((h: NextHop, i) => {
    if (typeof h !== 'object' || h === null) throw new TypeError(`nextHops[${i}] must be an object`);
    const dev = checkIfName(h.dev, `nextHops[${i}].dev`);
    if (h.gateway !== undefined && checkAddress(h.gateway, `nextHops[${i}].gateway`) !== family) {
      throw new TypeError(`nextHops[${i}].gateway ${h.gateway} is not of the destination's family`);
    }
    const weight = h.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 1 || weight > 256) throw new RangeError(`nextHops[${i}].weight must be an integer 1–256, got ${String(h.weight)}`);
    return { gateway: h.gateway ?? null, dev, weight };
  });
}

/**
 * Adds (or, with `replace`, replaces) a route in the main table: through one
 * next hop, or through several with weights — a multipath route, over which
 * the kernel spreads flows by hash (set `net.ipv4.fib_multipath_hash_policy`
 * to 1 to hash on ports too). Rejects with an {@link IpvsError}: `EEXIST`,
 * `ENODEV` for an unknown link, `ENETUNREACH` for a gateway not on its link;
 * throws a TypeError / RangeError for bad input before anything is sent.
 */
export async function setRoute(options: RouteOptions): Promise<void> {
  if (typeof options !== 'object' || options === null) throw new TypeError('setRoute expects an options object');
  const family = checkAddress(options.destination, 'destination');
  const prefixLength = checkPrefix(options.prefixLength, family);
  const hops = checkHops(options.nextHops, family);
  if (options.replace !== undefined && typeof options.replace !== 'boolean') throw new TypeError(`replace must be true or false, got ${String(options.replace)}`);
  await inNetns(options.netns, host().setRoute(netnsArg(options.netns), options.destination, prefixLength, hops, options.replace === true));
}

/** Deletes the route to `destination` (`ESRCH` when there is none). */
export async function deleteRoute(options: { destination: string; prefixLength?: number } & NetnsOption): Promise<void> {
  if (typeof options !== 'object' || options === null) throw new TypeError('deleteRoute expects an options object');
  const family = checkAddress(options.destination, 'destination');
  await inNetns(options.netns, host().deleteRoute(netnsArg(options.netns), options.destination, checkPrefix(options.prefixLength, family)));
}

/** The main table's unicast routes of one family (default IPv4), with their next hops. */
export async function listRoutes(options: { family?: Family } & NetnsOption = {}): Promise<RouteInfo[]> {
  const family = options.family ?? 'inet';
  if (family !== 'inet' && family !== 'inet6') throw new TypeError(`family must be 'inet' or 'inet6', got ${String(family)}`);
  const raw = await inNetns(options.netns, host().listRoutes(netnsArg(options.netns), family === 'inet6' ? 6 : 4));
  return raw.map((r) => ({
    destination: r.destination,
    prefixLength: r.prefixLength,
    nextHops: r.nextHops.map((h) => ({ ...(h.gateway === null ? {} : { gateway: h.gateway }), dev: h.dev, weight: h.weight })),
  }));
}
