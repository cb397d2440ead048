// Issue 3: ipvsadm as an independent reader and writer in the same kernel.
//   ipvs-ts writes → ipvsadm -Sn, -Ln, -Ln --thresholds, -Ln --tun-info read back exactly;
//   ipvsadm -R writes → ipvs-ts reads back field by field (listServices,
//   getService, listDestinations, snapshot).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/index.js';
import type { DestinationSpec, ServiceKey, ServiceSpec } from '../../lib/index.js';
import {
  destId,
  routeDestinations,
  serviceKeyId,
  tableByIpvs,
  tableByIpvsadm,
  tableByIpvsCalls,
  type DestinationSettings,
  type ServiceSettings,
  type TableEntry,
} from './api-ipvsadm.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();
let ipvs: Ipvs;

beforeAll(async () => {
  routeDestinations(ns);
  ipvs = await Ipvs.open({ netns: ns.name });
});
afterAll(() => ipvs?.close());
afterEach(async () => {
  await ipvs.flush();
});

const ZERO_STATS = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const ZERO_RATES = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
const IDLE = { activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: ZERO_STATS, rates: ZERO_RATES };

// ---------------------------------------------------------------------------
// What a spec means, written from the defaults (independently of lib/convert.ts).

const FLAG_BIT: Record<string, number> = { 'sh-fallback': 1, 'mh-fallback': 1, 'flag-1': 1, 'sh-port': 2, 'mh-port': 2, 'flag-2': 2, 'flag-3': 3 };

function expectedService(spec: ServiceSpec): ServiceSettings {
  const family = 'fwmark' in spec ? (spec.family ?? 'inet') : spec.address.includes(':') ? 'inet6' : 'inet';
  const out = ('fwmark' in spec
    ? { fwmark: spec.fwmark, family, scheduler: spec.scheduler ?? 'wlc' }
    : { protocol: spec.protocol, address: spec.address, port: spec.port, family, scheduler: spec.scheduler ?? 'wlc' }) as ServiceSettings;
  if (spec.persistence) {
    out.persistence = { timeout: spec.persistence.timeout, netmask: spec.persistence.netmask ?? (family === 'inet6' ? 128 : '255.255.255.255') };
  }
  if (spec.onePacket) out.onePacket = true;
  if (spec.schedulerFlags?.length) out.schedulerFlags = [...spec.schedulerFlags].sort((a, b) => FLAG_BIT[a]! - FLAG_BIT[b]!);
  if (spec.persistenceEngine) out.persistenceEngine = spec.persistenceEngine;
  return out;
}

function expectedDestination(key: ServiceKey, spec: DestinationSpec): DestinationSettings {
  const forwarding = spec.forwarding ?? 'route';
  const out: DestinationSettings = {
    address: spec.address,
    family: spec.address.includes(':') ? 'inet6' : 'inet',
    port: spec.port ?? ('fwmark' in key ? 0 : key.port),
    forwarding,
    weight: spec.weight ?? 1,
    upperThreshold: spec.upperThreshold ?? 0,
    lowerThreshold: spec.lowerThreshold ?? 0,
  };
  if (forwarding === 'tunnel') {
    out.tunnel = { type: spec.tunnel?.type ?? 'ipip', port: spec.tunnel?.port ?? 0, checksum: spec.tunnel?.checksum ?? 'nocsum' };
  }
  return out;
}

