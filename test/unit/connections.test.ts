// The connection table's text as the kernel writes it, turned into objects:
// recordings of a real director (scripts/record-conn-fixtures.mjs) checked
// against ipvsadm -Lcn of the same moment, the rarer shapes written as
// ip_vs_conn_seq_show() writes them (a tunnel across families, persistence-
// engine data, a fwmark service's template), filters, refusal of a line in
// another format, and a 100 000-entry table turned into objects a slice at
// a time. The real read, in the handle's namespace, is in
// test/kernel/connections.test.ts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { parseConnectionTable } from '../../lib/connections.js';
import { Pacer } from '../../lib/pace.js';
import type { Connection, ConnectionFilter } from '../../lib/types.js';

const fixtures = path.join(import.meta.dirname, 'fixtures', 'ip_vs_conn');
const fixture = (name: string): string => readFileSync(path.join(fixtures, name), 'utf8');
const HEADER = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n';
const parse = (text: string, filter: ConnectionFilter = {}): Promise<Connection[]> => parseConnectionTable(text, filter, new Pacer());

const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
const hexIPv4 = (a: string): string =>
  a
    .split('.')
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0'))
    .join('');

/** One line as ip_vs_conn_seq_show() prints an IPv4 entry: "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s". */
function ipv4Line(proto: string, c: string, cp: number, v: string, vp: number, d: string, dp: number, state: string, seconds: number, pe = ''): string {
  return `${proto.padEnd(3)} ${hexIPv4(c)} ${hex4(cp)} ${hexIPv4(v)} ${hex4(vp)} ${d} ${hex4(dp)} ${state.padEnd(11)} ${String(seconds).padStart(7)}${pe}\n`;
}

describe('recordings of a real director', () => {
  it.each(['inet', 'inet6'] as const)('%s: every entry as ipvsadm -Lcn showed it, the template marked', async (family) => {
    const ours = await parse(fixture(`${family}.txt`));
    const theirs = fixture(`${family}-ipvsadm.txt`).trimEnd().split('\n').slice(2);
    expect(ours).toHaveLength(theirs.length);
    const hostPort = (e: { address: string; port: number }): string => (family === 'inet6' ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);
    ours.forEach((c, i) => {
      const [pro, expire, state, source, virtual, destination] = theirs[i]!.trim().split(/\s+/);
      const [m, s] = expire!.split(':').map(Number) as [number, number];
      expect([c.protocol.toUpperCase(), c.expiresMs, c.state, hostPort(c.client), hostPort(c.virtual), hostPort(c.destination)]).toEqual([
        pro,
        (m * 60 + s) * 1000,
        state,
        source,
        virtual,
        destination,
      ]);
      expect(c.family).toBe(family);
      expect(c.destination.family).toBe(family);
      expect(c.template).toBe(c.client.port === 0);
    });
    expect(ours.filter((c) => c.template).map((c) => c.state)).toEqual(['ASSURED']);
    expect(await parse(fixture(`${family}.txt`), { templates: false })).toHaveLength(theirs.length - 1);
  });
});

