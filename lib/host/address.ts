/**
 * Addresses and link state through rtnetlink, without `ip` or `ifconfig`.
 *
 * @module
 */
import type { Family } from '../types.js';
import { inNetns } from './context.js';
import { host } from './native.js';
import type { RawAddressSpec } from '../native-types.js';
import { checkAddress, checkIfName, checkLabel, checkPrefix, netnsArg } from './validate.js';

/** Where a host helper acts. */
export interface NetnsOption {
  /**
   * Network namespace: a name under `/run/netns` (as `ip netns add` makes
   * them) or a path to a namespace file (`/proc/1234/ns/net`). Default: the
   * calling process's own.
   */
  netns?: string;
}

/** One address on one device, for {@link addAddress} and {@link deleteAddress}. */
export interface AddressOptions extends NetnsOption {
  /** Device name (`eth0`, `lo`, `bond0.4001`). */
  dev: string;
  /** IPv4 or IPv6 address text. */
  address: string;
  /** Default 32 for IPv4, 128 for IPv6 (a single host: the LVS VIP case). */
  prefixLength?: number;
  /**
   * IPv4 only: the old alias name, `DEV` or `DEV:SUFFIX` (`eth0:0`, `lo:0`,
   * `bond0.4001:0`), as `ifconfig eth0:0 …` made it. Not allowed for IPv6,
   * which has no labels.
   */
  label?: string;
  /**
   * IPv6 only, for {@link addAddress}: add it deprecated (`ip address add …
   * preferred_lft 0`). It still receives traffic, but the kernel never picks
   * it as the source of the host's own packets — what an IPv6 VIP needs, or
   * the director would send tunnel packets and health checks from the VIP.
   */
  deprecated?: boolean;
  /**
   * What {@link addAddress} does when the device already has the address
   * (IPv4: same address and prefix; IPv6: same address): `'error'` (default)
   * rejects with `EEXIST`; `'ok'` leaves it and resolves `false`.
   */
  exist?: 'error' | 'ok';
}

/** An address as {@link listAddresses} reports it. */
export interface AddressInfo {
  /** Device the address is on. */
  dev: string;
  /** `'inet'` (IPv4) or `'inet6'`. */
  family: Family;
  /** Canonical text (`10.0.0.1`, `fd00::1`). */
  address: string;
  /** Prefix length of the address's subnet (32 / 128 for a single host). */
  prefixLength: number;
  /** IPv4 alias label, present only when it differs from the device name (`lo:0`). */
  label?: string;
}

const ADDRESS_KEYS = new Set(['dev', 'address', 'prefixLength', 'label', 'exist', 'deprecated', 'netns']);

function addressSpec(options: AddressOptions, op: string): { dev: string; spec: RawAddressSpec } {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${op} expects an options object`);
  for (const k of Object.keys(options)) if (!ADDRESS_KEYS.has(k)) throw new TypeError(`${op}: unknown option '${k}'`);
  const dev = checkIfName(options.dev);
  const family = checkAddress(options.address);
  const spec: RawAddressSpec = { address: options.address, prefixLength: checkPrefix(options.prefixLength, family) };
  if (options.label !== undefined) {
    if (family === 'inet6') throw new TypeError(`label: IPv6 addresses have no labels (${options.address})`);
    spec.label = checkLabel(options.label, dev);
  }
  if (options.deprecated !== undefined) {
    if (typeof options.deprecated !== 'boolean') throw new TypeError(`deprecated must be a boolean, got ${String(options.deprecated)}`);
    if (options.deprecated && family === 'inet') throw new TypeError(`deprecated: only IPv6 addresses have lifetimes (${options.address})`);
    if (options.deprecated) spec.deprecated = true;
  }
  if (options.exist !== undefined && options.exist !== 'error' && options.exist !== 'ok') {
    throw new TypeError(`exist must be 'error' or 'ok', got ${String(options.exist)}`);
  }
  return { dev, spec };
}

/**
 * Adds an address to a device (`ip address add ADDR/PREFIX dev DEV label LABEL`,
 * or the origin's `ifconfig bond0.4001:0 VIP netmask 255.255.255.255`).
 *
 * Resolves `true` when added, `false` when it was already there and
 * `exist: 'ok'`. Rejects with an {@link IpvsError}: `EEXIST` ("address
 * 10.0.0.1/32 already exists on lo"), `ENODEV` for an unknown device; throws a
 * TypeError / RangeError for bad input before anything is sent.
 */
export async function addAddress(options: AddressOptions): Promise<boolean> {
  const { dev, spec } = addressSpec(options, 'addAddress');
  const netns = netnsArg(options.netns);
  return inNetns(options.netns, host().addAddress(netns, dev, spec, options.exist === 'ok'));
}

/**
 * Deletes an address from a device. With a `label`, only an address under
 * that label matches. Rejects with `EADDRNOTAVAIL` when the device does not
 * have it, unless `exist: 'ok'` (then resolves `false`).
 */
export async function deleteAddress(options: AddressOptions): Promise<boolean> {
  const { dev, spec } = addressSpec(options, 'deleteAddress');
  const netns = netnsArg(options.netns);
  return inNetns(options.netns, host().deleteAddress(netns, dev, spec, options.exist === 'ok'));
}

/**
 * The addresses of every device, or of `dev` (which must exist: `ENODEV`).
 * IPv6 link-local addresses are included.
 */
export async function listAddresses(options: { dev?: string } & NetnsOption = {}): Promise<AddressInfo[]> {
  const dev = options.dev === undefined ? null : checkIfName(options.dev);
  const netns = netnsArg(options.netns);
  const raw = await inNetns(options.netns, host().listAddresses(netns, dev));
  return raw.map((a) => {
    const info: AddressInfo = { dev: a.dev, family: a.family === 10 ? 'inet6' : 'inet', address: a.address, prefixLength: a.prefixLength };
    if (a.label !== undefined && a.label !== a.dev) info.label = a.label;
    return info;
  });
}

/** Sets a device up (`ip link set DEV up`). `ENODEV` for an unknown device. */
export async function setLinkUp(dev: string, options: NetnsOption = {}): Promise<void> {
  await setLinkState(dev, true, options);
}

/** Sets a device down (`ip link set DEV down`). `ENODEV` for an unknown device. */
export async function setLinkDown(dev: string, options: NetnsOption = {}): Promise<void> {
  await setLinkState(dev, false, options);
}

/** Sets IFF_UP; resolves whether the device was up before. @internal */
export async function setLinkState(dev: string, up: boolean, options: NetnsOption): Promise<boolean> {
  checkIfName(dev);
  const netns = netnsArg(options.netns);
  return inNetns(options.netns, host().setLinkUp(netns, dev, up));
}

/** Whether a device exists, and whether it is up. @internal */
export async function findLink(dev: string, options: NetnsOption): Promise<{ up: boolean } | undefined> {
  checkIfName(dev);
  const link = await inNetns(options.netns, host().findLink(netnsArg(options.netns), dev));
  return link ? { up: link.up } : undefined;
}