function expectedTable(table: [ServiceSpec, DestinationSpec[]][]): TableEntry[] {
  return table
    .map(([s, ds]) => ({
      id: serviceKeyId(s),
      service: expectedService(s),
      destinations: ds.map((d) => expectedDestination(s, d)).sort((a, b) => (destId(a) < destId(b) ? -1 : 1)),
    }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
}

// Every protocol, family, scheduler, persistence form, pe, one-packet, flag
// kind, forwarding method, tunnel type and checksum option, threshold form.
const TABLE: [ServiceSpec, DestinationSpec[]][] = [
  [
    { protocol: 'tcp', address: '10.0.0.1', port: 80 },
    [
      { address: '192.168.1.10', weight: 1000 },
      { address: '192.168.1.11', forwarding: 'route', weight: 500 },
      { address: '192.168.1.13', port: 8080, forwarding: 'masq', weight: 0, upperThreshold: 100, lowerThreshold: 50 },
    ],
  ],
  [
    { protocol: 'tcp', address: '10.0.0.1', port: 443, scheduler: 'rr', persistence: { timeout: 600, netmask: '255.255.255.0' } },
    [
      { address: '192.168.1.10', port: 8443, forwarding: 'masq', weight: 3 },
      { address: '192.168.1.11', port: 8443, forwarding: 'masq', weight: 3, upperThreshold: 1000 },
    ],
  ],
  [
    { protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'sh', onePacket: true, schedulerFlags: ['sh-port', 'sh-fallback'] },
    [
      { address: '192.168.2.1', port: 5353, forwarding: 'masq', weight: 3 },
      { address: '192.168.2.2', weight: 65535 },
    ],
  ],
  [{ protocol: 'sctp', address: '10.0.0.3', port: 3868, scheduler: 'mh', schedulerFlags: ['mh-port'] }, [{ address: '192.168.3.1' }]],
  [{ protocol: 'sctp', address: '10.0.0.3', port: 3869, scheduler: 'mh', schedulerFlags: ['mh-fallback'] }, []],
  [
    { protocol: 'udp', address: '10.0.0.4', port: 5060, scheduler: 'rr', persistence: { timeout: 60 }, persistenceEngine: 'sip' },
    [{ address: '192.168.4.1', forwarding: 'masq' }],
  ],
  [{ protocol: 'tcp', address: '10.0.0.5', port: 0, scheduler: 'lc', persistence: { timeout: 360 } }, [{ address: '192.168.5.1' }]],
  [
    { protocol: 'tcp', address: '10.0.0.6', port: 80 },
    [
      { address: '192.168.6.1', forwarding: 'tunnel' },
      { address: '192.168.6.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
      { address: '192.168.6.3', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } },
      { address: '192.168.6.4', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } },
      { address: '192.168.6.5', forwarding: 'tunnel', tunnel: { type: 'gre' } },
      { address: '192.168.6.6', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6082, checksum: 'nocsum' } },
      { address: '192.168.6.7', forwarding: 'tunnel', weight: 7, tunnel: { type: 'ipip' } },
      { address: '2001:db8:6::1', forwarding: 'tunnel', weight: 2 },
      { address: '2001:db8:6::2', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'nocsum' }, upperThreshold: 4294967295 },
    ],
  ],
  [{ protocol: 'tcp', address: '10.0.0.7', port: 80, scheduler: 'wrr', schedulerFlags: ['flag-3', 'flag-1'] }, [{ address: '10.1.0.1' }, { address: '100.64.0.1' }]],
  [{ protocol: 'tcp', address: '10.0.0.7', port: 81, scheduler: 'lblc', schedulerFlags: ['flag-2'] }, [{ address: '10.1.0.2', forwarding: 'masq' }]],
  [{ protocol: 'tcp', address: '10.0.0.7', port: 82, scheduler: 'lblcr' }, [{ address: '10.1.0.3' }]],
  [{ protocol: 'udp', address: '10.0.0.7', port: 83, scheduler: 'dh', onePacket: true }, [{ address: '10.1.0.4' }]],
  [{ protocol: 'sctp', address: '10.0.0.7', port: 84, scheduler: 'ovf' }, [{ address: '10.1.0.5', weight: 10 }]],
  [{ fwmark: 1, scheduler: 'wrr' }, [{ address: '192.168.7.1', weight: 2 }, { address: '192.168.7.2', port: 8080, forwarding: 'masq' }]],
  [{ fwmark: 4294967295, scheduler: 'lblc', persistence: { timeout: 1800, netmask: '255.255.0.0' } }, [{ address: '192.168.7.3' }]],
  [{ fwmark: 2, family: 'inet6', persistence: { timeout: 120, netmask: 64 } }, [{ address: '2001:db8:7::20' }]],
  [{ fwmark: 3, family: 'inet6', scheduler: 'sh', onePacket: true, schedulerFlags: ['sh-fallback'] }, [{ address: '192.168.7.4', forwarding: 'tunnel', tunnel: { type: 'gue', port: 4789, checksum: 'remcsum' } }]],
  [
    { protocol: 'tcp', address: '2001:db8::1', port: 80, persistence: { timeout: 360, netmask: 64 } },
    [
      { address: 'fd00::1', forwarding: 'masq' },
      { address: '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff', port: 65535, forwarding: 'masq', upperThreshold: 10, lowerThreshold: 5 },
      { address: '2001:db8:1::10', forwarding: 'masq', weight: 5 },
      { address: '2001:db8:1:2:3:4:5:6', port: 8080, forwarding: 'masq' },
    ],
  ],
  [
    { protocol: 'udp', address: '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1', port: 443, scheduler: 'sed' },
    [{ address: '2001:db8::2' }, { address: '192.168.8.1', forwarding: 'tunnel', tunnel: { type: 'gue', port: 5555, checksum: 'csum' } }],
  ],
  [{ protocol: 'udp', address: '2001:db8:0:1::1', port: 65535, scheduler: 'fo', persistence: { timeout: 86400 } }, [{ address: '2001:db8::1:0:0:1', port: 1, forwarding: 'masq' }]],
  [{ protocol: 'sctp', address: '::ffff:10.0.0.8', port: 9, scheduler: 'nq' }, []],
  [{ protocol: 'udp', address: '2001:db8::9', port: 5060, scheduler: 'mh', schedulerFlags: ['mh-port', 'mh-fallback'], persistence: { timeout: 30, netmask: 112 }, persistenceEngine: 'sip' }, [{ address: '2001:db8::99', forwarding: 'masq', port: 5080 }]],
];

