// Issue 4: configureRealServer / configureDirector change what LVS needs and
// restore() puts back exactly what was there — checked with iproute2 and
// sysctl(8). Each test starts from values that differ from the LVS ones.
import { describe, expect, it } from 'vitest';

import { IpvsError } from '../../lib/errors.js';
import { configureDirector, configureRealServer, readSysctl } from '../../lib/host/index.js';
import { ok, run, useFreshNetns } from './support.js';

const ns = useFreshNetns('hostl');
const netns = ns.name;
const sh = (...args: string[]): string => ok(ns.exec(args[0]!, args.slice(1)));

/** Everything configure* may touch, as the oracles print it. */
function snapshot(): { sysctl: string; addresses: string; links: string } {
  return {
    sysctl: sh('sysctl', 'net.ipv4.conf', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'),
    addresses: sh('ip', '-o', 'address'),
    // Without the qdisc: the first time a device comes up the kernel attaches
    // its default qdisc (noop -> noqueue), which stays when it goes down again.
    links: sh('ip', '-o', 'link').replace(/\\.*$/gm, '').replace(/ qdisc \S+/g, ''),
  };
}

const labelsOn = (dev: string): string[] =>
  sh('ip', '-o', '-4', 'address', 'show', 'dev', dev)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.split('\\')[0]!.trim().split(/\s+/);
      return `${f[3]} ${f[f.length - 1]}`;
    });

