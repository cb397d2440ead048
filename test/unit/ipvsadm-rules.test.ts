import { describe, expect, it } from 'vitest';
import {
  IpvsadmRulesError,
  formatIpvsadmRules,
  parseIpvsadmRules,
  type DestinationRule,
  type ParsedRule,
  type ServiceRule,
} from '../../lib/ipvsadm/rules.js';
import type { Destination, ServiceKey, ServiceWithDestinations } from '../../lib/types.js';
import { capturedTable, errorCases, fixtureText, golden } from './ipvsadm-fixtures.js';

const table = capturedTable();
const zeroStats = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n };
const zeroRates = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

function keyText(k: ServiceKey): string {
  return 'fwmark' in k ? `fwm ${k.fwmark} ${k.family ?? 'inet'}` : `${k.protocol} ${k.address} ${k.port}`;
}

/**
 * What the kernel would hold after these rules (without counters): the
 * parsed specs with the kernel's own defaults. `order` lists service keys in
 * the kernel's dump order, which ipvsadm's sort can show through.
 */
function toTable(rules: ParsedRule[], order: string[] = []): ServiceWithDestinations[] {
  const byKey = new Map<string, ServiceWithDestinations>();
  for (const r of rules) {
    if (r.kind === 'service') {
      const s = r.service;
      const family = 'fwmark' in s ? (s.family ?? 'inet') : s.address.includes(':') ? 'inet6' : 'inet';
      const svc = { ...s, family, stats: zeroStats, rates: zeroRates, destinations: [] } as ServiceWithDestinations;
      if (s.persistence)
        svc.persistence = { timeout: s.persistence.timeout, netmask: s.persistence.netmask ?? (family === 'inet6' ? 128 : '255.255.255.255') };
      byKey.set(keyText(s), svc);
    } else {
      const svc = byKey.get(keyText(r.service));
      if (!svc) throw new Error(`line ${r.line}: no service`);
      const d = r.destination;
      const dest: Destination = {
        address: d.address,
        family: d.address.includes(':') ? 'inet6' : 'inet',
        port: d.port,
        forwarding: d.forwarding,
        weight: d.weight,
        upperThreshold: d.upperThreshold,
        lowerThreshold: d.lowerThreshold,
        activeConnections: 0,
        inactiveConnections: 0,
        persistentConnections: 0,
        stats: zeroStats,
        rates: zeroRates,
      };
      if (d.tunnel) dest.tunnel = { type: d.tunnel.type, port: d.tunnel.port ?? 0, checksum: d.tunnel.checksum ?? 'nocsum' };
      svc.destinations.push(dest);
    }
  }
  const rank = (s: ServiceWithDestinations) => {
    const i = order.indexOf(keyText(s));
    return i < 0 ? order.length : i;
  };
  return [...byKey.values()].sort((a, b) => rank(a) - rank(b));
}

const kernelOrder = table.services.map((s) => keyText(s));

function only<T extends ParsedRule['kind']>(line: string, kind: T): Extract<ParsedRule, { kind: T }> {
  const rules = parseIpvsadmRules(line);
  expect(rules).toHaveLength(1);
  const r = rules[0] as ParsedRule;
  expect(r.kind).toBe(kind);
  return r as Extract<ParsedRule, { kind: T }>;
}

const svcOf = (line: string) => (only(line, 'service') as ServiceRule).service;
const destOf = (line: string) => only(line, 'destination') as DestinationRule;

function reason(line: string): string {
  try {
    parseIpvsadmRules(line);
  } catch (err) {
    expect(err).toBeInstanceOf(IpvsadmRulesError);
    return (err as IpvsadmRulesError).reason;
  }
  throw new Error(`'${line}' parsed`);
}

describe('formatIpvsadmRules against real ipvsadm 1.31 output', () => {
  it('ipvsadm -Sn', () => {
    expect(formatIpvsadmRules(table.services)).toBe(golden('save-n'));
  });
  it('ipvsadm -S (port names from /etc/services)', () => {
    expect(formatIpvsadmRules(table.services, { numeric: false })).toBe(golden('save'));
  });
  it('leaves out thresholds, as -S does', () => {
    expect(golden('save-n')).not.toContain(' -x ');
    expect(table.services.some((s) => s.destinations.some((d) => d.upperThreshold > 0))).toBe(true);
  });
});