describe('ipvs-ts writes, ipvsadm reads', () => {
  it('a table with every kind of service and destination reads back exactly in -Sn, -Ln, --thresholds and --tun-info', async () => {
    for (const [s, ds] of TABLE) {
      await ipvs.addService(s);
      for (const d of ds) await ipvs.addDestination(s, d);
    }
    const expected = expectedTable(TABLE);
    const byIpvsadm = tableByIpvsadm(ns);
    expect(byIpvsadm).toEqual(expected);
    // And ipvs-ts reads back the same as ipvsadm, by snapshot and by single calls.
    expect(await tableByIpvs(ipvs)).toEqual(byIpvsadm);
    expect(await tableByIpvsCalls(ipvs)).toEqual(byIpvsadm);
  });

  it('updates written by ipvs-ts read back exactly too', async () => {
    const key = { protocol: 'udp', address: '10.0.0.2', port: 53 } as const;
    await ipvs.addService({ ...key, scheduler: 'rr' });
    await ipvs.addDestination(key, { address: '192.168.2.1', forwarding: 'masq', port: 5353 });
    await ipvs.addDestination(key, { address: '192.168.2.2' });
    await ipvs.addDestination(key, { address: '192.168.2.3', forwarding: 'tunnel' });
    const newSpec: ServiceSpec = { ...key, scheduler: 'sh', onePacket: true, schedulerFlags: ['sh-fallback'], persistence: { timeout: 10, netmask: '255.255.255.128' } };
    const d1: DestinationSpec = { address: '192.168.2.1', port: 5353, forwarding: 'masq', weight: 77, upperThreshold: 8, lowerThreshold: 4 };
    const d2: DestinationSpec = { address: '192.168.2.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 9999, checksum: 'remcsum' }, weight: 0 };
    const d3: DestinationSpec = { address: '192.168.2.3', forwarding: 'masq' };
    await ipvs.updateService(newSpec);
    await ipvs.updateDestination(key, d1);
    await ipvs.updateDestination(key, d2);
    await ipvs.updateDestination(key, d3);
    expect(tableByIpvsadm(ns)).toEqual(expectedTable([[newSpec, [d1, d2, d3]]]));
  });
});

// ---------------------------------------------------------------------------

const RULES = `
-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 1000
-a -t 10.0.0.1:80 -r 192.168.1.11 -g -w 500
-a -t 10.0.0.1:80 -r 192.168.1.13:8080 -m -w 0 -x 100 -y 50
-A -t 10.0.0.1:443 -s rr -p 600 -M 255.255.255.0
-a -t 10.0.0.1:443 -r 192.168.1.10:8443 -m -w 3
-a -t 10.0.0.1:443 -r 192.168.1.11:8443 -m -w 3 -x 1000
-A -u 10.0.0.2:53 -s sh -o -b sh-port,sh-fallback
-a -u 10.0.0.2:53 -r 192.168.2.1:5353 -m -w 3
-a -u 10.0.0.2:53 -r 192.168.2.2:53 -g -w 65535
-A --sctp-service 10.0.0.3:3868 -s mh -b mh-port
-a --sctp-service 10.0.0.3:3868 -r 192.168.3.1:3868 -g
-A -u 10.0.0.4:5060 -s rr -p 60 --pe sip
-a -u 10.0.0.4:5060 -r 192.168.4.1 -m
-A -t 10.0.0.5:0 -s lc -p
-a -t 10.0.0.5:0 -r 192.168.5.1 -g
-A -t 10.0.0.6:80 -s wlc
-a -t 10.0.0.6:80 -r 192.168.6.1 -i
-a -t 10.0.0.6:80 -r 192.168.6.2 -i --tun-type gue --tun-port 6080 --tun-csum
-a -t 10.0.0.6:80 -r 192.168.6.3 -i --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 10.0.0.6:80 -r 192.168.6.4 -i --tun-type gre --tun-csum
-a -t 10.0.0.6:80 -r 192.168.6.5 -i --tun-type gre
-a -t 10.0.0.6:80 -r 192.168.6.6 -i --tun-type gue --tun-port 6082 --tun-nocsum
-a -t 10.0.0.6:80 -r 192.168.6.7 -i --tun-type ipip -w 7
-a -t 10.0.0.6:80 -r 2001:db8:6::1 -i -w 2
-A -t 10.0.0.7:80 -s wrr -b flag-1,flag-3
-a -t 10.0.0.7:80 -r 100.64.0.1:80 -g
-A -t 10.0.0.8:80 -s sh -b sh-port,flag-3
-A -t 10.0.0.9:80 -s dh
-A -t 10.0.0.9:81 -s lblcr
-A -t 10.0.0.9:82 -s ovf
-A -f 1 -s wrr
-a -f 1 -r 192.168.7.1:0 -g -w 2
-a -f 1 -r 192.168.7.2:8080 -m -w 1
-A -f 4294967295 -s lblc -p 1800 -M 255.255.0.0
-a -f 4294967295 -r 192.168.7.3 -g
-A -f 2 -6 -s wlc -p 120 -M 64
-a -f 2 -6 -r [2001:db8:7::20]:0 -g
-A -t [2001:db8::1]:80 -s wlc -p -M 64
-a -t [2001:db8::1]:80 -r [2001:db8:1::10]:80 -m -w 5
-a -t [2001:db8::1]:80 -r [2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535 -m -x 10 -y 5
-A -u [2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:443 -s sed
-a -u [2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:443 -r [2001:db8::2]:443 -g
-a -u [2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:443 -r 192.168.8.1 -i --tun-type gue --tun-port 5555 --tun-csum
-A -u [2001:DB8:0:1::1]:65535 -s fo -p 86400
-a -u [2001:db8:0:1::1]:65535 -r [2001:db8::1:0:0:1]:1 -m
-A --sctp-service [::ffff:10.0.0.8]:9 -s nq
`;

/** What ipvs-ts must read from RULES, service by service, destination by destination. */
const EXPECTED: Record<string, { service: ServiceSettings; destinations: Record<string, Omit<DestinationSettings, 'address' | 'port'>> }> = {
  'tcp 10.0.0.1:80': {
    service: { protocol: 'tcp', address: '10.0.0.1', port: 80, family: 'inet', scheduler: 'wlc' },
    destinations: {
      '192.168.1.10:80': { family: 'inet', forwarding: 'route', weight: 1000, upperThreshold: 0, lowerThreshold: 0 },
      '192.168.1.11:80': { family: 'inet', forwarding: 'route', weight: 500, upperThreshold: 0, lowerThreshold: 0 },
      '192.168.1.13:8080': { family: 'inet', forwarding: 'masq', weight: 0, upperThreshold: 100, lowerThreshold: 50 },
    },
  },
  'tcp 10.0.0.1:443': {
    service: { protocol: 'tcp', address: '10.0.0.1', port: 443, family: 'inet', scheduler: 'rr', persistence: { timeout: 600, netmask: '255.255.255.0' } },
    destinations: {
      '192.168.1.10:8443': { family: 'inet', forwarding: 'masq', weight: 3, upperThreshold: 0, lowerThreshold: 0 },
      '192.168.1.11:8443': { family: 'inet', forwarding: 'masq', weight: 3, upperThreshold: 1000, lowerThreshold: 0 },
    },
  },
  'udp 10.0.0.2:53': {
    service: { protocol: 'udp', address: '10.0.0.2', port: 53, family: 'inet', scheduler: 'sh', onePacket: true, schedulerFlags: ['sh-fallback', 'sh-port'] },
    destinations: {
      '192.168.2.1:5353': { family: 'inet', forwarding: 'masq', weight: 3, upperThreshold: 0, lowerThreshold: 0 },
      '192.168.2.2:53': { family: 'inet', forwarding: 'route', weight: 65535, upperThreshold: 0, lowerThreshold: 0 },
    },
  },
  'sctp 10.0.0.3:3868': {
    service: { protocol: 'sctp', address: '10.0.0.3', port: 3868, family: 'inet', scheduler: 'mh', schedulerFlags: ['mh-port'] },
    destinations: { '192.168.3.1:3868': { family: 'inet', forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
  },
  'udp 10.0.0.4:5060': {
    service: { protocol: 'udp', address: '10.0.0.4', port: 5060, family: 'inet', scheduler: 'rr', persistence: { timeout: 60, netmask: '255.255.255.255' }, persistenceEngine: 'sip' },
    destinations: { '192.168.4.1:5060': { family: 'inet', forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
  },
  'tcp 10.0.0.5:0': {
    // ipvsadm's default persistence timeout is 360 s.
    service: { protocol: 'tcp', address: '10.0.0.5', port: 0, family: 'inet', scheduler: 'lc', persistence: { timeout: 360, netmask: '255.255.255.255' } },
    destinations: { '192.168.5.1:0': { family: 'inet', forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
  },
  'tcp 10.0.0.6:80': {
    service: { protocol: 'tcp', address: '10.0.0.6', port: 80, family: 'inet', scheduler: 'wlc' },
    destinations: {
      '192.168.6.1:80': { family: 'inet', forwarding: 'tunnel', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'ipip', port: 0, checksum: 'nocsum' } },
      '192.168.6.2:80': { family: 'inet', forwarding: 'tunnel', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'gue', port: 6080, checksum: 'csum' } },
      '192.168.6.3:80': { family: 'inet', forwarding: 'tunnel', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'gue', port: 6081, checksum: 'remcsum' } },
      '192.168.6.4:80': { family: 'inet', forwarding: 'tunnel', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'gre', port: 0, checksum: 'csum' } },
      '192.168.6.5:80': { family: 'inet', forwarding: 'tunnel', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'gre', port: 0, checksum: 'nocsum' } },
      '192.168.6.6:80': { family: 'inet', forwarding: 'tunnel', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'gue', port: 6082, checksum: 'nocsum' } },
      '192.168.6.7:80': { family: 'inet', forwarding: 'tunnel', weight: 7, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'ipip', port: 0, checksum: 'nocsum' } },
      '[2001:db8:6::1]:80': { family: 'inet6', forwarding: 'tunnel', weight: 2, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'ipip', port: 0, checksum: 'nocsum' } },
    },
  },
  'tcp 10.0.0.7:80': {
    service: { protocol: 'tcp', address: '10.0.0.7', port: 80, family: 'inet', scheduler: 'wrr', schedulerFlags: ['flag-1', 'flag-3'] },
    destinations: { '100.64.0.1:80': { family: 'inet', forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
  },
  'tcp 10.0.0.8:80': {
    service: { protocol: 'tcp', address: '10.0.0.8', port: 80, family: 'inet', scheduler: 'sh', schedulerFlags: ['sh-port', 'flag-3'] },
    destinations: {},
  },
  'tcp 10.0.0.9:80': { service: { protocol: 'tcp', address: '10.0.0.9', port: 80, family: 'inet', scheduler: 'dh' }, destinations: {} },
  'tcp 10.0.0.9:81': { service: { protocol: 'tcp', address: '10.0.0.9', port: 81, family: 'inet', scheduler: 'lblcr' }, destinations: {} },
  'tcp 10.0.0.9:82': { service: { protocol: 'tcp', address: '10.0.0.9', port: 82, family: 'inet', scheduler: 'ovf' }, destinations: {} },
  'fwmark 1': {
    service: { fwmark: 1, family: 'inet', scheduler: 'wrr' },
    destinations: {
      '192.168.7.1:0': { family: 'inet', forwarding: 'route', weight: 2, upperThreshold: 0, lowerThreshold: 0 },
      '192.168.7.2:8080': { family: 'inet', forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 },
    },
  },
  'fwmark 4294967295': {
    service: { fwmark: 4294967295, family: 'inet', scheduler: 'lblc', persistence: { timeout: 1800, netmask: '255.255.0.0' } },
    destinations: { '192.168.7.3:0': { family: 'inet', forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
  },
  'fwmark 2 inet6': {
    service: { fwmark: 2, family: 'inet6', scheduler: 'wlc', persistence: { timeout: 120, netmask: 64 } },
    destinations: { '[2001:db8:7::20]:0': { family: 'inet6', forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
  },
  'tcp [2001:db8::1]:80': {
    service: { protocol: 'tcp', address: '2001:db8::1', port: 80, family: 'inet6', scheduler: 'wlc', persistence: { timeout: 360, netmask: 64 } },
    destinations: {
      '[2001:db8:1::10]:80': { family: 'inet6', forwarding: 'masq', weight: 5, upperThreshold: 0, lowerThreshold: 0 },
      '[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:65535': { family: 'inet6', forwarding: 'masq', weight: 1, upperThreshold: 10, lowerThreshold: 5 },
    },
  },
  'udp [2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:443': {
    service: { protocol: 'udp', address: '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1', port: 443, family: 'inet6', scheduler: 'sed' },
    destinations: {
      '[2001:db8::2]:443': { family: 'inet6', forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0 },
      '192.168.8.1:443': { family: 'inet', forwarding: 'tunnel', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: 'gue', port: 5555, checksum: 'csum' } },
    },
  },
  'udp [2001:db8:0:1::1]:65535': {
    service: { protocol: 'udp', address: '2001:db8:0:1::1', port: 65535, family: 'inet6', scheduler: 'fo', persistence: { timeout: 86400, netmask: 128 } },
    destinations: { '[2001:db8::1:0:0:1]:1': { family: 'inet6', forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
  },
  'sctp [::ffff:10.0.0.8]:9': {
    service: { protocol: 'sctp', address: '::ffff:10.0.0.8', port: 9, family: 'inet6', scheduler: 'nq' },
    destinations: {},
  },
};

describe('ipvsadm -R writes, ipvs-ts reads', () => {
  it('listServices, getService, listDestinations and snapshot read every field as written', async () => {
    ok(ns.exec('ipvsadm', ['-R'], { input: RULES }));

    // listServices: the services, each exactly (settings plus zero counters).
    const services = await ipvs.listServices();
    expect(Object.fromEntries(services.map((s) => [serviceKeyId(s), s]))).toStrictEqual(
      Object.fromEntries(Object.entries(EXPECTED).map(([id, e]) => [id, { ...e.service, stats: ZERO_STATS, rates: ZERO_RATES }])),
    );

    // getService of each key (as written, and in another text form for IPv6) and listDestinations of each.
    for (const [id, e] of Object.entries(EXPECTED)) {
      const key = e.service as ServiceKey;
      expect(await ipvs.getService(key), id).toStrictEqual({ ...e.service, stats: ZERO_STATS, rates: ZERO_RATES });
      const dests = await ipvs.listDestinations(key);
      expect(Object.fromEntries(dests.map((d) => [destId(d), d])), id).toStrictEqual(
        Object.fromEntries(
          Object.entries(e.destinations).map(([did, d]) => {
            const hp = /^\[?(.*?)\]?:(\d+)$/.exec(did)!;
            return [did, { address: hp[1], port: Number(hp[2]), ...d, ...IDLE }];
          }),
        ),
      );
    }
    expect(await ipvs.getService({ protocol: 'udp', address: '2001:0DB8:0000:0001:0000:0000:0000:0001', port: 65535 })).toMatchObject({
      address: '2001:db8:0:1::1',
    });

    // snapshot: one pass gives the same as the single calls.
    const snap = await ipvs.snapshot();
    expect(snap).toHaveLength(Object.keys(EXPECTED).length);
    for (const s of snap) {
      const { destinations, ...service } = s;
      expect(service).toStrictEqual(await ipvs.getService(s));
      expect(destinations.sort((a, b) => (destId(a) < destId(b) ? -1 : 1))).toStrictEqual(
        (await ipvs.listDestinations(s)).sort((a, b) => (destId(a) < destId(b) ? -1 : 1)),
      );
    }

    // And ipvsadm agrees with itself about what it wrote, bar what -Sn cannot say (flag-3 under sh).
    const byIpvsadm = tableByIpvsadm(ns).map((e) =>
      e.id === 'tcp 10.0.0.8:80' ? { ...e, service: { ...e.service, schedulerFlags: ['sh-port', 'flag-3'] } } : e,
    );
    expect(await tableByIpvs(ipvs)).toEqual(byIpvsadm);
  });

  it('what ipvsadm -E / -e change, ipvs-ts reads', async () => {
    ok(ns.exec('ipvsadm', ['-R'], { input: '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.1.10 -m -w 4\n' }));
    ok(ns.ipvsadm('-E', '-t', '10.0.0.1:80', '-s', 'mh', '-b', 'mh-fallback', '-p', '30', '-M', '255.255.255.240'));
    ok(ns.ipvsadm('-e', '-t', '10.0.0.1:80', '-r', '192.168.1.10', '-i', '--tun-type', 'gre', '--tun-csum', '-w', '9', '-x', '3', '-y', '1'));
    expect(await ipvs.getService({ protocol: 'tcp', address: '10.0.0.1', port: 80 })).toStrictEqual({
      protocol: 'tcp',
      address: '10.0.0.1',
      port: 80,
      family: 'inet',
      scheduler: 'mh',
      persistence: { timeout: 30, netmask: '255.255.255.240' },
      schedulerFlags: ['mh-fallback'],
      stats: ZERO_STATS,
      rates: ZERO_RATES,
    });
    expect(await ipvs.listDestinations({ protocol: 'tcp', address: '10.0.0.1', port: 80 })).toStrictEqual([
      {
        address: '192.168.1.10',
        family: 'inet',
        port: 80,
        forwarding: 'tunnel',
        weight: 9,
        upperThreshold: 3,
        lowerThreshold: 1,
        tunnel: { type: 'gre', port: 0, checksum: 'csum' },
        ...IDLE,
      },
    ]);
  });
});
