// Issue 4: host-helper input checks. Everything here is refused before the
// addon is asked to do anything, so it runs without a kernel or privileges.
import { describe, expect, test } from 'vitest';

import {
  addAddress,
  configureDirector,
  configureRealServer,
  createLab,
  createNetns,
  deleteAddress,
  deleteNetns,
  listAddresses,
  readSysctl,
  setLinkUp,
  writeSysctl,
} from '../../lib/host/index.js';
import { checkAddress, checkIfName, checkLabel, checkNetnsName, checkPrefix, netnsArg, sysctlPath, sysctlValue } from '../../lib/host/validate.js';

describe('interface names and labels', () => {
  test.each(['lo', 'eth0', 'bond0.4001', 'br-lan_1', 'a', 'x'.repeat(15)])('accepts %s', (n) => expect(checkIfName(n)).toBe(n));
  test.each(['', '.', '..', '../eth0', 'eth0/1', 'eth0:0', 'eth 0', 'tab\there', 'nul\0'])('refuses %j with a TypeError', (n) => {
    expect(() => checkIfName(n)).toThrow(TypeError);
  });
  test('refuses 16 bytes (IFNAMSIZ) with a RangeError, counting bytes not characters', () => {
    expect(() => checkIfName('x'.repeat(16))).toThrow(RangeError);
    expect(() => checkIfName('é'.repeat(8))).toThrow(RangeError);
  });
  test('labels are the device name or DEV:SUFFIX, 15 bytes at most', () => {
    expect(checkLabel('lo:0', 'lo')).toBe('lo:0');
    expect(checkLabel('bond0.4001:0', 'bond0.4001')).toBe('bond0.4001:0');
    expect(checkLabel('eth0', 'eth0')).toBe('eth0');
    expect(() => checkLabel('eth1:0', 'eth0')).toThrow(/must be the device name or start with 'eth0:'/);
    expect(() => checkLabel('eth0:', 'eth0')).toThrow(TypeError);
    expect(() => checkLabel('eth00', 'eth0')).toThrow(TypeError);
    expect(() => checkLabel('eth0:a/b', 'eth0')).toThrow(TypeError);
    expect(checkLabel('bond0.4001:1000', 'bond0.4001')).toBe('bond0.4001:1000'); // 15 bytes
    expect(() => checkLabel('bond0.4001:10000', 'bond0.4001')).toThrow(RangeError);
  });
});

describe('addresses and prefixes', () => {
  test('families', () => {
    expect(checkAddress('10.0.0.1')).toBe('inet');
    expect(checkAddress('fd00::1')).toBe('inet6');
    expect(checkAddress('::ffff:10.0.0.1')).toBe('inet6');
    for (const bad of ['10.0.0.256', '10.0.0', '10.0.0.1/32', 'fe80::1%eth0', 'host', '', 42]) expect(() => checkAddress(bad)).toThrow(TypeError);
  });
  test('prefix defaults and ranges', () => {
    expect(checkPrefix(undefined, 'inet')).toBe(32);
    expect(checkPrefix(undefined, 'inet6')).toBe(128);
    expect(checkPrefix(0, 'inet')).toBe(0);
    expect(() => checkPrefix(40, 'inet')).toThrow(new RangeError('prefixLength must be 0–32 for an IPv4 address, got 40'));
    expect(() => checkPrefix(129, 'inet6')).toThrow(RangeError);
    expect(() => checkPrefix(-1, 'inet')).toThrow(RangeError);
    expect(() => checkPrefix(24.5, 'inet')).toThrow(TypeError);
    expect(() => checkPrefix('24', 'inet')).toThrow(TypeError);
  });
});

describe('namespaces', () => {
  test('names and paths', () => {
    expect(netnsArg(undefined)).toBeNull();
    expect(netnsArg('lab-1')).toBe('/run/netns/lab-1');
    expect(netnsArg('/proc/1/ns/net')).toBe('/proc/1/ns/net');
    expect(() => netnsArg('/run/netns/../../etc/passwd')).toThrow(TypeError);
    expect(checkNetnsName('lvslab-1_a.b')).toBe('lvslab-1_a.b');
    for (const bad of ['', '.', '..', 'a/b', '../x', 'a b', 'a\0b']) expect(() => checkNetnsName(bad)).toThrow(TypeError);
    expect(() => checkNetnsName('x'.repeat(256))).toThrow(RangeError);
  });
});

