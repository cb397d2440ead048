// `ipvs-ts adm -L -c`: /proc/net/ip_vs_conn read and printed as ipvsadm 1.31's
// print_conn prints it (the kernel tests compare with the real program).
import { describe, expect, it } from 'vitest';

import { formatConnections, parseConnTable } from '../../lib/cli/conn.js';

// As Linux 6.1 prints it: IPv4 in hex words, IPv6 with %pI6 (full groups), pe data last.
const PROC = [
  'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData',
  'TCP 0A00FE01 9C40 0A000001 0050 C0A8010A 0050 SYN_RECV         53',
  'UDP 7F000001 D431 0A000002 0035 C0A80201 14E9 UDP             299',
  'TCP 2001:0db8:0000:0000:0000:0000:0000:0002 A000 2001:0db8:0000:0000:0000:0000:0000:0001 01BB 2001:0db8:0001:0000:0000:0000:0000:0010 20FB ESTABLISHED    895',
  'UDP 0A00FE01 13C4 0A000004 13C4 C0A80401 13C4 UDP             3599 sip 1234@example',
  '',
].join('\n');

describe('connection listing', () => {
  it('parses every line form', () => {
    const entries = parseConnTable(PROC);
    expect(entries).toHaveLength(4);
    expect(entries[0]).toEqual({
      protocol: 'TCP',
      family: 'inet',
      destinationFamily: 'inet',
      client: '10.0.254.1',
      clientPort: 40000,
      virtual: '10.0.0.1',
      virtualPort: 80,
      destination: '192.168.1.10',
      destinationPort: 80,
      state: 'SYN_RECV',
      expires: 53,
    });
    expect(entries[2]).toMatchObject({ family: 'inet6', client: '2001:db8::2', virtual: '2001:db8::1', destination: '2001:db8:1::10', destinationPort: 8443 });
    expect(entries[3]?.pe).toEqual({ name: 'sip', data: '1234@example' });
  });

  it('a tunnel across families: the destination in its own family, either way', () => {
    // The kernel writes the destination by its own family (cp->daf); ipvsadm reads it on its own too.
    const mixed = [
      'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData',
      'TCP 2001:0db8:0000:0000:0000:0000:0000:0002 A000 2001:0db8:0000:0000:0000:0000:0000:0001 0050 0A000002 0050 SYN_RECV        55',
      'TCP 0A00FE01 9C40 0A000001 0050 2001:0db8:0000:0000:0000:0000:0000:0009 0050 SYN_RECV        55',
      '',
    ].join('\n');
    const entries = parseConnTable(mixed);
    expect(entries.map((e) => [e.family, e.destinationFamily, e.destination])).toEqual([
      ['inet6', 'inet', '10.0.0.2'],
      ['inet', 'inet6', '2001:db8::9'],
    ]);
    const lines = formatConnections(entries, false, undefined).split('\n');
    expect(lines[2]).toBe('TCP 00:55  SYN_RECV    [2001:db8::2]:40960 [2001:db8::1]:80   10.0.0.2:80');
    expect(lines[3]).toBe('TCP 00:55  SYN_RECV    10.0.254.1:40000   10.0.0.1:80        [2001:db8::9]:80');
  });

  it('prints with ipvsadm\'s columns, numeric', () => {
    expect(formatConnections(parseConnTable(PROC), false, undefined)).toBe(
      [
        'IPVS connection entries',
        'pro expire state       source             virtual            destination',
        'TCP 00:53  SYN_RECV    10.0.254.1:40000   10.0.0.1:80        192.168.1.10:80',
        'UDP 04:59  UDP         127.0.0.1:54321    10.0.0.2:53        192.168.2.1:5353',
        'TCP 14:55  ESTABLISHED [2001:db8::2]:40960 [2001:db8::1]:443  [2001:db8:1::10]:8443',
        'UDP 59:59  UDP         10.0.254.1:5060    10.0.0.4:5060      192.168.4.1:5060',
        '',
      ].join('\n'),
    );
  });

  it('with --persistent-conn, the pe columns (only on lines that have them)', () => {
    const text = formatConnections(parseConnTable(PROC), true, undefined).split('\n');
    expect(text[1]).toBe('pro expire state       source             virtual            destination        pe name          pe_data');
    expect(text[2]).toBe('TCP 00:53  SYN_RECV    10.0.254.1:40000   10.0.0.1:80        192.168.1.10:80');
    expect(text[5]).toBe('UDP 59:59  UDP         10.0.254.1:5060    10.0.0.4:5060      192.168.4.1:5060 sip                1234@example');
  });

  it('names through the resolver: hosts for IPv4, ports per protocol', () => {
    const names = { host: (a: string) => (a === '127.0.0.1' ? 'localhost' : undefined), service: (p: number, proto: string) => (p === 53 && proto === 'udp' ? 'domain' : undefined) };
    expect(formatConnections(parseConnTable(PROC).slice(1, 2), false, names).split('\n')[2]).toBe(
      'UDP 04:59  UDP         localhost:54321    10.0.0.2:domain    192.168.2.1:5353',
    );
  });

  it('an empty table is the two title lines', () => {
    expect(formatConnections(parseConnTable(PROC.split('\n')[0] + '\n'), false, undefined)).toBe(
      'IPVS connection entries\npro expire state       source             virtual            destination\n',
    );
  });
});

describe('host names without -n', () => {
  it('are asked for IPv4 and IPv6 addresses alike (ipvsadm 1.31 looks up both)', async () => {
    const { promises: dnsPromises } = await import('node:dns');
    const { reverseResolver } = await import('../../lib/cli/names.js');
    const { vi } = await import('vitest');
    const known: Record<string, string> = { '10.0.0.1': 'web', '2001:db8::1': 'web6' };
    const spy = vi.spyOn(dnsPromises, 'lookupService').mockImplementation(async (address: string) => {
      const hostname = known[address];
      if (!hostname) throw Object.assign(new Error('getnameinfo ENOTFOUND'), { code: 'ENOTFOUND' });
      return { hostname, service: '0' };
    });
    try {
      const names = await reverseResolver(['10.0.0.1', '2001:db8::1', '2001:db8::2']);
      expect(names.host('10.0.0.1', 'inet')).toBe('web');
      expect(names.host('2001:db8::1', 'inet6')).toBe('web6');
      expect(names.host('2001:db8::2', 'inet6')).toBeUndefined();
      expect(spy.mock.calls.map((c) => c[0]).sort()).toEqual(['10.0.0.1', '2001:db8::1', '2001:db8::2']);
    } finally {
      spy.mockRestore();
    }
  });
});
