// `ipvs-ts realserver setup|restore` and its state file, with the host's
// system calls stood in for (lib/cli/realserver.ts RealServerHost): what
// another user could plant or forge is refused before anything changes, two
// setups at once cannot both run, and a setup that died is explained. The
// kernel test (test/kernel/cli-script.test.ts) runs the real thing.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  RealServerStateError,
  parseRealServerState,
  realServerRestore,
  realServerSetup,
  type RealServerHost,
  type RealServerState,
} from '../../lib/cli/realserver.js';
import type { HostChanges } from '../../lib/host/index.js';
import { StateFileError } from '../../lib/state-file.js';

const asRoot = process.geteuid?.() === 0;

let dir: string;
/** Stands for the namespace file: the checks only need its inode. */
let netns: string;
let statePath: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipvs-ts-rs-'));
  netns = join(dir, 'netns');
  writeFileSync(netns, '');
  statePath = join(dir, 'state', 'rs.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const CHANGES: Omit<HostChanges, 'restore'> = {
  sysctls: [
    { key: 'net/ipv4/conf/all/arp_ignore', before: '0', after: '1' },
    { key: 'net/ipv4/conf/bond0.4001/arp_announce', before: '0', after: '2' },
    { key: 'net/ipv4/conf/default/rp_filter', before: '2', after: '0' },
    { key: 'net/ipv4/conf/eth1/rp_filter', before: '1', after: '0' },
  ],
  addresses: [
    { dev: 'lo', address: '192.0.2.10', prefixLength: 32, label: 'lo:0' },
    { dev: 'lo', address: '2001:db8::10', prefixLength: 128, deprecated: true },
    { dev: 'tunl0', address: '192.0.2.10', prefixLength: 32 },
  ],
  links: ['tunl0'],
};

/** A host whose calls are recorded; `configure` waits for `release` when given one. */
function fakeHost(options: { release?: Promise<void>; restored?: string[] } = {}) {
  const calls: string[] = [];
  const host: RealServerHost = {
    async configure(o) {
      calls.push(`configure ${o.vips.join(',')}`);
      await options.release;
      return {
        ...structuredClone(CHANGES),
        restore: async () => {
          calls.push('undo');
        },
      };
    },
    async deleteAddress(a) {
      calls.push(`deleteAddress ${a.dev} ${a.address}/${a.prefixLength} ${a.netns ?? '-'}`);
      return true;
    },
    async setLinkDown(dev, o) {
      calls.push(`setLinkDown ${dev} ${o?.netns ?? '-'}`);
    },
    async writeSysctl(key, value, o) {
      calls.push(`writeSysctl ${key}=${value} ${o?.netns ?? '-'}`);
    },
  };
  return { host, calls };
}

const setup = (host: RealServerHost, path = statePath) => realServerSetup({ vips: ['192.0.2.10'], interfaces: ['bond0.4001'], tunnel: true, netns, statePath: path }, host);

const rejection = async (p: Promise<unknown>): Promise<Error> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(Error);
  return e as Error;
};

