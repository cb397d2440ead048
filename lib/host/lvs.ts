/**
 * One-call LVS host setups, each undone exactly by its `restore()`.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { inspect } from 'node:util';

import { canonicalAddress } from '../address.js';
import { IpvsError } from '../errors.js';
import type { Family } from '../types.js';
import { addAddress, deleteAddress, findLink, listAddresses, setLinkState } from './address.js';
import type { NetnsOption } from './address.js';
import { hostError, inNetns } from './context.js';
import { host } from './native.js';
import { readSysctl, writeSysctl } from './sysctl.js';
import { IFNAME_MAX, checkAddress, checkIfName, checkLabel, netnsArg } from './validate.js';

/** A sysctl written by a configure call, with the value found before. */
export interface SysctlChange {
  /** Slashed key (`net/ipv4/conf/eth0/arp_ignore`): unambiguous with dotted interface names. */
  key: string;
  /** The value found before, exactly as read (what `restore()` writes back). */
  before: string;
  /** The value written. */
  after: string;
}

/** An address added by a configure call. */
export interface AddedAddress {
  /** Device it was added to. */
  dev: string;
  /** The address, as given. */
  address: string;
  /** 32 or 128: VIPs are single hosts. */
  prefixLength: number;
  /** IPv4 alias label (`lo:0`), when one was given. */
  label?: string;
  /** IPv6 VIPs are added deprecated: never a source address. */
  deprecated?: boolean;
}

/**
 * What a configure call changed, and how to put it back. Only real changes
 * are listed: a sysctl that already had the value, an address that was
 * already there, a link that was already up are left alone now and later.
 */
export interface HostChanges {
  /**
   * Sysctls changed, in order, with their previous values: those written,
   * and those the kernel changed along with them (writing IPv4 forwarding
   * on `all` also sets it on every device and flips `all.accept_redirects`).
   */
  sysctls: SysctlChange[];
  /** Addresses added (not those that were already there). */
  addresses: AddedAddress[];
  /** Devices brought up. */
  links: string[];
  /**
   * Undoes the changes in reverse order: every sysctl back to its previous
   * value, only the addresses this call added deleted, only the links it
   * brought up set down. If a step fails the others still run, then it
   * rejects with the first failure; calling it again retries only the steps
   * that failed. Once everything is undone, further calls do nothing.
   */
  restore(): Promise<void>;
}

/**
 * Sysctls the kernel rewrites as a side effect of writing `key`, which an
 * exact restore must put back as well:
 *
 * - IPv4 `all` forwarding (`net.ipv4.ip_forward` is the same value) is copied
 *   to `default` and to every device, and `conf/all/accept_redirects` is set
 *   to its opposite (inet_forward_change() in net/ipv4/devinet.c);
 * - IPv6 `conf/all/forwarding` is copied to `default` and to every device
 *   (addrconf_fixup_forwarding() in net/ipv6/addrconf.c);
 * - any other IPv4 `conf/default/X` is copied to every device whose X was
 *   never set explicitly (devinet_copy_dflt_conf()).
 *
 * Without them, restoring `ip_forward=0` would also zero a device's own
 * `forwarding=1` and turn `all.accept_redirects` back on.
 */
async function sideEffectKeys(key: string, netns: NetnsOption): Promise<string[]> {
  const devices = async (): Promise<string[]> => inNetns(netns.netns, host().listLinks(netnsArg(netns.netns)));
  if (key === 'net/ipv4/ip_forward' || key === 'net/ipv4/conf/all/forwarding') {
    return [...['default', ...(await devices())].map((d) => `net/ipv4/conf/${d}/forwarding`), 'net/ipv4/conf/all/accept_redirects'];
  }
  if (key === 'net/ipv6/conf/all/forwarding') return ['default', ...(await devices())].map((d) => `net/ipv6/conf/${d}/forwarding`);
  const dflt = /^net\/ipv4\/conf\/default\/([^/]+)$/.exec(key);
  if (dflt) return (await devices()).map((d) => `net/ipv4/conf/${d}/${dflt[1]}`);
  return [];
}

