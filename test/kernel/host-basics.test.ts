// Issue 4: the host helpers' building blocks against a real kernel, with
// iproute2 and sysctl(8) as independent oracles — addresses and labels,
// links, per-namespace sysctls, `ip netns`-compatible namespaces, and bad
// input refused before anything changes.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { IpvsError } from '../../lib/errors.js';
import {
  addAddress,
  createNetns,
  deleteAddress,
  deleteNetns,
  listAddresses,
  listNetns,
  readSysctl,
  setLinkDown,
  setLinkUp,
  writeSysctl,
} from '../../lib/host/index.js';
import { ok, run, useFreshNetns } from './support.js';

const ns = useFreshNetns('hostb');
const netns = ns.name;

/** `ip -o address` lines as "dev family address/prefix label", the label only for IPv4. */
const ipAddrs = (dev = 'lo'): string[] =>
  ok(ns.exec('ip', ['-o', 'address', 'show', 'dev', dev]))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      // "1: lo    inet 10.0.0.1/32 scope global lo:0\       valid_lft …": IPv4 ends with the label.
      const f = l.split('\\')[0]!.trim().split(/\s+/);
      return `${f[1]} ${f[2]} ${f[3]}${f[2] === 'inet' ? ` ${f[f.length - 1]}` : ''}`;
    });
const sysctlN = (key: string): string => ok(ns.exec('sysctl', ['-n', key])).trim();
const everything = (): string => ok(ns.exec('ip', ['-o', 'address'])) + ok(ns.exec('ip', ['-o', 'link'])).replace(/\\.*$/gm, '');

const rejection = async (p: Promise<unknown>): Promise<IpvsError> => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(IpvsError);
  return e as IpvsError;
};

describe('addresses', () => {
  it('adds a /32 under an alias label, as ip shows it, and refuses a duplicate in words', async () => {
    await setLinkUp('lo', { netns });
    expect(await addAddress({ dev: 'lo', address: '10.0.0.1', label: 'lo:0', netns })).toBe(true);
    expect(ipAddrs()).toContain('lo inet 10.0.0.1/32 lo:0');
    expect(await listAddresses({ dev: 'lo', netns })).toContainEqual({ dev: 'lo', family: 'inet', address: '10.0.0.1', prefixLength: 32, label: 'lo:0' });

    const dup = await rejection(addAddress({ dev: 'lo', address: '10.0.0.1', label: 'lo:0', netns }));
    expect(dup).toMatchObject({ code: 'EEXIST', errno: 17, op: 'addAddress' });
    expect(dup.message).toBe(`address 10.0.0.1/32 already exists on lo (network namespace ${netns})`);
    expect(await addAddress({ dev: 'lo', address: '10.0.0.1', netns, exist: 'ok' })).toBe(false);
    expect(ipAddrs().filter((l) => l.includes('10.0.0.1'))).toHaveLength(1);

    expect(await deleteAddress({ dev: 'lo', address: '10.0.0.1', netns })).toBe(true);
    expect(ipAddrs().join()).not.toContain('10.0.0.1');
    const gone = await rejection(deleteAddress({ dev: 'lo', address: '10.0.0.1', netns }));
    expect(gone).toMatchObject({ code: 'EADDRNOTAVAIL', op: 'deleteAddress' });
    expect(gone.message).toContain('address 10.0.0.1/32 is not on lo');
    expect(await deleteAddress({ dev: 'lo', address: '10.0.0.1', netns, exist: 'ok' })).toBe(false);
  });

  it('handles the origin alias style on a device whose name has a dot (bond0.4001:0)', async () => {
    ok(ns.exec('ip', ['link', 'add', 'bond0.4001', 'type', 'dummy']));
    await addAddress({ dev: 'bond0.4001', address: '192.0.2.10', label: 'bond0.4001:0', netns });
    expect(ipAddrs('bond0.4001')).toEqual(['bond0.4001 inet 192.0.2.10/32 bond0.4001:0']);
    await addAddress({ dev: 'bond0.4001', address: '192.0.2.1', prefixLength: 24, netns });
    const mine = (await listAddresses({ dev: 'bond0.4001', netns })).filter((a) => a.family === 'inet');
    expect(mine).toEqual([
      { dev: 'bond0.4001', family: 'inet', address: '192.0.2.10', prefixLength: 32, label: 'bond0.4001:0' },
      { dev: 'bond0.4001', family: 'inet', address: '192.0.2.1', prefixLength: 24 },
    ]);
  });

  it('adds IPv6 as /128 by default, without a label', async () => {
    await addAddress({ dev: 'lo', address: 'fd00:0:0::7', netns });
    expect(ipAddrs()).toContain('lo inet6 fd00::7/128');
    expect(await listAddresses({ dev: 'lo', netns })).toContainEqual({ dev: 'lo', family: 'inet6', address: 'fd00::7', prefixLength: 128 });
    await deleteAddress({ dev: 'lo', address: 'fd00::7', netns });
    expect(ipAddrs().join()).not.toContain('fd00::7');
    // A VIP that must never be a source address: preferred_lft 0.
    await addAddress({ dev: 'lo', address: 'fd00::8', deprecated: true, netns });
    expect(ok(ns.exec('ip', ['-o', 'address', 'show', 'dev', 'lo']))).toMatch(/inet6 fd00::8\/128 scope global deprecated.*valid_lft forever preferred_lft 0sec/);
    await deleteAddress({ dev: 'lo', address: 'fd00::8', netns });
    await expect(addAddress({ dev: 'lo', address: '10.0.0.8', deprecated: true, netns })).rejects.toThrow(/only IPv6/);
  });

  it('sets links up and down', async () => {
    ok(ns.exec('ip', ['link', 'add', 'dummy7', 'type', 'dummy']));
    await setLinkUp('dummy7', { netns });
    expect(ok(ns.exec('ip', ['-o', 'link', 'show', 'dummy7']))).toMatch(/<[^>]*\bUP\b/);
    await setLinkDown('dummy7', { netns });
    expect(ok(ns.exec('ip', ['-o', 'link', 'show', 'dummy7']))).not.toMatch(/<[^>]*\bUP\b/);
  });

  it('names an unknown device (ENODEV) and the namespace', async () => {
    const e = await rejection(addAddress({ dev: 'eth9', address: '10.0.0.2', netns }));
    expect(e).toMatchObject({ code: 'ENODEV', errno: 19 });
    expect(e.message).toBe(`no network device named 'eth9' (network namespace ${netns})`);
    expect((await rejection(setLinkUp('eth9', { netns }))).code).toBe('ENODEV');
    expect((await rejection(listAddresses({ dev: 'eth9', netns }))).code).toBe('ENODEV');
  });
});