describe('the shapes a lab rarely shows', () => {
  it('an IPv6 service tunnelled to an IPv4 real server, persistence-engine data, a fwmark template, UDP and SCTP', async () => {
    const v6 = 'TCP 2001:0db8:0000:0000:0000:0000:0000:0002 C350 2001:0db8:0000:0000:0000:0000:0000:0001 0050 0A00000B 0050 ESTABLISHED     899\n';
    const text =
      HEADER +
      v6 +
      ipv4Line('UDP', '10.0.0.2', 5060, '10.0.0.1', 5060, '0A00000B', 5060, 'UDP', 299, ' sip 3848276298220188511@10.0.0.2') +
      ipv4Line('IP', '10.0.0.2', 0, '0.0.0.1', 0, '0A00000C', 0, 'NONE', 359) +
      ipv4Line('SCTP', '10.0.0.3', 9, '10.0.0.1', 9, '0A00000D', 9, 'C-ECHOED', 5);
    const [tunnel, sip, fwmark, sctp] = await parse(text);
    expect(tunnel).toEqual({
      protocol: 'tcp',
      family: 'inet6',
      client: { address: '2001:db8::2', port: 50000 },
      virtual: { address: '2001:db8::1', port: 80 },
      destination: { address: '10.0.0.11', port: 80, family: 'inet' },
      state: 'ESTABLISHED',
      expiresMs: 899_000,
      template: false,
    });
    expect(sip).toMatchObject({ protocol: 'udp', state: 'UDP', persistenceEngine: { name: 'sip', data: '3848276298220188511@10.0.0.2' } });
    expect(fwmark).toMatchObject({ protocol: 'ip', template: true, state: 'NONE', virtual: { address: '0.0.0.1', port: 0 } });
    expect(sctp).toMatchObject({ protocol: 'sctp', state: 'C-ECHOED', expiresMs: 5000 });
  });

  it('filters by service and by real server (with or without its port)', async () => {
    const text =
      HEADER +
      ipv4Line('TCP', '10.0.0.2', 40000, '10.0.0.1', 80, '0A00000B', 80, 'ESTABLISHED', 900) +
      ipv4Line('TCP', '10.0.0.2', 40001, '10.0.0.1', 443, '0A00000B', 443, 'ESTABLISHED', 900) +
      ipv4Line('TCP', '10.0.0.3', 40002, '10.0.0.1', 80, '0A00000C', 80, 'SYN_RECV', 60) +
      ipv4Line('UDP', '10.0.0.3', 40003, '10.0.0.1', 80, '0A00000C', 80, 'UDP', 300);
    const clients = async (filter: ConnectionFilter): Promise<number[]> => (await parse(text, filter)).map((c) => c.client.port);
    expect(await clients({ service: { protocol: 'tcp', address: '10.0.0.1', port: 80 } })).toEqual([40000, 40002]);
    expect(await clients({ destination: { address: '10.0.0.11' } })).toEqual([40000, 40001]);
    expect(await clients({ destination: { address: '10.0.0.11', port: 443 } })).toEqual([40001]);
    expect(await clients({ service: { protocol: 'udp', address: '10.0.0.1', port: 80 }, destination: { address: '10.0.0.12' } })).toEqual([40003]);
  });

  it('a line in another format is an error naming it, not an entry silently lost', async () => {
    await expect(parse(`${HEADER}TCP 0A000002 9C40 0A000001\n`)).rejects.toThrow('/proc/net/ip_vs_conn line 2 is not in the kernel\'s format: "TCP 0A000002 9C40 0A000001"');
    await expect(parse(`${HEADER}TCP 0a000002 9C40 0A000001 0050 0A00000B 0050 ESTABLISHED 900\n`)).rejects.toThrow(/line 2/);
    expect(await parse(HEADER)).toEqual([]);
  });
});

it('100 000 entries become objects a slice at a time: the event loop gets turns throughout', async () => {
  let text = HEADER;
  for (let i = 0; i < 100_000; i++) {
    const client = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    text += ipv4Line('TCP', client, 1024 + (i % 60000), '192.0.2.10', 22136, hexIPv4(`10.0.1.${(i % 3) + 11}`), 22136, i % 2 ? 'ESTABLISHED' : 'TIME_WAIT', 100 + (i % 800));
  }
  class CountingPacer extends Pacer {
    yields = 0;
    override async yield(): Promise<void> {
      this.yields++;
      await super.yield();
    }
  }
  const pacer = new CountingPacer();
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const entries = await parseConnectionTable(text, {}, pacer);
  clearInterval(ticker);
  expect(entries).toHaveLength(100_000);
  expect(entries[99_999]).toMatchObject({ client: { address: '10.1.134.159', port: 1024 + (99_999 % 60000) }, destination: { address: '10.0.1.11' } });
  // Slices of 2 ms: the parse handed the loop turns, and a timer ran between them.
  expect(pacer.yields).toBeGreaterThan(0);
  expect(turns).toBeGreaterThan(0);
});