describe('sysctl keys and values', () => {
  test('dotted keys; "/" stands for a dot inside a name, as in sysctl(8)', () => {
    expect(sysctlPath('net.ipv4.conf.all.arp_ignore')).toBe('net/ipv4/conf/all/arp_ignore');
    expect(sysctlPath('net.ipv4.conf.bond0/4001.arp_ignore')).toBe('net/ipv4/conf/bond0.4001/arp_ignore');
    expect(sysctlPath('net.ipv4.vs.conntrack')).toBe('net/ipv4/vs/conntrack');
  });
  test('slashed keys are the path itself', () => {
    expect(sysctlPath('net/ipv4/conf/bond0.4001/arp_ignore')).toBe('net/ipv4/conf/bond0.4001/arp_ignore');
  });
  test.each([
    'kernel.hostname',
    'kernel/hostname',
    'net',
    'net.',
    'net..ipv4',
    'net.ipv4.conf.all.',
    'net/ipv4//conf',
    'net/ipv4/conf/../../../kernel/hostname',
    'net/ipv4/./conf',
    'net.ipv4.conf.bond0/../x.arp_ignore',
    'net.ipv4.conf.eth 0.arp_ignore',
    '/proc/sys/net/ipv4/ip_forward',
  ])('refuses %j', (key) => expect(() => sysctlPath(key)).toThrow(TypeError));
  test('values', () => {
    expect(sysctlValue(1, 'k')).toBe('1');
    expect(sysctlValue(-1, 'k')).toBe('-1');
    expect(sysctlValue('32768\t60999', 'k')).toBe('32768\t60999');
    expect(sysctlValue('reno', 'k')).toBe('reno');
    expect(() => sysctlValue(1.5, 'k')).toThrow(RangeError);
    expect(() => sysctlValue(Number.NaN, 'k')).toThrow(RangeError);
    for (const bad of ['', '1\n', '1\r', 'a\0', 'é']) expect(() => sysctlValue(bad, 'k')).toThrow(TypeError);
    expect(() => sysctlValue('x'.repeat(257), 'k')).toThrow(RangeError);
    expect(() => sysctlValue(true, 'k')).toThrow(TypeError);
  });
});

describe('public functions refuse bad input before sending anything', () => {
  // None of these reach the addon: no root or kernel needed to run them.
  test.each([
    ['prefix 40', () => addAddress({ dev: 'lo', address: '10.0.0.1', prefixLength: 40 }), RangeError],
    ['bad address', () => addAddress({ dev: 'lo', address: '10.0.0.300' }), TypeError],
    ['traversal in dev', () => addAddress({ dev: '../lo', address: '10.0.0.1' }), TypeError],
    ['slash in dev', () => deleteAddress({ dev: 'lo/x', address: '10.0.0.1' }), TypeError],
    ['unknown option', () => addAddress({ dev: 'lo', address: '10.0.0.1', lable: 'lo:0' } as never), TypeError],
    ['IPv6 label', () => addAddress({ dev: 'lo', address: 'fd00::1', label: 'lo:0' }), TypeError],
    ['exist value', () => addAddress({ dev: 'lo', address: '10.0.0.1', exist: 'maybe' as never }), TypeError],
    ['listAddresses dev', () => listAddresses({ dev: '..' }), TypeError],
    ['setLinkUp dev', () => setLinkUp('a/b'), TypeError],
    ['sysctl outside net', () => readSysctl('kernel.panic'), TypeError],
    ['sysctl value', () => writeSysctl('net.ipv4.ip_forward', '1\n'), TypeError],
    ['netns traversal', () => readSysctl('net.ipv4.ip_forward', { netns: '../x' }), TypeError],
    ['createNetns name', () => createNetns('a/b'), TypeError],
    ['deleteNetns name', () => deleteNetns('..'), TypeError],
    ['no VIPs', () => configureRealServer({ vips: [] }), TypeError],
    ['bad VIP', () => configureRealServer({ vips: ['10.0.0.1', 'nope'] }), TypeError],
    ['same VIP twice', () => configureRealServer({ vips: ['10.0.0.1', '10.0.0.1'] }), TypeError],
    ['bad interface', () => configureRealServer({ vips: ['10.0.0.1'], interfaces: ['eth0', '../x'] }), TypeError],
    ['interfaces not an array', () => configureRealServer({ vips: ['10.0.0.1'], interfaces: 'eth0' as never }), TypeError],
    ['tunnel not a boolean', () => configureRealServer({ vips: ['10.0.0.1'], tunnel: 'yes' as never }), TypeError],
    ['director label', () => configureDirector({ vip: '10.0.0.1', dev: 'eth0', label: 'eth1:0' }), TypeError],
    ['director forwarding', () => configureDirector({ vip: '10.0.0.1', dev: 'eth0', forwarding: 'dr' as never }), TypeError],
    ['lab forwarding', () => createLab({ forwarding: 'dr' as never, realServers: [{ weight: 1 }] }), TypeError],
    ['lab servers', () => createLab({ forwarding: 'route', realServers: [] }), RangeError],
    ['lab port', () => createLab({ forwarding: 'route', port: 0, realServers: [{ weight: 1 }] }), RangeError],
    ['lab timeout', () => createLab({ forwarding: 'route', timeoutMs: 0, realServers: [{ weight: 1 }] }), RangeError],
  ] as const)('%s', async (_name, call, type) => {
    await expect(call()).rejects.toThrow(type);
  });
});