describe('parseIpvsadmRules against what the kernel got from ipvsadm -R', () => {
  it('rules.txt: every service and real server as the kernel holds them', () => {
    const rules = parseIpvsadmRules(fixtureText('rules.txt'));
    const kernel = new Map(table.services.map((s) => [keyText(s), s]));
    expect(rules.filter((r) => r.kind === 'service')).toHaveLength(table.services.length);
    for (const r of rules) {
      const k = kernel.get(keyText(r.service));
      expect(k, r.text).toBeDefined();
      if (!k) continue;
      if (r.kind === 'service') {
        const s = r.service;
        expect(s.scheduler, r.text).toBe(k.scheduler);
        expect(s.persistence?.timeout, r.text).toBe(k.persistence?.timeout);
        if (s.persistence?.netmask !== undefined) expect(s.persistence.netmask, r.text).toBe(k.persistence?.netmask);
        expect(s.onePacket ?? false, r.text).toBe(k.onePacket ?? false);
        expect(s.schedulerFlags ?? [], r.text).toEqual(k.schedulerFlags ?? []);
        expect(s.persistenceEngine, r.text).toBe(k.persistenceEngine);
      } else {
        const d = r.destination;
        const kd = k.destinations.find((x) => x.address === d.address && x.port === d.port);
        expect(kd, r.text).toBeDefined();
        if (!kd) continue;
        expect(d.forwarding, r.text).toBe(kd.forwarding === 'local' ? 'route' : kd.forwarding);
        expect(d.weight, r.text).toBe(kd.weight);
        expect(d.upperThreshold, r.text).toBe(kd.upperThreshold);
        expect(d.lowerThreshold, r.text).toBe(kd.lowerThreshold);
        if (d.tunnel) {
          expect({ port: 0, checksum: 'nocsum', ...d.tunnel }, r.text).toEqual(kd.tunnel);
        }
      }
    }
  });

  it('save → parse → format gives the same text (in the kernel\'s order)', () => {
    const text = golden('save-n');
    expect(formatIpvsadmRules(toTable(parseIpvsadmRules(text), kernelOrder))).toBe(text);
  });

  it('reads back marks that ipvsadm -S prints negative, which ipvsadm -R itself refuses', () => {
    expect(golden('save-n')).toContain('-A -f -1 ');
    expect(fixtureText('out/status')).toContain('restore-save-n 2');
    expect(svcOf('-A -f -1 -s rr')).toMatchObject({ fwmark: 4294967295 });
  });

  it('rules-long.txt (long options, =values, clusters, names, tabs): what ipvsadm -Sn showed after -R', () => {
    expect(fixtureText('out/status')).toContain('restore-rules-long 0');
    const rules = parseIpvsadmRules(fixtureText('rules-long.txt'), {
      // Only what the file needs, so the test does not depend on /etc/services.
      portByName: (name) => ({ http: 80, https: 443 })[name],
    });
    expect(formatIpvsadmRules(toTable(rules))).toBe(golden('rules-long-save-n'));
  });
});

describe('parseIpvsadmRules on lines ipvsadm refuses or accepts (errors.txt, run through ipvsadm -R)', () => {
  // Where ipvs-ts words it differently (popt's own messages) or accepts more.
  const wording: Record<string, string | null> = {
    '--foo: unknown option': "unknown option '--foo'",
    '--pe: missing argument': "option '--pe' requires an argument",
    '-s: missing argument': "option '-s' requires an argument",
  };
  const acceptedBeyondIpvsadm = new Set(['# comment', '-A -t 10.0.0.1:80 -s rr # trailing']);

  for (const c of errorCases()) {
    const kernelError = c.status === 255 && !c.stderr.includes(':') && !c.stderr.startsWith('Try');
    if (c.status === 0) {
      it(`accepts '${c.line}' as ipvsadm does`, () => {
        const rules = parseIpvsadmRules(c.line);
        expect(formatIpvsadmRules(toTable(rules))).toBe(c.save);
      });
    } else if (kernelError) {
      it(`accepts '${c.line}' (ipvsadm parsed it too; the kernel said: ${c.stderr.trim()})`, () => {
        expect(() => parseIpvsadmRules(c.line)).not.toThrow();
      });
    } else if (acceptedBeyondIpvsadm.has(c.line)) {
      it(`reads '${c.line}' as a comment (ipvsadm: ${c.stderr.trim()})`, () => {
        expect(parseIpvsadmRules(c.line).length).toBeLessThanOrEqual(1);
      });
    } else {
      const expected = wording[c.stderr.trim()] ?? c.stderr.trim();
      it(`refuses '${c.line}': ${expected}`, () => {
        expect(reason(c.line)).toBe(expected);
      });
    }
  }
});