describe('sysctls', () => {
  it('reads and writes the namespace’s own values (sysctl(8) agrees; the host is untouched)', async () => {
    const hostBefore = ok(run('sysctl', ['-n', 'net.ipv4.conf.all.arp_ignore'])).trim();
    await writeSysctl('net.ipv4.conf.all.arp_ignore', 2, { netns });
    expect(sysctlN('net.ipv4.conf.all.arp_ignore')).toBe('2');
    expect(await readSysctl('net.ipv4.conf.all.arp_ignore', { netns })).toBe('2');
    expect(await readSysctl('net/ipv4/conf/all/arp_ignore', { netns })).toBe('2');
    expect(ok(run('sysctl', ['-n', 'net.ipv4.conf.all.arp_ignore'])).trim()).toBe(hostBefore);
    await writeSysctl('net.ipv4.conf.all.arp_ignore', '0', { netns });
    expect(sysctlN('net.ipv4.conf.all.arp_ignore')).toBe('0');
  });

  it('reads multi-value sysctls exactly and writes them back', async () => {
    const range = await readSysctl('net.ipv4.ip_local_port_range', { netns });
    expect(range).toMatch(/^\d+\t\d+$/);
    await writeSysctl('net.ipv4.ip_local_port_range', '20000\t30000', { netns });
    expect(sysctlN('net.ipv4.ip_local_port_range')).toBe('20000\t30000');
    await writeSysctl('net.ipv4.ip_local_port_range', range, { netns });
    expect(await readSysctl('net.ipv4.ip_local_port_range', { netns })).toBe(range);
  });

  it('reaches an interface with a dot in its name, in both spellings', async () => {
    await writeSysctl('net/ipv4/conf/bond0.4001/arp_announce', 2, { netns });
    expect(ok(ns.exec('cat', ['/proc/sys/net/ipv4/conf/bond0.4001/arp_announce'])).trim()).toBe('2');
    // sysctl(8)'s convention: in a dotted key, '/' stands for a dot in a name.
    expect(await readSysctl('net.ipv4.conf.bond0/4001.arp_announce', { netns })).toBe('2');
    expect(sysctlN('net.ipv4.conf.bond0/4001.arp_announce')).toBe('2');
  });

  it('says which key is missing', async () => {
    const e = await rejection(readSysctl('net.ipv4.conf.eth9.arp_ignore', { netns }));
    expect(e.code).toBe('ENOENT');
    expect(e.message).toMatch(/^no sysctl net\.ipv4\.conf\.eth9\.arp_ignore .*network namespace/);
    expect((await rejection(writeSysctl('net.ipv4.conf.all.arp_ignore', 'abc', { netns }))).code).toBe('EINVAL');
  });
});

