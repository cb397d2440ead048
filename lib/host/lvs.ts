/**
 * One-call LVS host setups, each undone exactly by its `restore()`.
 *
 * @module
 */
import type { Family } from '../types.js';
import { addAddress, deleteAddress, findLink, listAddresses, setLinkState } from './address.js';
import type { NetnsOption } from './address.js';
import { hostError } from './context.js';
import { readSysctl, writeSysctl } from './sysctl.js';
import { checkAddress, checkIfName, checkLabel, netnsArg } from './validate.js';

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
  /** Sysctls written, in order, with their previous values. */
  sysctls: SysctlChange[];
  /** Addresses added (not those that were already there). */
  addresses: AddedAddress[];
  /** Devices brought up. */
  links: string[];
  /**
   * Undoes the changes in reverse order: every sysctl back to its previous
   * value, only the addresses this call added deleted, only the links it
   * brought up set down. A second call does nothing. If a step fails the
   * others still run, then it rejects with the first failure.
   */
  restore(): Promise<void>;
}

/** Records each change with its undo step; rolls back on request. */
class ChangeLog {
  readonly sysctls: SysctlChange[] = [];
  readonly addresses: AddedAddress[] = [];
  readonly links: string[] = [];
  readonly #undo: (() => Promise<unknown>)[] = [];
  readonly #netns: NetnsOption;
  #restored = false;

  constructor(netns: string | undefined) {
    this.#netns = netns === undefined ? {} : { netns };
  }

  async sysctl(key: string, value: string): Promise<void> {
    const before = await readSysctl(key, this.#netns);
    if (before === value) return;
    await writeSysctl(key, value, this.#netns);
    this.sysctls.push({ key, before, after: value });
    this.#undo.push(() => writeSysctl(key, before, this.#netns));
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

  async restore(): Promise<void> {
    if (this.#restored) return;
    this.#restored = true;
    let first: unknown;
    for (const step of this.#undo.reverse()) {
      try {
        await step();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }

  result(): HostChanges {
    return { sysctls: this.sysctls, addresses: this.addresses, links: this.links, restore: () => this.restore() };
  }

  /** Runs `steps`; on failure undoes what they did, then rejects with the failure. */
  async apply(steps: () => Promise<void>): Promise<HostChanges> {
    try {
      await steps();
    } catch (e) {
      await this.restore().catch(() => undefined);
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
  if (new Set(out.map((v) => v.address)).size !== out.length) throw new TypeError(`${field} lists an address twice`);
  return out;
}

/**
 * Hands out the smallest `DEV:N` labels not in use on `dev`, and says which
 * addresses the device already has (those keep their label and are skipped).
 */
async function labeller(dev: string, netns: NetnsOption): Promise<{ has(address: string): boolean; next(): string }> {
  const present = await listAddresses({ dev, ...netns });
  const used = new Set(present.map((a) => a.label));
  const have = new Set(present.map((a) => a.address));
  let n = 0;
  return {
    has: (address) => have.has(address),
    next: () => {
      while (used.has(`${dev}:${n}`)) n++;
      used.add(`${dev}:${n}`);
      return `${dev}:${n}`;
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
  const interfaces = (options.interfaces ?? []).map((d, i) => checkIfName(d, `interfaces[${i}]`));
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