describe('parseIpvsadmRules: line forms and options', () => {
  it('reads the forms -Sn prints', () => {
    expect(svcOf('-A -t 10.0.0.1:80 -s wlc')).toEqual({ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wlc' });
    expect(svcOf('-A -u 10.0.0.2:53 -s sh -o -b sh-fallback,sh-port')).toEqual({
      protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'sh', onePacket: true, schedulerFlags: ['sh-fallback', 'sh-port'],
    });
    expect(svcOf('-A --sctp-service 10.0.0.3:3868 -s mh -b mh-port')).toMatchObject({ protocol: 'sctp', schedulerFlags: ['mh-port'] });
    expect(svcOf('-A -t 10.0.0.1:443 -s rr -p 600 -M 255.255.255.0')).toMatchObject({
      persistence: { timeout: 600, netmask: '255.255.255.0' },
    });
    expect(svcOf('-A -u 10.0.0.4:5060 -s rr -p 60 --pe sip')).toMatchObject({ persistenceEngine: 'sip', persistence: { timeout: 60 } });
    expect(svcOf('-A -f 1 -s wrr')).toEqual({ fwmark: 1, family: 'inet', scheduler: 'wrr' });
    expect(svcOf('-A -f 2 -6 -s wlc -p 120 -M 64')).toEqual({
      fwmark: 2, family: 'inet6', scheduler: 'wlc', persistence: { timeout: 120, netmask: 64 },
    });
    expect(svcOf('-A -t [2001:db8::1]:80 -s wlc -p 360 -M 64')).toMatchObject({ address: '2001:db8::1', port: 80, persistence: { netmask: 64 } });
    expect(destOf('-a -t 10.0.0.1:80 -r 192.168.1.10:80 -g -w 1000')).toMatchObject({
      service: { protocol: 'tcp', address: '10.0.0.1', port: 80 },
      destination: { address: '192.168.1.10', port: 80, forwarding: 'route', weight: 1000, upperThreshold: 0, lowerThreshold: 0 },
    });
    expect(destOf('-a -f 2 -6 -r [2001:db8:7::20]:0 -g -w 1')).toMatchObject({
      service: { fwmark: 2, family: 'inet6' },
      destination: { address: '2001:db8:7::20', port: 0 },
    });
  });

  it('fills in ipvsadm\'s defaults', () => {
    expect(svcOf('-A -t 10.0.0.1:80')).toEqual({ protocol: 'tcp', address: '10.0.0.1', port: 80, scheduler: 'wlc' });
    expect(svcOf('-A -t 10.0.0.1:80 -p')).toMatchObject({ persistence: { timeout: 360 } });
    expect(svcOf('-A -t 10.0.0.1 -p')).toMatchObject({ port: 0 });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2').destination).toEqual({
      address: '10.0.0.2', port: 80, forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0,
    });
    // Masquerading keeps its own port; direct routing and tunnels always use the service's.
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m').destination.port).toBe(8080);
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -g').destination.port).toBe(80);
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -i').destination).toMatchObject({ port: 80, tunnel: { type: 'ipip' } });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -m').destination.port).toBe(80);
    expect(destOf('-a -f 1 -r 10.0.0.2:8080 -g').destination.port).toBe(8080);
    expect(destOf('-a -f 1 -r 10.0.0.2 -g').destination.port).toBe(0);
  });

  it('reads every real-server option', () => {
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 0 -x 100 -y 50').destination).toMatchObject({
      forwarding: 'masq', weight: 0, upperThreshold: 100, lowerThreshold: 50,
    });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 6080 --tun-csum').destination.tunnel).toEqual({
      type: 'gue', port: 6080, checksum: 'csum',
    });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 6080').destination.tunnel).toEqual({
      type: 'gue', port: 6080, checksum: 'nocsum',
    });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 1 --tun-remcsum').destination.tunnel).toMatchObject({ checksum: 'remcsum' });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre --tun-nocsum').destination.tunnel).toEqual({ type: 'gre', checksum: 'nocsum' });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre').destination.tunnel).toEqual({ type: 'gre', checksum: 'nocsum' });
    expect(destOf('-a -t 10.0.0.1:80 -r 2001:db8::2 -i').destination).toMatchObject({ address: '2001:db8::2', port: 80 });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -w 2147483647').destination.weight).toBe(2147483647);
  });

  it('reads long options, --opt=value, clusters and attached values', () => {
    expect(svcOf('--add-service --tcp-service 10.0.0.1:80 --scheduler rr --persistent 120 --netmask 255.255.0.0')).toMatchObject({
      scheduler: 'rr', persistence: { timeout: 120, netmask: '255.255.0.0' },
    });
    expect(svcOf('--add-service --udp-service=10.0.0.1:53 --scheduler=sh --sched-flags=sh-port --ops')).toMatchObject({
      protocol: 'udp', scheduler: 'sh', schedulerFlags: ['sh-port'], onePacket: true,
    });
    expect(svcOf('--add-service --fwmark-service 7 --ipv6 --persistent --pe sip')).toMatchObject({
      fwmark: 7, family: 'inet6', persistence: { timeout: 360 }, persistenceEngine: 'sip',
    });
    expect(destOf('--add-server --tcp-service 10.0.0.1:80 --real-server 10.0.0.2:81 --masquerading --weight 4 --u-threshold 10 --l-threshold 2').destination).toMatchObject({
      port: 81, forwarding: 'masq', weight: 4, upperThreshold: 10, lowerThreshold: 2,
    });
    expect(destOf('--add-server --tcp-service 10.0.0.1:80 --real-server=10.0.0.2 --gatewaying').destination.forwarding).toBe('route');
    expect(destOf('--add-server --tcp-service 10.0.0.1:80 --real-server 10.0.0.2 --ipip --tun-type=gue --tun-port=7000').destination.tunnel).toMatchObject({ port: 7000 });
    expect(svcOf('-At 10.0.0.1:81 -s rr')).toMatchObject({ port: 81, scheduler: 'rr' });
    expect(svcOf('-A -t 10.0.0.1:81 -srr -p30')).toMatchObject({ scheduler: 'rr', persistence: { timeout: 30 } });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -mw 9').destination).toMatchObject({ forwarding: 'masq', weight: 9 });
    expect(destOf('-a -t 10.0.0.1:80 -r 10.0.0.2 -w5').destination.weight).toBe(5);
    expect(svcOf('-A -t 10.0.0.1:80 --sort')).toMatchObject({ port: 80 });
  });

  it('reads addresses as ipvsadm does (inet_aton, brackets, canonical IPv6)', () => {
    expect(svcOf('-A -t 10.1:83')).toMatchObject({ address: '10.0.0.1', port: 83 });
    expect(svcOf('-A -t 010.0.0.1:80')).toMatchObject({ address: '8.0.0.1' });
    expect(svcOf('-A -t 0x0a.1:80')).toMatchObject({ address: '10.0.0.1' });
    expect(svcOf('-A -t [2001:DB8:0:0::5]:443')).toMatchObject({ address: '2001:db8::5', port: 443 });
    expect(svcOf('-A --sctp-service 2001:db8:9::2 -p')).toMatchObject({ address: '2001:db8:9::2', port: 0 });
    expect(svcOf('-A -t [::ffff:10.0.0.8]:9')).toMatchObject({ address: '::ffff:10.0.0.8', port: 9 });
    // ipvsadm's quirk: an IPv4 address in brackets loses its port.
    expect(svcOf('-A -t [10.0.0.1]:80 -p')).toMatchObject({ address: '10.0.0.1', port: 0 });
  });

  it('looks up port and host names through the hooks', () => {
    const rules = parseIpvsadmRules('-A -t web:www -s rr\n-a -t web:www -r backend:alt -m', {
      portByName: (name, protocol) => (protocol === 'tcp' ? ({ www: 80, alt: 8080 } as Record<string, number>)[name] : undefined),
      hostByName: (name) => ({ web: '10.0.0.1', backend: '10.0.0.2' })[name],
    });
    expect(rules.map((r) => (r.kind === 'service' ? r.service : r.destination))).toMatchObject([
      { address: '10.0.0.1', port: 80 },
      { address: '10.0.0.2', port: 8080 },
    ]);
    expect(reason('-A -t web:80')).toBe('illegal virtual server address[:port] specified');
  });

  it('looks port names up in /etc/services by default', () => {
    expect(svcOf('-A -t 10.0.0.1:http -s rr')).toMatchObject({ port: 80 });
  });

  it('skips blank lines, comments, CRs and the word ipvsadm, and counts lines', () => {
    const rules = parseIpvsadmRules('# saved rules\n\n  \nipvsadm -A -t 10.0.0.1:80\r\n\t-a -t 10.0.0.1:80 -r 10.0.0.2 # web\n');
    expect(rules.map((r) => [r.kind, r.line, r.text])).toEqual([
      ['service', 4, 'ipvsadm -A -t 10.0.0.1:80'],
      ['destination', 5, '\t-a -t 10.0.0.1:80 -r 10.0.0.2 # web'],
    ]);
    expect(parseIpvsadmRules('')).toEqual([]);
  });

  it('names the line in its errors', () => {
    let error: unknown;
    try {
      parseIpvsadmRules('-A -t 10.0.0.1:80\n\n-A -t 10.0.0.2:80 --foo\n');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IpvsadmRulesError);
    expect((error as IpvsadmRulesError).message).toBe("line 3: unknown option '--foo'");
    expect((error as IpvsadmRulesError).line).toBe(3);
    expect((error as IpvsadmRulesError).text).toBe('-A -t 10.0.0.2:80 --foo');
  });

  it('refuses what is not a rule', () => {
    expect(reason('-D -t 10.0.0.1:80')).toBe("only -A and -a lines are rules; '-D' (delete-service) is not");
    expect(reason('--clear')).toBe("only -A and -a lines are rules; '--clear' (flush) is not");
    expect(reason('-t 10.0.0.1:80 -A')).toBe('a rule must start with -A (add a service) or -a (add a real server)');
    expect(reason('-A -t 10.0.0.1:80 --ops=1')).toBe("option '--ops' takes no argument");
    expect(reason('-A -t 10.0.0.1:80 -Q')).toBe("unknown option '-Q'");
    expect(reason('-A -t 10.0.0.1:80 --pe foo')).toBe("unknown persistence engine 'foo' (only 'sip' exists)");
    expect(reason('-A -t 10.0.0.1:80 -b')).toBe("option '-b' requires an argument");
    expect(reason('-A -t 10.0.0.1:80 -b ,')).toBe("invalid scheduler flag `,'");
    expect(reason('-A -M 255.255.255.0 -t [2001:db8::1]:80 -p')).toBe(
      "IPv4 netmask '255.255.255.0' given before the IPv6 service it belongs to",
    );
    expect(reason('-A -f 4294967296')).toBe("invalid fwmark value `4294967296' specified");
  });

  it('drops a netmask given before -6, as ipvsadm does', () => {
    expect(svcOf('-A -f 1 -M 255.255.0.0 -6 -p')).toEqual({ fwmark: 1, family: 'inet6', scheduler: 'wlc', persistence: { timeout: 360 } });
  });

  it('keeps flag-3 on sh and canonical names for flag-N aliases', () => {
    expect(svcOf('-A -t 10.0.0.1:80 -s sh -b flag-1,flag-3')).toMatchObject({ schedulerFlags: ['sh-fallback', 'flag-3'] });
    expect(svcOf('-A -t 10.0.0.1:80 -s wrr -b flag-2')).toMatchObject({ schedulerFlags: ['flag-2'] });
    expect(svcOf('-A -t 10.0.0.1:80 -b sh-port -s sh')).toMatchObject({ schedulerFlags: ['sh-port'] });
  });
});

