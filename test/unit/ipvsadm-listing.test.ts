import { describe, expect, it } from 'vitest';
import {
  formatDaemons,
  formatLargeNumber,
  formatListing,
  formatServiceListing,
  formatTimeouts,
  type ListingOptions,
} from '../../lib/ipvsadm/listing.js';
import { canonicalAddress, glibcMergeSort } from '../../lib/ipvsadm/common.js';
import type { Destination, Service, ServiceWithDestinations } from '../../lib/types.js';
import { capturedTable, golden } from './ipvsadm-fixtures.js';

const table = capturedTable();

function findService(pred: (s: ServiceWithDestinations) => boolean): ServiceWithDestinations {
  const s = table.services.find(pred);
  if (!s) throw new Error('service not in table.json');
  return s;
}

describe('formatListing against real ipvsadm 1.31 output', () => {
  const cases: [string, string, ListingOptions][] = [
    ['-Ln', 'list-n', {}],
    ['-Ln --exact (no effect without counters)', 'exact', { exact: true }],
    ['-Ln --nosort', 'list-n-nosort', { sort: false }],
    ['-Ln --stats', 'stats', { stats: true }],
    ['-Ln --stats --exact', 'stats-exact', { stats: true, exact: true }],
    ['-Ln --stats --exact --nosort', 'stats-exact-nosort', { stats: true, exact: true, sort: false }],
    ['-Ln --rate', 'rate', { rate: true }],
    ['-Ln --rate --exact', 'rate-exact', { rate: true, exact: true }],
    ['-Ln --thresholds', 'thresholds', { thresholds: true }],
    ['-Ln --persistent-conn', 'persistent-conn', { persistentConn: true }],
    ['-Ln --tun-info', 'tun-info', { tunInfo: true }],
    ['-Ln --stats --rate (stats win)', 'stats-rate', { stats: true, rate: true }],
    ['-Ln --thresholds --persistent-conn', 'thresholds-persistent-conn', { thresholds: true, persistentConn: true }],
    ['-Ln --tun-info --thresholds', 'tun-info-thresholds', { tunInfo: true, thresholds: true }],
  ];
  for (const [what, file, options] of cases) {
    it(what, () => {
      expect(formatListing(table.info, table.services, options)).toBe(golden(file));
    });
  }

  it('-L (names: ports from /etc/services, hosts unresolvable)', () => {
    expect(formatListing(table.info, table.services, { numeric: false })).toBe(golden('list'));
  });

  it('the captured counters include one big enough for K scaling', () => {
    expect(golden('stats')).toMatch(/ \d+K /);
    expect(golden('stats-exact')).not.toMatch(/\d[KMGT] /);
  });

  it('the fixture table exercises the sort quirks (kernel order differs from the sorted one)', () => {
    expect(golden('list-n')).not.toBe(golden('list-n-nosort'));
  });
});

describe('formatServiceListing (ipvsadm -L with a service)', () => {
  it('-Ln -t 10.0.0.1:80', () => {
    const svc = findService((s) => 'address' in s && s.address === '10.0.0.1' && s.port === 80);
    expect(formatServiceListing(svc)).toBe(golden('one-service'));
  });
  it('-Ln --stats -t 10.0.0.6:80', () => {
    const svc = findService((s) => 'address' in s && s.address === '10.0.0.6');
    expect(formatServiceListing(svc, { stats: true })).toBe(golden('one-service-stats'));
  });
  it('-Ln --tun-info -f 2 -6', () => {
    const svc = findService((s) => 'fwmark' in s && s.fwmark === 2);
    expect(formatServiceListing(svc, { tunInfo: true })).toBe(golden('one-service-fwmark6'));
  });
});