describe('configureRealServer', () => {
  it('sets the LVS-TUN host up and restore() puts back every value, address and link state', async () => {
    sh('ip', 'link', 'add', 'eth0', 'type', 'dummy');
    sh('ip', 'link', 'add', 'bond0.4001', 'type', 'dummy');
    // Non-LVS starting values, different per scope, so restore must put back each one.
    for (const [k, v] of Object.entries({
      'net.ipv4.conf.all.arp_ignore': '2',
      'net.ipv4.conf.eth0.arp_ignore': '0',
      'net.ipv4.conf.bond0/4001.arp_ignore': '8',
      'net.ipv4.conf.all.arp_announce': '1',
      'net.ipv4.conf.eth0.arp_announce': '0',
      'net.ipv4.conf.bond0/4001.arp_announce': '1',
      'net.ipv4.conf.all.rp_filter': '2',
      'net.ipv4.conf.default.rp_filter': '1',
      'net.ipv4.conf.tunl0.rp_filter': '1',
      'net.ipv4.conf.eth0.rp_filter': '1',
      'net.ipv4.conf.bond0/4001.rp_filter': '2',
    })) {
      sh('sysctl', '-q', '-w', `${k}=${v}`);
    }
    // lo up with a VIP of someone else's under lo:0; tunl0 stays down.
    sh('ip', 'link', 'set', 'lo', 'up');
    sh('ip', 'address', 'add', '10.0.0.100/32', 'dev', 'lo', 'label', 'lo:0');
    const before = snapshot();

    const changes = await configureRealServer({
      vips: ['10.0.0.100', '10.0.0.101'],
      interfaces: ['eth0', 'bond0.4001'],
      tunnel: true,
      netns,
    });
    for (const dev of ['all', 'eth0', 'bond0/4001']) {
      expect(sh('sysctl', '-n', `net.ipv4.conf.${dev}.arp_ignore`, `net.ipv4.conf.${dev}.arp_announce`).trim().split('\n')).toEqual(['1', '2']);
    }
    for (const dev of ['all', 'default', 'tunl0', 'eth0', 'bond0/4001']) expect(sh('sysctl', '-n', `net.ipv4.conf.${dev}.rp_filter`).trim()).toBe('0');
    // The VIP that was there stays as it was; the new one takes the next free label.
    expect(labelsOn('lo')).toEqual(['127.0.0.1/8 lo', '10.0.0.100/32 lo:0', '10.0.0.101/32 lo:1']);
    expect(labelsOn('tunl0')).toEqual(['10.0.0.100/32 tunl0', '10.0.0.101/32 tunl0']);
    expect(sh('ip', '-o', 'link', 'show', 'tunl0')).toMatch(/<[^>]*\bUP\b/);
    expect(changes.addresses).toEqual([
      { dev: 'lo', address: '10.0.0.101', prefixLength: 32, label: 'lo:1' },
      { dev: 'tunl0', address: '10.0.0.100', prefixLength: 32 },
      { dev: 'tunl0', address: '10.0.0.101', prefixLength: 32 },
    ]);
    expect(changes.links).toEqual(['tunl0']);
    // The 11 written, plus the rp_filter of any device that never had its own
    // value (which ones depends on the tunnel modules loaded): those follow
    // conf/default, so the kernel changed them along with it.
    const named = ['all', 'default', 'tunl0', 'eth0', 'bond0.4001'].map((d) => `net/ipv4/conf/${d}/`);
    const [written, followers] = [changes.sysctls.filter((c) => named.some((n) => c.key.startsWith(n))), changes.sysctls.filter((c) => !named.some((n) => c.key.startsWith(n)))];
    expect(written).toHaveLength(11);
    for (const c of followers) expect(c).toMatchObject({ key: expect.stringMatching(/^net\/ipv4\/conf\/[^/]+\/rp_filter$/), after: '0' });
    expect(changes.sysctls).toContainEqual({ key: 'net/ipv4/conf/bond0.4001/arp_ignore', before: '8', after: '1' });

    await changes.restore();
    expect(snapshot()).toEqual(before);
    await changes.restore(); // a second call does nothing
    expect(snapshot()).toEqual(before);
    sh('ip', 'address', 'del', '10.0.0.100/32', 'dev', 'lo');
  });

  it('for DR with an IPv6 VIP: /128 on lo, lo brought up and set down again', async () => {
    sh('ip', 'link', 'set', 'lo', 'down');
    sh('sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=0', 'net.ipv4.conf.all.arp_announce=0');
    const before = snapshot();
    const changes = await configureRealServer({ vips: ['10.0.0.110', 'fd00::110'], interfaces: ['eth0'], netns });
    expect(labelsOn('lo')).toContain('10.0.0.110/32 lo:0');
    expect(sh('ip', '-o', '-6', 'address', 'show', 'dev', 'lo')).toMatch(/fd00::110\/128 scope global deprecated/);
    expect(changes.links).toEqual(['lo']);
    expect(sh('sysctl', '-n', 'net.ipv4.conf.all.rp_filter').trim()).toBe(before.sysctl.match(/all\.rp_filter = (\d)/)![1]);
    await changes.restore();
    expect(snapshot()).toEqual(before);
  });

  it('undoes what it did when a step fails half-way, then rejects in words', async () => {
    const before = snapshot();
    // The kernel refuses a multicast address (EADDRNOTAVAIL) only after the
    // sysctls, lo and the first VIP have been changed.
    const err = await configureRealServer({ vips: ['10.0.0.120', 'ff02::1'], interfaces: ['eth0'], netns }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpvsError);
    expect((err as IpvsError).message).toMatch(/ff02::1\/128 on lo/);
    expect(snapshot()).toEqual(before);
  });

  it('refuses bad input and unknown devices, changing nothing', async () => {
    const before = snapshot();
    const enodev = await configureRealServer({ vips: ['10.0.0.130'], interfaces: ['eth0', 'eth9'], netns }).catch((e: unknown) => e);
    expect(enodev).toBeInstanceOf(IpvsError);
    expect(enodev).toMatchObject({ code: 'ENODEV', message: `no network device named 'eth9' in network namespace ${netns}` });
    await expect(configureRealServer({ vips: ['10.0.0.300'], netns })).rejects.toThrow(TypeError);
    await expect(configureRealServer({ vips: [], netns })).rejects.toThrow(/non-empty/);
    await expect(configureRealServer({ vips: ['10.0.0.130'], interfaces: ['../eth0'], netns })).rejects.toThrow(/not a valid interface name/);
    await expect(configureDirector({ vip: '10.0.0.130', dev: 'eth9', netns })).rejects.toMatchObject({ code: 'ENODEV' });
    await expect(configureDirector({ vip: '10.0.0.130', dev: 'eth0', label: 'lo:0', netns })).rejects.toThrow(TypeError);
    // The same address twice, in two spellings: named by both indexes.
    await expect(configureRealServer({ vips: ['fd00::1', '10.0.0.130', 'FD00:0::1'], netns })).rejects.toThrow(
      /^vips\[2\] 'FD00:0::1' is the address of vips\[0\] again$/,
    );
    expect(snapshot()).toEqual(before);
  });

  // A namespace without tunl0, made without touching anything global: the
  // fallback device can be renamed away inside its own namespace.
  it('says to load ipip when tunl0 is missing', async () => {
    const name = `hostl-notun-${process.pid}`;
    ok(run('ip', ['netns', 'add', name]));
    try {
      ok(run('ip', ['-n', name, 'link', 'set', 'tunl0', 'name', 'tunl-away']));
      const err = await configureRealServer({ vips: ['10.0.0.140'], tunnel: true, netns: name }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IpvsError);
      expect((err as IpvsError).message).toMatch(/no network device named 'tunl0'.*ipip.*modprobe ipip/);
      expect(await readSysctl('net.ipv4.conf.all.arp_ignore', { netns: name })).not.toBe('1');
    } finally {
      run('ip', ['netns', 'delete', name]);
    }
  });
});