describe('formatIpvsadmRules details', () => {
  const base = { stats: zeroStats, rates: zeroRates };
  const d = (extra: Partial<Destination>): Destination => ({
    address: '10.0.0.2', family: 'inet', port: 80, forwarding: 'route', weight: 1, upperThreshold: 0, lowerThreshold: 0,
    activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, ...base, ...extra,
  });
  it('writes Local as -g, tunnels without kernel details as ipip, and a prefix-length IPv4 mask as dotted', () => {
    const svc = {
      protocol: 'tcp', address: '10.0.0.1', port: 80, family: 'inet', scheduler: 'wlc',
      persistence: { timeout: 300, netmask: 24 }, ...base,
      destinations: [d({ forwarding: 'local' }), d({ address: '10.0.0.3', forwarding: 'tunnel' })],
    } as ServiceWithDestinations;
    expect(formatIpvsadmRules([svc])).toBe(
      '-A -t 10.0.0.1:80 -s wlc -p 300 -M 255.255.255.0\n' +
        '-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n' +
        '-a -t 10.0.0.1:80 -r 10.0.0.3:80 -i -w 1 --tun-type ipip\n',
    );
  });
  it('writes --pe even without persistence (the listing does not)', () => {
    const svc = { protocol: 'udp', address: '10.0.0.1', port: 5060, family: 'inet', scheduler: 'rr', persistenceEngine: 'sip', ...base, destinations: [] } as ServiceWithDestinations;
    expect(formatIpvsadmRules([svc])).toBe('-A -u 10.0.0.1:5060 -s rr --pe sip\n');
  });
  it('is empty for an empty table', () => {
    expect(formatIpvsadmRules([])).toBe('');
  });
});