describe('setup', () => {
  it('records the changes whole, 0644 in a 0755 folder, and never writes through a link planted at a temporary name', async () => {
    // The old temporary names were predictable (STATE.PID.tmp): a link there
    // sent root's write anywhere, truncating what it pointed at.
    const victim = join(dir, 'shadow');
    writeFileSync(victim, 'root:secret\n');
    mkdirSync(join(dir, 'state'));
    for (const pid of [process.pid, process.pid + 1]) symlinkSync(victim, `${statePath}.${pid}.tmp`);
    const { host, calls } = fakeHost();
    const state = await setup(host);
    expect(readFileSync(victim, 'utf8')).toBe('root:secret\n');
    expect(calls).toEqual(['configure 192.0.2.10']);
    expect(JSON.parse(readFileSync(statePath, 'utf8'))).toEqual(state);
    expect(state).toMatchObject({ format: 'ipvs-ts/realserver', version: 1, netns, netnsInode: statSync(netns).ino, ...CHANGES });
    expect(statSync(statePath).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o755);
    // A second setup is refused while the first is recorded.
    const again = await rejection(setup(fakeHost().host));
    expect(again).toBeInstanceOf(RealServerStateError);
    expect(again.message).toBe(`${statePath} exists: this namespace is set up already (run \`ipvs-ts realserver restore\` first)`);
  });

  it('two setups at once: the second fails at once, naming the first; only one configures', async () => {
    let release!: () => void;
    const first = fakeHost({ release: new Promise<void>((r) => (release = r)) });
    const running = setup(first.host);
    // The first holds its claim (a pending placeholder) while it configures.
    for (let i = 0; i < 100 && first.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(first.calls).toEqual(['configure 192.0.2.10']);
    const second = fakeHost();
    const e = await rejection(setup(second.host));
    expect(e).toBeInstanceOf(RealServerStateError);
    expect(e.message).toMatch(new RegExp(`^${statePath}: another \`ipvs-ts realserver setup\` \\(pid ${process.pid}, started [0-9T:.Z-]+\\) is running for this namespace; try again once it has finished$`));
    expect(second.calls).toEqual([]);
    // Restore refuses to act on a setup that is still running.
    const r = await rejection(realServerRestore(statePath, {}, second.host));
    expect(r.message).toMatch(/is still running; restore once it has finished$/);
    release();
    await running;
    expect(JSON.parse(readFileSync(statePath, 'utf8'))).not.toHaveProperty('pending');
  });

  it('a failed setup leaves no claim behind', async () => {
    const { host } = fakeHost();
    host.configure = async () => {
      throw new Error('no such device');
    };
    await expect(setup(host)).rejects.toThrow('no such device');
    expect(existsSync(statePath)).toBe(false);
    await setup(fakeHost().host);
  });

  it('a setup that died leaves a placeholder: setup explains it, restore explains and removes it', async () => {
    mkdirSync(join(dir, 'state'));
    // A pid that is not running (pid_max is at most 2^22).
    const dead = { format: 'ipvs-ts/realserver', version: 1, pending: true, pid: 4194304 + 7, processStart: '123', bootId: null, netns, netnsInode: statSync(netns).ino, created: '2025-01-01T00:00:00.000Z' };
    writeFileSync(statePath, JSON.stringify(dead));
    const { host, calls } = fakeHost();
    const e = await rejection(setup(host));
    expect(e.message).toBe(
      `${statePath}: a \`ipvs-ts realserver setup\` (pid ${dead.pid}, started ${dead.created}) stopped before it recorded what it changed (killed, or the machine went down), so nothing can be put back from it. ` +
        `Check arp_ignore, arp_announce and rp_filter under net.ipv4.conf and the VIPs on lo (and tunl0, ip6tnl0) of network namespace ${netns} by hand; then run \`ipvs-ts realserver restore\`, which removes the placeholder.`,
    );
    const r = await rejection(realServerRestore(statePath, {}, host));
    expect(r.message).toMatch(/the placeholder has been removed, so setup can run again\.$/);
    expect(calls).toEqual([]);
    expect(existsSync(statePath)).toBe(false);
    await setup(host);
  });

  it('refuses a state folder another user can write, changing nothing', async () => {
    mkdirSync(join(dir, 'state'), { mode: 0o777 });
    chmodSync(join(dir, 'state'), 0o777);
    const { host, calls } = fakeHost();
    const e = await rejection(setup(host));
    expect(e).toBeInstanceOf(StateFileError);
    expect(e.message).toBe(`refusing state folder ${join(dir, 'state')}: it is writable by group or others (mode 0777) and not a root-owned sticky folder like /tmp`);
    expect(calls).toEqual([]);
  });
});

describe('restore', () => {
  const record = (): RealServerState => ({
    format: 'ipvs-ts/realserver',
    version: 1,
    netns,
    netnsInode: statSync(netns).ino,
    created: '2025-01-01T00:00:00.000Z',
    vips: ['192.0.2.10', '2001:db8::10'],
    ...structuredClone(CHANGES),
  });
  const plant = (data: unknown): void => {
    mkdirSync(join(dir, 'state'), { recursive: true });
    writeFileSync(statePath, typeof data === 'string' ? data : JSON.stringify(data));
  };

  it('puts back a valid record in reverse, in the recorded namespace, and removes the file', async () => {
    plant(record());
    const { host, calls } = fakeHost();
    const { state, failures } = await realServerRestore(statePath, {}, host);
    expect(failures).toEqual([]);
    expect(state).toEqual(record());
    expect(calls).toEqual([
      `deleteAddress tunl0 192.0.2.10/32 ${netns}`,
      `deleteAddress lo 2001:db8::10/128 ${netns}`,
      `deleteAddress lo 192.0.2.10/32 ${netns}`,
      `setLinkDown tunl0 ${netns}`,
      `writeSysctl net/ipv4/conf/eth1/rp_filter=1 ${netns}`,
      `writeSysctl net/ipv4/conf/default/rp_filter=2 ${netns}`,
      `writeSysctl net/ipv4/conf/bond0.4001/arp_announce=0 ${netns}`,
      `writeSysctl net/ipv4/conf/all/arp_ignore=0 ${netns}`,
    ]);
    expect(existsSync(statePath)).toBe(false);
    await expect(realServerRestore(statePath, {}, host)).rejects.toThrow(`${statePath} does not exist: nothing to restore`);
  });

  it('refuses a forged or damaged file before changing anything, naming the field', async () => {
    const cases: [(r: Record<string, any>) => unknown, string][] = [
      [() => 'not json', 'Unexpected token'],
      [() => [], 'it must hold a JSON object, got []'],
      [(r) => ({ ...r, format: 'other' }), "format must be 'ipvs-ts/realserver', got 'other'"],
      [(r) => ({ ...r, version: 2 }), 'version must be 1, got 2'],
      [(r) => ({ ...r, extra: 1 }), "unknown field 'extra'"],
      [({ links: _, ...r }) => r, 'field links is missing'],
      [(r) => ({ ...r, netns: '../../etc' }), "netns is not a valid namespace name: '../../etc'"],
      [(r) => ({ ...r, netnsInode: -1 }), 'netnsInode must be a positive integer, got -1'],
      [(r) => ({ ...r, vips: [] }), 'vips must list at least one address'],
      [(r) => ({ ...r, vips: ['192.0.2.300'] }), "vips[0]: the VIP is not an IPv4 or IPv6 address: '192.0.2.300'"],
      [(r) => ({ ...r, sysctls: [{ key: 'net/ipv4/ip_forward', before: '1', after: '0' }] }), "sysctls[0].key must be a sysctl realserver setup changes (net/ipv4/conf/{all,default,DEVICE}/{arp_ignore,arp_announce,rp_filter}), got 'net/ipv4/ip_forward'"],
      [(r) => ({ ...r, sysctls: [{ key: 'net/ipv4/conf/all/accept_redirects', before: '1', after: '0' }] }), "got 'net/ipv4/conf/all/accept_redirects'"],
      [(r) => ({ ...r, sysctls: [{ key: 'net/ipv4/conf/../arp_ignore', before: '1', after: '0' }] }), "sysctls[0].key: its device is not a valid interface name: '..'"],
      [(r) => ({ ...r, sysctls: [{ key: 'net.ipv4.conf.all.arp_ignore', before: '1', after: '0' }] }), "got 'net.ipv4.conf.all.arp_ignore'"],
      [(r) => ({ ...r, sysctls: [{ key: 'net/ipv4/conf/all/arp_ignore', before: '1; reboot', after: '1' }] }), "sysctls[0].before must be an integer (as text), got '1; reboot'"],
      [(r) => ({ ...r, sysctls: [{ key: 'net/ipv4/conf/all/arp_ignore', before: 0, after: '1' }] }), 'sysctls[0].before must be an integer (as text), got 0'],
      [(r) => ({ ...r, sysctls: [{ key: 'net/ipv4/conf/all/arp_ignore', before: '0', after: '1', more: 1 }] }), "sysctls[0] has an unknown field 'more'"],
      [(r) => ({ ...r, addresses: [{ dev: 'eth0', address: '10.0.0.1', prefixLength: 32 }] }), "addresses[0].dev must be one of lo, tunl0, ip6tnl0 (where setup adds VIPs), got 'eth0'"],
      [(r) => ({ ...r, addresses: [{ dev: 'lo', address: '10.0.0.0', prefixLength: 8 }] }), 'addresses[0].prefixLength must be 32 (setup adds VIPs as single hosts), got 8'],
      [(r) => ({ ...r, addresses: [{ dev: 'lo', address: '2001:db8::1', prefixLength: 64 }] }), 'addresses[0].prefixLength must be 128 (setup adds VIPs as single hosts), got 64'],
      [(r) => ({ ...r, addresses: [{ dev: 'lo', address: 'localhost', prefixLength: 32 }] }), "addresses[0].address: the address is not an IPv4 or IPv6 address: 'localhost'"],
      [(r) => ({ ...r, addresses: [{ dev: 'tunl0', address: '2001:db8::1', prefixLength: 128 }] }), "addresses[0]: setup puts no IPv6 address on tunl0, got '2001:db8::1'"],
      [(r) => ({ ...r, addresses: [{ dev: 'lo', address: '10.0.0.1', prefixLength: 32, label: 'eth0:1' }] }), "addresses[0].label: label 'eth0:1' must be the device name or start with 'lo:'"],
      [(r) => ({ ...r, addresses: [{ dev: 'lo', address: '10.0.0.1', prefixLength: 32, deprecated: true }] }), 'addresses[0].deprecated must be true or false, and only on an IPv6 address, got true'],
      [(r) => ({ ...r, links: ['eth0'] }), "links[0] must be one of lo, tunl0, ip6tnl0 (the devices setup brings up), got 'eth0'"],
    ];
    for (const [forge, why] of cases) {
      plant(forge(record() as unknown as Record<string, any>));
      const { host, calls } = fakeHost();
      const e = await rejection(realServerRestore(statePath, {}, host));
      expect(e, why).toBeInstanceOf(RealServerStateError);
      expect(e.message, why).toContain(`${statePath} is not a valid ipvs-ts real-server state file: `);
      expect(e.message, why).toContain(why);
      expect(calls, why).toEqual([]);
      expect(existsSync(statePath), why).toBe(true);
    }
    // The checks themselves accept what setup writes.
    expect(parseRealServerState(JSON.stringify(record()), statePath)).toEqual(record());
  });

  it('refuses a record of another namespace, or of one deleted and made again', async () => {
    plant({ ...record(), netnsInode: statSync(netns).ino + 1 });
    const { host, calls } = fakeHost();
    const e = await rejection(realServerRestore(statePath, {}, host));
    expect(e.message).toBe(
      `${statePath}: netnsInode ${statSync(netns).ino + 1} is not the inode of network namespace ${netns} (${statSync(netns).ino}): ` +
        'the namespace was deleted and made again since setup, or the file belongs to another one; nothing was changed',
    );
    // --netns names the namespace to act in; the record must be for it.
    plant(record());
    const other = join(dir, 'other-netns');
    writeFileSync(other, '');
    await expect(realServerRestore(statePath, { netns: other }, host)).rejects.toThrow(`is not the inode of network namespace ${other}`);
    expect(calls).toEqual([]);
  });

  it('refuses a link planted at the state file, and a file others can write', async () => {
    const forged = join(dir, 'forged.json');
    writeFileSync(forged, JSON.stringify(record()));
    mkdirSync(join(dir, 'state'));
    symlinkSync(forged, statePath);
    const { host, calls } = fakeHost();
    expect((await rejection(realServerRestore(statePath, {}, host))).message).toBe(`refusing state file ${statePath}: it is a symbolic link`);
    rmSync(statePath);
    plant(record());
    chmodSync(statePath, 0o666);
    expect((await rejection(realServerRestore(statePath, {}, host))).message).toBe(`refusing state file ${statePath}: it is writable by group or others (mode 0666)`);
    expect(calls).toEqual([]);
  });

  it.runIf(asRoot)('refuses a file another user owns, and a folder another user owns', async () => {
    plant(record());
    chownSync(statePath, 4242, 4242);
    const { host, calls } = fakeHost();
    expect((await rejection(realServerRestore(statePath, {}, host))).message).toBe(`refusing state file ${statePath}: it is owned by uid 4242, not by root or uid 0 (this process)`);
    chownSync(statePath, 0, 0);
    chownSync(join(dir, 'state'), 4242, 4242);
    expect((await rejection(realServerRestore(statePath, {}, host))).message).toBe(
      `refusing state folder ${join(dir, 'state')}: it is owned by uid 4242, not by root or uid 0 (this process)`,
    );
    expect(calls).toEqual([]);
  });
});