describe('network namespaces', () => {
  const name = `hostb-ns-${process.pid}`;

  it('creates namespaces that ip netns sees and uses, and deletes them', async () => {
    await createNetns(name);
    expect(existsSync(`/run/netns/${name}`)).toBe(true);
    expect(ok(run('ip', ['netns', 'list']))).toContain(name);
    expect(await listNetns()).toContain(name);
    // A new, empty namespace, not the caller's: lo, plus the fallback devices
    // that loaded tunnel modules put in every namespace (ipip's tunl0).
    const links = ok(run('ip', ['netns', 'exec', name, 'ip', '-o', 'link'])).trim().split('\n');
    expect(links.map((l) => l.split(/[:@]\s*/)[1]).filter((n) => !/^(tunl0|gre0|gretap0|erspan0|ip6tnl0|sit0|ip_vti0)$/.test(n!))).toEqual(['lo']);
    const mine = ok(run('readlink', ['/proc/self/ns/net'])).trim();
    expect(ok(run('ip', ['netns', 'exec', name, 'readlink', '/proc/self/ns/net'])).trim()).not.toBe(mine);

    const dup = await rejection(createNetns(name));
    expect(dup.code).toBe('EEXIST');
    expect(dup.message).toContain(`network namespace ${name} already exists`);

    await deleteNetns(name);
    expect(existsSync(`/run/netns/${name}`)).toBe(false);
    expect(ok(run('ip', ['netns', 'list']))).not.toContain(name);
    expect((await rejection(deleteNetns(name))).code).toBe('ENOENT');
  });

  it('the native layer itself refuses a namespace name that is a path', async () => {
    // Below the TypeScript checks: these calls run as root and unmount and unlink the path.
    const { host } = await import('../../lib/host/native.js');
    for (const bad of ['../x', '..', '.', 'a/b', '']) {
      for (const call of [host().createNetns, host().deleteNetns]) {
        const e = await call(bad).then(() => undefined, (err: unknown) => err);
        expect(e, `${call.name}('${bad}')`).toMatchObject({ name: 'IpvsError', code: 'EINVAL' });
      }
    }
    expect(existsSync('/run/x')).toBe(false);
  });

  it('deletes a namespace made by ip netns add', async () => {
    ok(run('ip', ['netns', 'add', `${name}-ip`]));
    expect(await listNetns()).toContain(`${name}-ip`);
    await deleteNetns(`${name}-ip`);
    expect(ok(run('ip', ['netns', 'list']))).not.toContain(`${name}-ip`);
  });
});

describe('bad input is refused before anything is sent', () => {
  it('throws TypeError / RangeError and leaves the namespace as it was', async () => {
    const before = everything();
    const sysBefore = sysctlN('net.ipv4.conf.all.arp_ignore');
    const cases: [() => Promise<unknown>, ErrorConstructor | RangeErrorConstructor, RegExp][] = [
      [() => addAddress({ dev: 'lo', address: '10.0.0.3', prefixLength: 40, netns }), RangeError, /prefixLength must be 0–32 for an IPv4 address, got 40/],
      [() => addAddress({ dev: 'lo', address: 'fd00::3', prefixLength: 129, netns }), RangeError, /0–128/],
      [() => addAddress({ dev: 'lo', address: '10.0.0.300', netns }), TypeError, /not an IPv4 or IPv6 address: '10.0.0.300'/],
      [() => addAddress({ dev: '../eth0', address: '10.0.0.3', netns }), TypeError, /not a valid interface name: '..\/eth0'/],
      [() => addAddress({ dev: '..', address: '10.0.0.3', netns }), TypeError, /not a valid interface name/],
      [() => addAddress({ dev: 'eth0/x', address: '10.0.0.3', netns }), TypeError, /not a valid interface name/],
      [() => addAddress({ dev: 'averyveryverylongname', address: '10.0.0.3', netns }), RangeError, /longer than 15/],
      [() => addAddress({ dev: 'lo', address: '10.0.0.3', label: 'eth0:0', netns }), TypeError, /must be the device name or start with 'lo:'/],
      [() => addAddress({ dev: 'lo', address: 'fd00::3', label: 'lo:0', netns }), TypeError, /IPv6 addresses have no labels/],
      [() => addAddress({ dev: 'lo', address: '10.0.0.3', netns: '../../etc' }), TypeError, /namespace/],
      [() => readSysctl('net.ipv4..arp_ignore', { netns }), TypeError, /not a valid sysctl key/],
      [() => readSysctl('net/ipv4/conf/../../../kernel/hostname', { netns }), TypeError, /not a valid sysctl key/],
      [() => readSysctl('kernel.hostname', { netns }), TypeError, /only network sysctls/],
      [() => writeSysctl('net.ipv4.conf.all.arp_ignore', '1\n0', { netns }), TypeError, /one non-empty line/],
      [() => writeSysctl('net.ipv4.conf.all.arp_ignore', 1.5, { netns }), RangeError, /integer/],
      [() => createNetns('../escape'), TypeError, /not a valid network namespace name/],
      [() => deleteNetns('a/b'), TypeError, /not a valid network namespace name/],
    ];
    for (const [call, type, message] of cases) {
      const e = await call().then(
        () => new Error('resolved'),
        (err: unknown) => err,
      );
      expect(e, String(message)).toBeInstanceOf(type);
      expect((e as Error).message).toMatch(message);
    }
    expect(everything()).toBe(before);
    expect(sysctlN('net.ipv4.conf.all.arp_ignore')).toBe(sysBefore);
    expect(existsSync('/run/netns/escape')).toBe(false);
  });
});