describe('formatTimeouts and formatDaemons', () => {
  it('ipvsadm -L --timeout, kernel defaults', () => {
    expect(formatTimeouts({ tcp: 900, tcpFin: 120, udp: 300 })).toBe(golden('timeout-default'));
  });
  it('ipvsadm -L --timeout after --set 1000 60 200', () => {
    expect(formatTimeouts(table.timeouts)).toBe(golden('timeout-set'));
  });
  it('ipvsadm -L --daemon with a master and a backup', () => {
    expect(formatDaemons(table.daemons)).toBe(golden('daemon'));
  });
  it('ipvsadm -L --daemon with an IPv6 group', () => {
    expect(
      formatDaemons([
        { state: 'master', interface: 'veth0', syncId: 255, maxLength: 1452, group: 'FF05:0:0::1:3', port: 8848, ttl: 1 },
      ]),
    ).toBe(golden('daemon-v6'));
  });
  it('ipvsadm -L --daemon with none running', () => {
    expect(formatDaemons([])).toBe(golden('daemon-none'));
  });
  it('leaves out what an older kernel does not report', () => {
    expect(formatDaemons([{ state: 'backup', interface: 'eth0', syncId: 0 }])).toBe(
      'backup sync daemon (mcast=eth0, syncid=0)\n',
    );
  });
});

describe('formatLargeNumber (ipvsadm print_largenum)', () => {
  it.each([
    [0n, '        0'],
    [99_999_999n, ' 99999999'],
    [100_000_000n, '  100000K'],
    [999_999_999n, '  999999K'],
    [1_000_000_000n, '    1000M'],
    [99_999_999_999n, '   99999M'],
    [100_000_000_000n, '     100G'],
    [99_999_999_999_999n, '   99999G'],
    [100_000_000_000_000n, '     100T'],
    [18_446_744_073_709_551_615n, '18446744T'],
  ])('%s scaled', (value, text) => {
    expect(formatLargeNumber(value, false)).toBe(text);
  });
  it.each([
    [0n, '        0'],
    [12_345_678n, ' 12345678'],
    [123_456_789n, ' 123456789'],
    [18_446_744_073_709_551_615n, ' 18446744073709551615'],
  ])('%s exact', (value, text) => {
    expect(formatLargeNumber(value, true)).toBe(text);
  });
  it('takes plain numbers (rates) too', () => {
    expect(formatLargeNumber(123_456_789, false)).toBe('  123456K');
  });
});

const zeroStats = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const zeroRates = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

function dest(address: string, port: number, extra: Partial<Destination> = {}): Destination {
  return {
    address,
    family: address.includes(':') ? 'inet6' : 'inet',
    port,
    forwarding: 'route',
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    activeConnections: 0,
    inactiveConnections: 0,
    persistentConnections: 0,
    stats: zeroStats,
    rates: zeroRates,
    ...extra,
  };
}

function tcp(address: string, port: number, destinations: Destination[], extra: Partial<Service> = {}): ServiceWithDestinations {
  return {
    protocol: 'tcp',
    address,
    port,
    family: address.includes(':') ? 'inet6' : 'inet',
    scheduler: 'wlc',
    stats: zeroStats,
    rates: zeroRates,
    ...extra,
    destinations,
  } as ServiceWithDestinations;
}

const info = { version: '1.2.1', connectionTableSize: 4096 };

