// ipvs.connections(): the handle's namespace's connection table, with real
// traffic through a lab, entry for entry as `ipvsadm -Lcn` in the same
// namespace shows it (the independent oracle), for IPv4 and IPv6, with
// persistence templates, filters, and a handle on another namespace than
// the caller's.
import { describe, expect, it } from 'vitest';

import { Ipvs } from '../../lib/index.js';
import type { Connection } from '../../lib/index.js';
import { createLab } from '../../lib/host/index.js';
import { ipvsTsInProcess } from './cli-support.js';
import { ok, run } from './support.js';

/** `ipvsadm -Lcn` rows: "TCP 01:59 TIME_WAIT 10.0.0.2:40000 10.0.0.1:80 10.0.0.11:80" split in fields. */
function ipvsadmConnections(netns: string): { protocol: string; expires: number; state: string; client: string; virtual: string; destination: string }[] {
  const text = ok(run('ip', ['netns', 'exec', netns, 'ipvsadm', '-Lcn']));
  const lines = text.trimEnd().split('\n');
  expect(lines[0]).toBe('IPVS connection entries');
  return lines.slice(2).map((line) => {
    const [protocol, expire, state, client, virtual, destination] = line.trim().split(/\s+/) as [string, string, string, string, string, string];
    const [m, s] = expire.split(':').map(Number) as [number, number];
    return { protocol, expires: m * 60 + s, state, client, virtual, destination };
  });
}

const hostPort = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/** Our entries in ipvsadm's spelling, expiry apart. */
const asIpvsadm = (c: Connection): string =>
  [c.protocol.toUpperCase(), c.state, hostPort(c.client.address, c.client.port), hostPort(c.virtual.address, c.virtual.port), hostPort(c.destination.address, c.destination.port)].join(' ');

describe.each(['inet', 'inet6'] as const)('connections() of a %s lab with real traffic', (family) => {
  it('equal ipvsadm -Lcn in the director namespace, entry for entry; the caller namespace is not read', async () => {
    const lab = await createLab({ forwarding: 'route', family, realServers: [{ weight: 1000 }, { weight: 500 }, { weight: 800 }], port: 22136 });
    try {
      const answers = [];
      for (let i = 0; i < 23; i++) answers.push(await lab.request());
      const ours = await lab.ipvs.connections();
      const theirs = ipvsadmConnections(lab.director.netns);
      expect(ours).toHaveLength(23);
      expect(ours.map(asIpvsadm).sort()).toEqual(theirs.map((t) => [t.protocol, t.state, t.client, t.virtual, t.destination].join(' ')).sort());
      // Read a moment apart: expiry agrees to the second.
      const expiry = new Map(theirs.map((t) => [t.client, t.expires]));
      for (const c of ours) expect(Math.abs(c.expiresMs / 1000 - expiry.get(hostPort(c.client.address, c.client.port))!)).toBeLessThanOrEqual(1);
      for (const c of ours) {
        expect(c).toMatchObject({ protocol: 'tcp', family, template: false, virtual: { address: lab.vip, port: 22136 } });
        expect(c.destination.family).toBe(family);
        expect(['FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'ESTABLISHED']).toContain(c.state);
        expect(c.client.address).toBe(lab.client.address);
      }
      // Per real server, as many entries as answers from it.
      for (const rs of lab.realServers) {
        const mine = await lab.ipvs.connections({ destination: { address: rs.address } });
        expect(mine.length).toBe(answers.filter((a) => a === rs.name).length);
        expect(mine.every((c) => c.destination.address === rs.address)).toBe(true);
      }
      expect(await lab.ipvs.connections({ service: { protocol: 'tcp', address: lab.vip, port: 22136 } })).toHaveLength(23);
      expect(await lab.ipvs.connections({ service: { protocol: 'udp', address: lab.vip, port: 22136 } })).toEqual([]);
      // A handle on the caller's own namespace sees none of the lab's entries.
      await using here = await Ipvs.open();
      expect((await here.connections()).filter((c) => c.virtual.address === lab.vip)).toEqual([]);
    } finally {
      await lab.destroy();
    }
  });
});

it('persistence templates are marked, and left out when asked', async () => {
  const lab = await createLab({ forwarding: 'route', realServers: [{ weight: 1 }, { weight: 1 }], port: 80 });
  try {
    await lab.ipvs.updateService({ ...lab.service, scheduler: 'rr', persistence: { timeout: 300 } });
    const servers = new Set<string>();
    for (let i = 0; i < 4; i++) servers.add(await lab.request());
    expect(servers.size).toBe(1); // persistence: one real server for the one client
    const all = await lab.ipvs.connections();
    const templates = all.filter((c) => c.template);
    expect(templates).toHaveLength(1);
    expect(templates[0]).toMatchObject({ protocol: 'tcp', client: { address: lab.client.address, port: 0 }, virtual: { address: lab.vip, port: 80 } });
    expect(['NONE', 'ASSURED']).toContain(templates[0]!.state);
    expect(templates[0]!.expiresMs).toBeGreaterThan(290_000);
    expect(all.filter((c) => !c.template)).toHaveLength(4);
    expect(await lab.ipvs.connections({ templates: false })).toHaveLength(4);
    // ipvsadm shows the template too (client port 0).
    const theirs = ipvsadmConnections(lab.director.netns);
    expect(theirs).toHaveLength(5);
    expect(theirs.filter((t) => t.client.endsWith(':0'))).toHaveLength(1);
    // ipvs-ts conns: the same entries, as a table and as JSON, filtered as asked.
    const text = await ipvsTsInProcess(['--netns', lab.director.netns, 'conns']);
    expect(text.status).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^pro\s+state\s+expires\s+client\s+virtual\s+real server$/);
    expect(lines.filter((l) => l.includes('ASSURED (template)') || l.includes('NONE (template)'))).toHaveLength(1);
    expect(lines.at(-1)).toBe('5 entries (1 persistence template)');
    const json = await ipvsTsInProcess(['--netns', lab.director.netns, 'conns', '--json', '-t', `${lab.vip}:80`, '--no-templates']);
    const listed = (JSON.parse(json.stdout) as { connections: Connection[] }).connections;
    expect(listed.map((c) => c.client.port).sort()).toEqual(all.filter((c) => !c.template).map((c) => c.client.port).sort());
    const none = await ipvsTsInProcess(['--netns', lab.director.netns, 'conns', '-r', '192.0.2.99']);
    expect(none.stdout).toBe('pro  state  expires  client  virtual  real server\n0 entries\n');
    const bad = await ipvsTsInProcess(['--netns', lab.director.netns, 'conns', '-t', 'nonsense']);
    expect(bad).toMatchObject({ status: 2, stderr: "ipvs-ts conns: --tcp-service must be VIP:PORT (an IPv6 VIP in brackets), got 'nonsense'\n" });
  } finally {
    await lab.destroy();
  }
});

it('a malformed filter is refused in words before anything is read', async () => {
  await using ipvs = await Ipvs.open();
  await expect(ipvs.connections({ service: { fwmark: 1 } } as never)).rejects.toThrow(/filter\.service is a fwmark service/);
  await expect(ipvs.connections({ destination: { address: '300.1.1.1' } })).rejects.toThrow("filter.destination.address is not an IPv4 or IPv6 address: '300.1.1.1'");
  await expect(ipvs.connections({ templates: 'no' } as never)).rejects.toThrow(TypeError);
});
