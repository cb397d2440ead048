import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';

import { describe, expect, test } from 'vitest';

// Services and destinations to and from the kernel (records) are tested in
// wire.test.ts; this file covers the text helpers and the small conversions.
import { daemonSpecToRaw, daemonStateToRaw, describeDestination, describeServiceKey, rawToDaemon, rawToInfo, rawToTimeouts, serviceKeyId, timeoutsToRaw } from '../../lib/convert.js';
import { addressFamily, canonicalAddress, formatIPv6, ipv4ToNumber, isContiguousMask, numberToIPv4, parseIPv6 } from '../../lib/address.js';
import type { ServiceKey } from '../../lib/types.js';
import { Gen } from './gen.js';

describe('IPv6 text', () => {
  // Pairs of [input, glibc inet_ntop output], built by fixtures/inet6-ntop.py.
  const fixture = JSON.parse(
    readFileSync(new URL('./fixtures/inet6-ntop.json', import.meta.url), 'utf8'),
  ) as [string, string][];

  test('the fixture is substantial', () => {
    expect(fixture.length).toBeGreaterThan(500);
  });

  test('canonicalAddress matches glibc inet_ntop for every fixture', () => {
    const wrong = fixture.filter(([input, want]) => canonicalAddress(input) !== want);
    expect(wrong).toEqual([]);
  });

  test.each([
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['0:0:0:0:0:FFFF:0102:0304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['::0:1.2.3.4', '::1.2.3.4'],
    ['::ffff:0:1.2.3.4', '::ffff:0:102:304'],
    ['::1', '::1'],
    ['::2', '::2'],
    ['::', '::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
    ['fe80::', 'fe80::'],
  ])('%s → %s', (input, want) => {
    expect(canonicalAddress(input)).toBe(want);
  });

  test('refuses what is not an address, and scoped text', () => {
    for (const bad of ['', 'fe80::1%eth0', '1::2::3', '10.0.0.300', '010.0.0.1', 'host', '::g', ' ::1']) {
      expect(canonicalAddress(bad)).toBeUndefined();
    }
    expect(addressFamily('fe80::1%eth0')).toBeUndefined();
    expect(addressFamily('10.0.0.1')).toBe('inet');
    expect(addressFamily('::1')).toBe('inet6');
  });

  test('IPv4 text passes unchanged', () => {
    expect(canonicalAddress('10.0.0.1')).toBe('10.0.0.1');
  });

  test("addressFamily calls 'inet' exactly what node:net isIPv4 accepts", () => {
    const g = new Gen(4);
    const mismatches: string[] = [];
    let valid = 0;
    for (let i = 0; i < 50000; i++) {
      const parts = Array.from({ length: g.bool(0.7) ? 4 : g.int(1, 6) }, () =>
        g.pick(['0', '1', '9', '10', '01', '00', '99', '100', '199', '200', '249', '250', '255', '256', '300', '999', '1000', '', ' 1', 'a']),
      );
      let text = parts.join(g.bool(0.95) ? '.' : g.pick([':', '..', ',']));
      if (g.bool(0.1)) text = g.pick(['.', '']) + text + g.pick(['.', '', '\n', '%1']);
      const ok = addressFamily(text) === 'inet';
      if (ok) valid++;
      if (ok !== isIPv4(text)) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
    expect(valid).toBeGreaterThan(2000);
  });

  test('parseIPv6 accepts exactly what node:net isIPv6 accepts (zone ids aside)', () => {
    const g = new Gen(5);
    const token = (): string => {
      const r = g.next();
      if (r < 0.45) return Array.from({ length: g.int(0, 5) }, () => g.pick([...'0123456789abcdefABCDEF'])).join('');
      if (r < 0.7) return ':';
      if (r < 0.8) return '::';
      if (r < 0.95) return [0, 1, 2, 3].map(() => g.pick(['0', '1', '01', '255', '256', '99', '010'])).join('.');
      return g.pick(['.', 'g', ' ', '1.2.3']);
    };
    const mismatches: string[] = [];
    let valid = 0;
    for (let i = 0; i < 50000; i++) {
      let text = Array.from({ length: g.int(1, 12) }, token).join('');
      if (g.bool(0.3)) text = g.ipv6();
      if (g.bool(0.2)) {
        const at = g.int(0, text.length);
        text = text.slice(0, at) + g.pick([':', '0', '.', '', 'f']) + text.slice(at + g.int(0, 1));
      }
      const ok = parseIPv6(text) !== undefined;
      if (ok) valid++;
      if (ok !== isIPv6(text)) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
    expect(valid).toBeGreaterThan(10000);
  });

  test('format and parse invert each other on random words', () => {
    const g = new Gen(6);
    for (let i = 0; i < 2000; i++) {
      const words = Array.from({ length: 8 }, () => (g.bool(0.5) ? 0 : g.int(0, 0xffff)));
      const text = formatIPv6(words);
      expect(parseIPv6(text)).toEqual(words);
      expect(canonicalAddress(text)).toBe(text);
    }
  });
});

describe('IPv4 masks', () => {
  test('dotted text ↔ host-order number', () => {
    expect(ipv4ToNumber('255.255.255.0')).toBe(0xffffff00);
    expect(ipv4ToNumber('255.255.255.255')).toBe(0xffffffff);
    expect(ipv4ToNumber('0.0.0.0')).toBe(0);
    expect(numberToIPv4(0xffffff00)).toBe('255.255.255.0');
    expect(numberToIPv4(0x80000000)).toBe('128.0.0.0');
  });
  test('contiguity', () => {
    for (let p = 0; p <= 32; p++) expect(isContiguousMask(p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0)).toBe(true);
    expect(isContiguousMask(0xff00ff00)).toBe(false);
    expect(isContiguousMask(0x000000ff)).toBe(false);
  });
});

describe('names in messages', () => {
  test.each<[ServiceKey, string]>([
    [{ protocol: 'tcp', address: '10.0.0.1', port: 80 }, 'tcp 10.0.0.1:80'],
    [{ protocol: 'udp', address: '2001:DB8:0::1', port: 53 }, 'udp [2001:db8::1]:53'],
    [{ protocol: 'sctp', address: '::ffff:10.0.0.1', port: 3868 }, 'sctp [::ffff:10.0.0.1]:3868'],
    [{ fwmark: 7 }, 'fwmark 7'],
    [{ fwmark: 7, family: 'inet' }, 'fwmark 7'],
    [{ fwmark: 7, family: 'inet6' }, 'fwmark 7 inet6'],
  ])('describeServiceKey(%o) = %s', (key, want) => {
    expect(describeServiceKey(key)).toBe(want);
  });

  test('describeDestination', () => {
    expect(describeDestination('10.0.0.2', 80)).toBe('10.0.0.2:80');
    expect(describeDestination('2001:db8:0::2', 80)).toBe('[2001:db8::2]:80');
  });

  test('serviceKeyId is the same for every spelling of one key', () => {
    const ids = [
      { protocol: 'tcp', address: '2001:db8::1', port: 80 },
      { protocol: 'tcp', address: '2001:DB8:0:0::1', port: 80 },
      { protocol: 'tcp', address: '2001:0db8:0000:0000:0000:0000:0000:0001', port: 80 },
    ].map((k) => serviceKeyId(k as ServiceKey));
    expect(new Set(ids).size).toBe(1);
    expect(serviceKeyId({ fwmark: 3 })).toBe(serviceKeyId({ fwmark: 3, family: 'inet' }));
    const distinct = [
      { protocol: 'tcp', address: '10.0.0.1', port: 80 },
      { protocol: 'udp', address: '10.0.0.1', port: 80 },
      { protocol: 'tcp', address: '10.0.0.1', port: 81 },
      { protocol: 'tcp', address: '10.0.0.2', port: 80 },
      { protocol: 'tcp', address: '::ffff:10.0.0.1', port: 80 },
      { fwmark: 80 },
      { fwmark: 80, family: 'inet6' },
    ].map((k) => serviceKeyId(k as ServiceKey));
    expect(new Set(distinct).size).toBe(distinct.length);
  });
});

describe('timeouts, daemons, info', () => {
  test('timeouts: absent means 0 (keep)', () => {
    expect(timeoutsToRaw({ tcp: 900 })).toEqual({ tcp: 900, tcpFin: 0, udp: 0 });
    expect(timeoutsToRaw({})).toEqual({ tcp: 0, tcpFin: 0, udp: 0 });
    expect(rawToTimeouts({ tcp: 900, tcpFin: 120, udp: 300 })).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });

  test('daemon spec: sync id defaults to 0; optional fields only when given', () => {
    expect(daemonSpecToRaw({ state: 'master', interface: 'eth0' })).toEqual({ state: 1, interface: 'eth0', syncId: 0 });
    expect(
      daemonSpecToRaw({
        state: 'backup',
        interface: 'eth1',
        syncId: 9,
        maxLength: 1400,
        group: 'ff02::81',
        port: 8849,
        ttl: 2,
      }),
    ).toEqual({ state: 2, interface: 'eth1', syncId: 9, maxLength: 1400, group: 'ff02::81', port: 8849, ttl: 2 });
    expect(daemonStateToRaw('master')).toBe(1);
    expect(daemonStateToRaw('backup')).toBe(2);
  });

  test('daemon from the kernel', () => {
    expect(rawToDaemon({ state: 1, interface: 'eth0', syncId: 0 })).toEqual({
      state: 'master',
      interface: 'eth0',
      syncId: 0,
    });
    expect(
      rawToDaemon({ state: 2, interface: 'eth0', syncId: 3, maxLength: 1472, group: 'FF02:0::81', port: 8848, ttl: 1 }),
    ).toEqual({ state: 'backup', interface: 'eth0', syncId: 3, maxLength: 1472, group: 'ff02::81', port: 8848, ttl: 1 });
    expect(() => rawToDaemon({ state: 3, interface: 'eth0', syncId: 0 })).toThrow('unexpected sync daemon state 3');
  });

  test('info', () => {
    expect(rawToInfo({ version: 0x010201, connTableSize: 4096 })).toEqual({
      version: '1.2.1',
      connectionTableSize: 4096,
    });
  });
});