describe('formatListing on synthetic tables', () => {
  it('scales big counters without --exact and keeps them whole with it', () => {
    const big = { conns: 123_456_789n, inPkts: 99_999_999n, outPkts: 1_000_000_000n, inBytes: 123_456_789_012_345n, outBytes: 2n ** 64n - 1n };
    const svc = tcp('10.0.0.1', 80, [dest('10.0.0.2', 80, { stats: big })], { stats: big });
    expect(formatListing(info, [svc], { stats: true }).split('\n').slice(3, 5)).toEqual([
      // A full-width T value runs into its neighbour: ipvsadm's columns have no separator.
      'TCP  10.0.0.1:80                   123456K 99999999    1000M     123T18446744T',
      '  -> 10.0.0.2:80                   123456K 99999999    1000M     123T18446744T',
    ]);
    expect(formatListing(info, [svc], { stats: true, exact: true }).split('\n')[3]).toBe(
      'TCP  10.0.0.1:80                  123456789 99999999 1000000000 123456789012345 18446744073709551615',
    );
  });

  it('prints per-server cps and pps unscaled in --rate, as ipvsadm does', () => {
    const rates = { cps: 123_456_789, inPps: 5, outPps: 6, inBps: 123_456_789, outBps: 7 };
    const svc = tcp('10.0.0.1', 80, [dest('10.0.0.2', 80, { rates })], { rates });
    expect(formatListing(info, [svc], { rate: true }).split('\n').slice(3, 5)).toEqual([
      'TCP  10.0.0.1:80                   123456K        5        6  123456K        7',
      '  -> 10.0.0.2:80                  123456789        5        6  123456K        7',
    ]);
  });

  it('shows Local forwarding, thresholds and scheduler flags by scheduler', () => {
    const svc = tcp('10.0.0.1', 80, [dest('10.0.0.1', 80, { forwarding: 'local', upperThreshold: 5, lowerThreshold: 2 })], {
      scheduler: 'sh',
      schedulerFlags: ['sh-port', 'flag-3'],
    });
    expect(formatListing(info, [svc]).split('\n').slice(3, 5)).toEqual([
      'TCP  10.0.0.1:80 sh (sh-port)',
      '  -> 10.0.0.1:80                  Local   1      0          0         ',
    ]);
    expect(formatListing(info, [svc], { thresholds: true }).split('\n')[4]).toBe(
      '  -> 10.0.0.1:80                  5          2          0          0         ',
    );
  });

  it('cuts IPv4 names at ipvsadm\'s widths when names are long, but not IPv6 ones', () => {
    const names = { host: (a: string) => (a === '10.0.0.1' ? 'a-very-long-host-name.example.org' : undefined) };
    const svc = tcp('10.0.0.2', 80, [dest('10.0.0.1', 8080)]);
    const out = formatListing(info, [svc], { numeric: false, names });
    expect(out.split('\n')[4]).toBe('  -> a-very-long-host-name.exampl Route   1      0          0         ');
    const svc6 = tcp('2001:db8::1', 80, [], {});
    const names6 = { host: () => 'a-very-long-host-name.example.org' };
    expect(formatListing(info, [svc6], { numeric: false, names: names6 }).split('\n')[3]).toBe(
      'TCP  [a-very-long-host-name.example.org]:80 wlc',
    );
  });

  it('sorts IPv4 addresses that are 2³¹ apart "wrongly", as ipvsadm\'s int subtraction does', () => {
    const a = tcp('1.0.0.1', 80, []);
    const b = tcp('200.0.0.1', 80, []);
    const lines = (svcs: ServiceWithDestinations[]) =>
      formatListing(info, svcs)
        .split('\n')
        .slice(3)
        .filter(Boolean);
    expect(lines([a, b])).toEqual(['TCP  200.0.0.1:80 wlc', 'TCP  1.0.0.1:80 wlc']);
  });

  it('prints marks from 2³¹ up negative, as ipvsadm 1.31 does', () => {
    const svc = { fwmark: 0x80000000, family: 'inet', scheduler: 'rr', stats: zeroStats, rates: zeroRates, destinations: [] } as ServiceWithDestinations;
    expect(formatListing(info, [svc]).split('\n')[3]).toBe('FWM  -2147483648 rr');
  });
});

describe('helpers', () => {
  it('glibcMergeSort keeps the left element on ties', () => {
    const items = [
      { k: 1, id: 'a' },
      { k: 0, id: 'b' },
      { k: 1, id: 'c' },
      { k: 0, id: 'd' },
    ];
    expect(glibcMergeSort(items, (x, y) => x.k - y.k).map((x) => x.id)).toEqual(['b', 'd', 'a', 'c']);
  });
  it.each([
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:ffff:a00:8', '::ffff:10.0.0.8'],
    ['::10.0.0.8', '::10.0.0.8'],
    ['::1', '::1'],
    ['::', '::'],
    ['1::', '1::'],
    ['2001:db8:1:0:1::', '2001:db8:1:0:1::'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['10.0.0.1', '10.0.0.1'],
  ])('canonical address of %s is %s (glibc inet_ntop)', (input, output) => {
    expect(canonicalAddress(input)).toBe(output);
  });
});