/** Records each change with its undo step; rolls back on request. */
class ChangeLog {
  readonly sysctls: SysctlChange[] = [];
  readonly addresses: AddedAddress[] = [];
  readonly links: string[] = [];
  #undo: (() => Promise<unknown>)[] = [];
  readonly #netns: NetnsOption;

  constructor(netns: string | undefined) {
    this.#netns = netns === undefined ? {} : { netns };
  }

  /** The current values of `keys`; a key the namespace lacks (a device without IPv4 or IPv6) is left out. */
  async #read(keys: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const key of keys) {
      try {
        out.set(key, await readSysctl(key, this.#netns));
      } catch (e) {
        if (!(e instanceof IpvsError && e.code === 'ENOENT')) throw e;
      }
    }
    return out;
  }

  async sysctl(key: string, value: string): Promise<void> {
    const before = await readSysctl(key, this.#netns);
    if (before === value) return;
    const others = await this.#read(await sideEffectKeys(key, this.#netns));
    await writeSysctl(key, value, this.#netns);
    // The undo is in place before anything else can fail.
    this.#undo.push(async () => {
      await writeSysctl(key, before, this.#netns);
      // Writing `key` back rewrote the others again, including any that the
      // first write left alone: each gets its own previous value.
      const now = await this.#read([...others.keys()]);
      for (const [k, was] of others) if (now.has(k) && now.get(k) !== was) await writeSysctl(k, was, this.#netns);
    });
    this.sysctls.push({ key, before, after: value });
    for (const [k, now] of await this.#read([...others.keys()])) {
      if (now !== others.get(k)) this.sysctls.push({ key: k, before: others.get(k)!, after: now });
    }
  }

  async address(a: AddedAddress): Promise<void> {
    const added = await addAddress({ ...a, ...this.#netns, exist: 'ok' });
    if (!added) return;
    this.addresses.push(a);
    const { deprecated: _, ...key } = a;
    this.#undo.push(() => deleteAddress({ ...key, ...this.#netns, exist: 'ok' }));
  }

  async linkUp(dev: string): Promise<void> {
    const wasUp = await setLinkState(dev, true, this.#netns);
    if (wasUp) return;
    this.links.push(dev);
    this.#undo.push(() => setLinkState(dev, false, this.#netns));
  }

  /**
   * Runs the undo steps newest first; those that fail stay for the next call.
   * A call while one runs gets that one's outcome.
   */
  restore(): Promise<void> {
    this.#restoring ??= this.#restoreNow().finally(() => {
      this.#restoring = undefined;
    });
    return this.#restoring;
  }

  #restoring: Promise<void> | undefined;

  async #restoreNow(): Promise<void> {
    const steps = this.#undo;
    this.#undo = [];
    const failed: (() => Promise<unknown>)[] = [];
    let first: unknown;
    for (const step of [...steps].reverse()) {
      try {
        await step();
      } catch (e) {
        first ??= e;
        failed.unshift(step);
      }
    }
    this.#undo = [...failed, ...this.#undo];
    if (first !== undefined) throw first;
  }

  result(): HostChanges {
    return { sysctls: this.sysctls, addresses: this.addresses, links: this.links, restore: () => this.restore() };
  }

  /**
   * Runs `steps`; on failure undoes what they did, then rejects with the
   * failure — whose message also says so if undoing failed too, since the
   * caller gets no `restore()` to retry with.
   */
  async apply(steps: () => Promise<void>): Promise<HostChanges> {
    try {
      await steps();
    } catch (e) {
      try {
        await this.restore();
      } catch (undo) {
        if (e instanceof Error) e.message += `; undoing the changes made before it failed too: ${undo instanceof Error ? undo.message : String(undo)}`;
      }
      throw e;
    }
    return this.result();
  }
}

/** A VIP as a single host: /32, or /128 and deprecated so it is never a source address. */
const vipAddress = (dev: string, address: string, family: Family, label?: string): AddedAddress =>
  family === 'inet' ? { dev, address, prefixLength: 32, ...(label ? { label } : {}) } : { dev, address, prefixLength: 128, deprecated: true };

function checkVips(vips: unknown, field: string): { address: string; family: Family }[] {
  if (!Array.isArray(vips) || vips.length === 0) throw new TypeError(`${field} must be a non-empty array of IP addresses`);
  const out = vips.map((v: unknown, i) => ({ address: v as string, family: checkAddress(v, `${field}[${i}]`) }));
  const seen = new Map<string, number>();
  out.forEach((v, i) => {
    const canonical = canonicalAddress(v.address) ?? v.address;
    const first = seen.get(canonical);
    if (first !== undefined) throw new TypeError(`${field}[${i}] ${inspect(v.address)} is the address of ${field}[${first}] again`);
    seen.set(canonical, i);
  });
  return out;
}

/**
 * Hands out the smallest `DEV:N` labels not in use on `dev`, and says which
 * addresses the device already has (those keep their label and are skipped).
 * Where `DEV:N` would pass the kernel's 15 bytes (a long device name), the
 * address goes without a label of its own (it shows under the device name).
 */
async function labeller(dev: string, netns: NetnsOption): Promise<{ has(address: string): boolean; next(): string | undefined }> {
  const present = await listAddresses({ dev, ...netns });
  const used = new Set(present.map((a) => a.label));
  const have = new Set(present.map((a) => a.address));
  let n = 0;
  return {
    has: (address) => have.has(address),
    next: () => {
      while (used.has(`${dev}:${n}`)) n++;
      const label = `${dev}:${n}`;
      if (Buffer.byteLength(label) > IFNAME_MAX) return undefined;
      used.add(label);
      return label;
    },
  };
}

/** Fails in words, changing nothing, when a device is missing. */
async function requireLinks(op: string, devs: readonly string[], netns: NetnsOption, hint: (dev: string) => string = () => ''): Promise<void> {
  for (const dev of devs) {
    if (!(await findLink(dev, netns))) {
      const where = netns.netns === undefined ? '' : ` in network namespace ${netns.netns}`;
      throw hostError(op, 'ENODEV', 19, `no network device named '${dev}'${where}${hint(dev)}`);
    }
  }
}

/** Options of {@link configureRealServer}. */
export interface RealServerOptions extends NetnsOption {
  /** The virtual IPs this real server answers for (IPv4 and/or IPv6). */
  vips: readonly string[];
  /** The server's NICs (facing the director and clients), for the per-interface sysctls. */
  interfaces?: readonly string[];
  /**
   * LVS-TUN: the VIPs also on the ipip fallback device `tunl0` (up), and
   * reverse-path filtering off (`rp_filter=0`) on `all`, `default`, `tunl0`
   * and `interfaces`, since decapsulated packets arrive on `tunl0` from a
   * client that is not routed through it. IPv6 VIPs go on `ip6tnl0`.
   */
  tunnel?: boolean;
}

/**
 * Prepares a direct-routing (or, with `tunnel`, IP-tunnel) real server:
 *
 * - `arp_ignore=1` and `arp_announce=2` on `conf/all` and each interface
 *   (the kernel uses the larger of `all` and the interface's value), so the
 *   host neither answers ARP for the VIP nor uses it as ARP source;
 * - each VIP as /32 on `lo`, labelled `lo:0`, `lo:1`, … (the first free
 *   labels), or as /128 and deprecated for IPv6 (see {@link AddressOptions.deprecated}),
 *   and `lo` up;
 * - with `tunnel`, the LVS-TUN settings above.
 *
 * Every device is checked before anything changes (`ENODEV`; a missing
 * `tunl0` says to load ipip). If a later step fails, what was done is
 * undone before the promise rejects. Resolves to the changes and their
 * `restore()`.
 */
export async function configureRealServer(options: RealServerOptions): Promise<HostChanges> {
  const op = 'configureRealServer';
  if (typeof options !== 'object' || options === null) throw new TypeError(`${op} expects an options object`);
  const vips = checkVips(options.vips, 'vips');
  if (options.interfaces !== undefined && !Array.isArray(options.interfaces)) throw new TypeError(`interfaces must be an array of interface names`);
  const interfaces = (options.interfaces ?? []).map((d, i) => checkIfName(d, `interfaces[${i}]`));
  if (options.tunnel !== undefined && typeof options.tunnel !== 'boolean') throw new TypeError(`tunnel must be a boolean, got ${String(options.tunnel)}`);
  netnsArg(options.netns);
  const ns: NetnsOption = options.netns === undefined ? {} : { netns: options.netns };
  const tunnelDevs = options.tunnel
    ? [...(vips.some((v) => v.family === 'inet') ? ['tunl0'] : []), ...(vips.some((v) => v.family === 'inet6') ? ['ip6tnl0'] : [])]
    : [];

  await requireLinks(op, ['lo', ...interfaces], ns);
  await requireLinks(op, tunnelDevs, ns, (dev) =>
    dev === 'tunl0'
      ? ': LVS-TUN needs the ipip module, which creates tunl0 when it loads (modprobe ipip)'
      : ': LVS-TUN for IPv6 needs the ip6_tunnel module, which creates ip6tnl0 when it loads (modprobe ip6_tunnel)',
  );

  const log = new ChangeLog(options.netns);
  return log.apply(async () => {
    for (const scope of ['all', ...interfaces]) {
      await log.sysctl(`net/ipv4/conf/${scope}/arp_ignore`, '1');
      await log.sysctl(`net/ipv4/conf/${scope}/arp_announce`, '2');
    }
    if (options.tunnel && tunnelDevs.includes('tunl0')) {
      for (const scope of ['all', 'default', 'tunl0', ...interfaces]) await log.sysctl(`net/ipv4/conf/${scope}/rp_filter`, '0');
    }
    await log.linkUp('lo');
    const lo = await labeller('lo', ns);
    for (const vip of vips) {
      if (lo.has(vip.address)) continue; // someone else's: left as it is, now and on restore
      await log.address(vipAddress('lo', vip.address, vip.family, vip.family === 'inet' ? lo.next() : undefined));
    }
    for (const dev of tunnelDevs) {
      await log.linkUp(dev);
      for (const vip of vips.filter((v) => (v.family === 'inet') === (dev === 'tunl0'))) {
        await log.address(vipAddress(dev, vip.address, vip.family));
      }
    }
  });
}

/** Options of {@link configureDirector}. */
export interface DirectorOptions extends NetnsOption {
  /** The virtual IP clients connect to. */
  vip: string;
  /** The client-facing NIC (`bond0.4001`, `eth0`). */
  dev: string;
  /** IPv4 alias label; default the first free `DEV:N` (`bond0.4001:0`). */
  label?: string;
  /**
   * The forwarding method of the service. `'masq'` (NAT) also turns on
   * routing: `net.ipv4.ip_forward=1` (IPv6: `net.ipv6.conf.all.forwarding=1`),
   * since replies come back through the director.
   */
  forwarding?: 'route' | 'masq' | 'tunnel';
}

/**
 * Puts the VIP on the director's NIC as a single host (/32; IPv6 /128,
 * deprecated so the director never sends from it) under an alias label — the origin's `ifconfig bond0.4001:0 VIP netmask
 * 255.255.255.255` — and, for `masq`, turns on forwarding. `ENODEV` for an
 * unknown device, before any change. Resolves to the changes and their
 * `restore()`.
 */
export async function configureDirector(options: DirectorOptions): Promise<HostChanges> {
  const op = 'configureDirector';
  if (typeof options !== 'object' || options === null) throw new TypeError(`${op} expects an options object`);
  const family = checkAddress(options.vip, 'vip');
  const dev = checkIfName(options.dev);
  if (options.label !== undefined) {
    if (family === 'inet6') throw new TypeError(`label: IPv6 addresses have no labels (${options.vip})`);
    checkLabel(options.label, dev);
  }
  const forwarding = options.forwarding ?? 'route';
  if (!['route', 'masq', 'tunnel'].includes(forwarding)) throw new TypeError(`forwarding must be 'route', 'masq' or 'tunnel', got ${String(forwarding)}`);
  netnsArg(options.netns);
  const ns: NetnsOption = options.netns === undefined ? {} : { netns: options.netns };

  await requireLinks(op, [dev], ns);
  const label = family === 'inet' ? (options.label ?? (await labeller(dev, ns)).next()) : undefined;

  const log = new ChangeLog(options.netns);
  return log.apply(async () => {
    await log.address(vipAddress(dev, options.vip, family, label));
    if (forwarding === 'masq') {
      await log.sysctl(family === 'inet' ? 'net/ipv4/ip_forward' : 'net/ipv6/conf/all/forwarding', '1');
    }
  });
}
