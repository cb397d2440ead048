/**
 * Moving a VIP from one director to another: take it off the old owner when
 * that one can still be reached, put it on the new owner (with its alias
 * label), and announce it — gratuitous ARP for IPv4, unsolicited neighbour
 * advertisements for IPv6 — so that clients and routers send to the new
 * owner's MAC at once. Electing which director owns the VIP is VRRP's (or
 * keepalived's, or the operator's) business; this is what such a decision
 * runs. No `arping`, no `ip`: rtnetlink and a packet socket in the
 * namespace.
 *
 * @module
 */
import { addAddress, deleteAddress, type NetnsOption } from './address.js';
import { inNetns } from './context.js';
import { host } from './native.js';
import { checkAddress, checkIfName, netnsArg } from './validate.js';

/** Options of {@link announceAddress}. */
export interface AnnounceOptions extends NetnsOption {
  /** The link to announce from (its MAC is the one neighbours learn). */
  dev: string;
  /** The address (IPv4: gratuitous ARP; IPv6: unsolicited neighbour advertisement). */
  address: string;
  /** Rounds to send; default 3 (a lost packet is not the end of it). */
  count?: number;
  /** Time between rounds, ms; default 200. */
  interval?: number;
}

/** One director's side of a move: where the VIP is (or goes). */
export interface VipHolder extends NetnsOption {
  /** The link carrying the VIP (`bond0.4001`). */
  dev: string;
  /** IPv4 alias label (`bond0.4001:0`). */
  label?: string;
}

/** Options of {@link moveAddress}. */
export interface MoveAddressOptions {
  /** The VIP. */
  address: string;
  /** Prefix length; default 32 / 128. */
  prefixLength?: number;
  /** The old owner, when it can still be reached: the VIP is taken off it first. */
  from?: VipHolder;
  /** The new owner. */
  to: VipHolder;
  /** Announcement rounds; default 3. */
  count?: number;
  /** Time between rounds, ms; default 200. */
  interval?: number;
}

function checkCount(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const msg = `${field} must be an integer ${min}–${max}, got ${JSON.stringify(value)}`;
    throw typeof value === 'number' ? new RangeError(msg) : new TypeError(msg);
  }
  return value;
}

/**
 * Tells the link's neighbours that `address` is at this link's MAC:
 * `count` rounds of a gratuitous ARP request and reply (IPv4) or an
 * unsolicited neighbour advertisement with the override flag (IPv6),
 * `interval` ms apart. Neighbours that know the address update their entry;
 * the address need not be on the link. Resolves to the MAC announced.
 *
 * Rejects with an {@link IpvsError} (`ENODEV` for an unknown link); throws a
 * TypeError / RangeError for bad input before anything is sent.
 */
export async function announceAddress(options: AnnounceOptions): Promise<string> {
  if (typeof options !== 'object' || options === null) throw new TypeError('announceAddress expects an options object');
  const dev = checkIfName(options.dev);
  checkAddress(options.address);
  const count = checkCount(options.count, 'count', 1, 100, 3);
  const interval = checkCount(options.interval, 'interval', 0, 10_000, 200);
  return inNetns(options.netns, host().announceAddress(netnsArg(options.netns), dev, options.address, count, interval));
}

/**
 * Moves a VIP: off `from` (when given; already gone is fine), onto `to`
 * (already there is fine), then announced from `to`'s link. Resolves to the
 * new owner's MAC. Each step is idempotent, so a move that failed half-way
 * can simply be run again.
 */
export async function moveAddress(options: MoveAddressOptions): Promise<string> {
  if (typeof options !== 'object' || options === null) throw new TypeError('moveAddress expects an options object');
  if (typeof options.to !== 'object' || options.to === null) throw new TypeError('to must be { dev, label?, netns? }');
  const count = checkCount(options.count, 'count', 1, 100, 3);
  const interval = checkCount(options.interval, 'interval', 0, 10_000, 200);
  const family = checkAddress(options.address);
  const at = (h: VipHolder) => ({
    dev: h.dev,
    address: options.address,
    // As configureDirector puts an IPv6 VIP: deprecated, so the director never sends from it.
    ...(family === 'inet6' ? { deprecated: true } : {}),
    ...(options.prefixLength === undefined ? {} : { prefixLength: options.prefixLength }),
    ...(h.label === undefined ? {} : { label: h.label }),
    ...(h.netns === undefined ? {} : { netns: h.netns }),
    exist: 'ok' as const,
  });
  if (options.from) await deleteAddress(at(options.from));
  await addAddress(at(options.to));
  return announceAddress({ dev: options.to.dev, address: options.address, count, interval, ...(options.to.netns === undefined ? {} : { netns: options.to.netns }) });
}