describe('configureDirector', () => {
  it('puts the VIP under the origin label and, for masq, turns forwarding on; restore() undoes both', async () => {
    sh('sysctl', '-q', '-w', 'net.ipv4.ip_forward=0');
    sh('ip', 'link', 'set', 'bond0.4001', 'up');
    const before = snapshot();
    const changes = await configureDirector({ vip: '10.0.0.200', dev: 'bond0.4001', forwarding: 'masq', netns });
    expect(labelsOn('bond0.4001')).toEqual(['10.0.0.200/32 bond0.4001:0']);
    expect(sh('sysctl', '-n', 'net.ipv4.ip_forward').trim()).toBe('1');
    await changes.restore();
    expect(snapshot()).toEqual(before);

    // An explicit label, IPv6 (no label, /128, conf.all.forwarding).
    const v4 = await configureDirector({ vip: '10.0.0.201', dev: 'bond0.4001', label: 'bond0.4001:7', netns });
    expect(labelsOn('bond0.4001')).toEqual(['10.0.0.201/32 bond0.4001:7']);
    const v6 = await configureDirector({ vip: 'fd00::201', dev: 'bond0.4001', forwarding: 'masq', netns });
    expect(sh('ip', '-o', '-6', 'address', 'show', 'dev', 'bond0.4001')).toContain('fd00::201/128');
    expect(sh('sysctl', '-n', 'net.ipv6.conf.all.forwarding').trim()).toBe('1');
    await v6.restore();
    await v4.restore();
    expect(snapshot()).toEqual(before);
  });

  it('a device name too long for DEV:N gets the VIP without a label of its own; two restore() calls at once both wait for it', async () => {
    const dev = 'vipdevice012345'; // 15 bytes: 'vipdevice012345:0' would be 17
    sh('ip', 'link', 'add', dev, 'type', 'dummy');
    try {
      const before = snapshot();
      const changes = await configureDirector({ vip: '10.0.0.220', dev, netns });
      expect(labelsOn(dev)).toEqual([`10.0.0.220/32 ${dev}`]);
      // A second call made while the first undoes settles with it, not before.
      const settled: string[] = [];
      await Promise.all([changes.restore().then(() => settled.push('first')), changes.restore().then(() => settled.push('second'))]);
      expect(settled).toEqual(['first', 'second']);
      expect(snapshot()).toEqual(before);
    } finally {
      sh('ip', 'link', 'delete', dev);
    }
  });

  it('restores what the kernel changed along with forwarding: per-device forwarding, accept_redirects, IPv6 default', async () => {
    // ip_forward off, but one device forwarding on its own and redirects off
    // (a hardened host): writing ip_forward rewrites all of them.
    sh('sysctl', '-q', '-w', 'net.ipv4.ip_forward=0', 'net.ipv4.conf.eth0.forwarding=1', 'net.ipv4.conf.all.accept_redirects=0');
    sh('sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=0', 'net.ipv6.conf.eth0.forwarding=1');
    const v6forwarding = (): string => sh('sh', '-c', 'grep -H . /proc/sys/net/ipv6/conf/*/forwarding');
    const before = snapshot();
    const before6 = v6forwarding();
    const v4 = await configureDirector({ vip: '10.0.0.210', dev: 'bond0.4001', forwarding: 'masq', netns });
    expect(sh('sysctl', '-n', 'net.ipv4.conf.all.accept_redirects').trim()).toBe('0');
    expect(v4.sysctls).toContainEqual({ key: 'net/ipv4/ip_forward', before: '0', after: '1' });
    expect(v4.sysctls).toContainEqual({ key: 'net/ipv4/conf/bond0.4001/forwarding', before: '0', after: '1' });
    const v6 = await configureDirector({ vip: 'fd00::210', dev: 'bond0.4001', forwarding: 'masq', netns });
    await v6.restore();
    await v4.restore();
    expect(snapshot()).toEqual(before);
    expect(v6forwarding()).toBe(before6);
    sh('sysctl', '-q', '-w', 'net.ipv4.conf.eth0.forwarding=0', 'net.ipv4.conf.all.accept_redirects=1', 'net.ipv6.conf.eth0.forwarding=0');
  });
});
