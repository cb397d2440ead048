// `ipvs-ts adm`'s command line reader against ipvsadm 1.31's own verdicts
// (test/unit/fixtures/ipvsadm/errors.json, captured from the real program),
// its defaults and popt's option syntax. The kernel tests compare whole runs.
import { describe, expect, it } from 'vitest';

import { AdmExit, AdmPoptError, type AdmRequest, parseAdmArgs, restoreLineWords } from '../../lib/cli/adm-parse.js';
import { errorCases } from './ipvsadm-fixtures.js';

const texts = { program: '/usr/sbin/ipvsadm', usage: () => 'USAGE\n', version: () => 'VERSION\n' };
const parse = (line: string): AdmRequest => parseAdmArgs(restoreLineWords(line) ?? [], texts, { hostByName: (n) => (n === 'localhost' ? '127.0.0.1' : undefined) });
const failure = (line: string): AdmExit => {
  try {
    parse(line);
  } catch (e) {
    if (e instanceof AdmExit) return e;
    throw e;
  }
  throw new Error(`no failure for ${line}`);
};

describe('ipvsadm -R verdicts on single lines (errors.json)', () => {
  const cases = errorCases();
  // Lines ipvsadm refused itself (2), or popt did (255 with "X: reason"), or with its hint (255, "Try …").
  const own = cases.filter((c) => c.status === 2 || (c.status === 255 && !/^(Service not defined|No such|Destination)/.test(c.stderr)));
  it.each(own.map((c) => [c.line, c.status, c.stderr]))('%s → %i %j', (line, status, stderr) => {
    const e = failure(line as string);
    expect({ status: e.status, stderr: e.stderr }).toEqual({ status, stderr });
    // popt's own errors are the kind ipvsadm -R reports and goes on after.
    expect(e instanceof AdmPoptError).toBe(/: (unknown option|missing argument|option does not take an argument)\n$/.test(stderr as string));
  });
  it('every other line reaches the kernel', () => {
    const rest = cases.filter((c) => !own.includes(c));
    expect(rest.length).toBeGreaterThanOrEqual(5);
    for (const c of rest) expect(() => parse(c.line), c.line).not.toThrow();
  });
});

describe('defaults, as ipvsadm fills them in', () => {
  it('-A: scheduler wlc, no persistence, IPv4 mask all ones; -p alone is 360 s', () => {
    const r = parse('-A -t 10.0.0.1:80');
    expect(r.cmd).toBe('add-service');
    expect(r.svc).toMatchObject({ protocol: 'tcp', family: 'inet', address: '10.0.0.1', port: 80, scheduler: 'wlc', netmask: 0xffffffff, onePacket: false, pe: '' });
    expect(r.svc.persistent).toBeUndefined();
    expect(parse('-A -t 10.0.0.1:0 -p').svc.persistent).toBe(360);
    expect(parse('-A -t 10.0.0.1:80 -p 600 -M 255.255.255.0').svc).toMatchObject({ persistent: 600, netmask: 0xffffff00 });
    expect(parse('-A -t [2001:db8::1]:80 -p -M 64').svc).toMatchObject({ family: 'inet6', netmask: 64 });
    expect(parse('-A -f 9 -6 -p').svc).toMatchObject({ fwmark: 9, family: 'inet6', protocol: 'tcp', netmask: 128 });
  });

  it('-a: direct routing, weight 1, the service port (forced for -g and -i, kept for -m)', () => {
    expect(parse('-a -t 10.0.0.1:80 -r 10.0.0.2').dest).toMatchObject({ address: '10.0.0.2', port: 80, forwarding: 'route', weight: 1, upper: 0, lower: 0 });
    expect(parse('-a -t 10.0.0.1:80 -r 10.0.0.2:99 -g').dest.port).toBe(80);
    expect(parse('-a -t 10.0.0.1:80 -r 10.0.0.2:99 -i').dest.port).toBe(80);
    expect(parse('-a -t 10.0.0.1:80 -r 10.0.0.2:99 -m').dest.port).toBe(99);
    expect(parse('-a -f 1 -r 10.0.0.2:99').dest.port).toBe(99);
    // -r before -t: no service port known yet, as in ipvsadm.
    expect(parse('-a -r 10.0.0.2 -m -t 10.0.0.1:80').dest.port).toBe(0);
    expect(parse('-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 6080 --tun-remcsum').dest).toMatchObject({ tunType: 'gue', tunPort: 6080, tunFlags: 2 });
  });

  it('--start-daemon: interface eth0, sync id 0', () => {
    expect(parse('--start-daemon backup').daemon).toEqual({ state: 'backup', iface: 'eth0', syncId: 0 });
    expect(parse('--start-daemon master --mcast-interface veth0 --syncid 5 --mcast-group ff05::1 --mcast-port 9000 --mcast-ttl 2 --sync-maxlen 1400').daemon).toEqual({
      state: 'master',
      iface: 'veth0',
      syncId: 5,
      group: 'ff05::1',
      port: 9000,
      ttl: 2,
      maxLength: 1400,
    });
  });

  it('names: hosts through the lookup, ports through /etc/services; 10.1 is 10.0.0.1 (inet_aton)', () => {
    expect(parse('-A -t localhost:http').svc).toMatchObject({ address: '127.0.0.1', port: 80 });
    expect(parse('-A -t 10.1:80').svc.address).toBe('10.0.0.1');
    expect(parse('-A -t 0x0a.1:80').svc.address).toBe('10.0.0.1');
    // glibc: a bare 0x is no number; a blank ends the address.
    expect(failure('-A -t 0x.1:80 -p').stderr).toBe('illegal virtual server address[:port] specified\n');
    expect(failure('-A -t 1.2.3.4:80 -p -M 0x').stderr).toBe('illegal virtual server persistent mask specified\n');
    expect(parseAdmArgs(['-A', '-t', '1.2.3.4 x:80', '-p'], texts, {}).svc.address).toBe('1.2.3.4');
    expect(failure('-A -t nosuchhost:80').stderr).toBe('illegal virtual server address[:port] specified\n');
  });

  it('--set reads three timeouts; listing flags set the format', () => {
    expect(parse('--set 900 120 300').timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(parse('-L -n --stats --exact --nosort').format).toMatchObject({ numeric: true, stats: true, exact: true, nosort: true, rate: false });
    expect(parse('-Lcn').options.has('connection')).toBe(true);
  });
});

describe('popt syntax', () => {
  it('clusters, attached and = arguments, optional -p', () => {
    expect(parse('-At 10.0.0.1:80 -srr').svc.scheduler).toBe('rr');
    expect(parse('-A -t 10.0.0.1:80 -s=rr').svc.scheduler).toBe('rr');
    expect(parse('-A --tcp-service=10.0.0.1:80 --scheduler=sh').svc.scheduler).toBe('sh');
    expect(parse('-a -t 10.0.0.1:80 -r 10.0.0.2 -w5').dest.weight).toBe(5);
    expect(parse('-A -t 10.0.0.1:80 -p600').svc.persistent).toBe(600);
    expect(parse('-A -t 10.0.0.1:80 --persistent=60').svc.persistent).toBe(60);
    // A required argument takes the next word even when it looks like an option.
    expect(failure('-a -t 10.0.0.1:80 -r 10.0.0.2 -w -1').stderr).toBe('illegal weight specified\n');
    // An optional one does not.
    expect(parse('-A -t 10.0.0.1:80 -p -s rr').svc).toMatchObject({ persistent: 360, scheduler: 'rr' });
  });

  it('popt errors name the word; a bad first option gives the hint; -h and -v answer at once', () => {
    expect(failure('-L -Q')).toMatchObject({ status: 255, stderr: '-Q: unknown option\n' });
    expect(failure('-Lz')).toMatchObject({ status: 255, stderr: '-Lz: unknown option\n' });
    expect(failure('-L --stats=x')).toMatchObject({ status: 255, stderr: '--stats=x: option does not take an argument\n' });
    expect(failure('-L -t')).toMatchObject({ status: 255, stderr: '-t: missing argument\n' });
    expect(failure('-Q').stderr).toBe("Try `/usr/sbin/ipvsadm -h' or '/usr/sbin/ipvsadm --help' for more information.\n");
    expect(failure('-n -L').status).toBe(255);
    expect(failure('-LL')).toMatchObject({ status: 2, stderr: "invalid option `-LL'\n" });
    expect(failure('-L --start-daemon master')).toMatchObject({ status: 2, stderr: "invalid option `master'\n" });
    expect(failure('-h')).toMatchObject({ status: 0, stdout: 'USAGE\n', stderr: '' });
    expect(failure('--version')).toMatchObject({ status: 0, stdout: 'VERSION\n' });
  });

  it('the list command\'s conflicts, in ipvsadm\'s words', () => {
    expect(failure('-L --timeout --daemon').stderr).toBe("The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n");
    expect(failure('-L -c --stats').stderr).toBe('options conflicts in the list command\n');
    expect(failure('-L --daemon --persistent-conn').stderr).toBe('options conflicts in the list command\n');
    expect(failure('-Sn -t 10.0.0.1:80').stderr).toBe("Illegal 'service-address' option with the 'save' command\n");
  });

  it("-b '' sets no scheduler flags, as ipvsadm parses only a non-empty argument", () => {
    const words = (...w: string[]) => parseAdmArgs(w, texts, {});
    expect(words('-A', '-t', '10.0.0.1:80', '-s', 'sh', '-b', '').svc.schedFlags ?? 0).toBe(0);
    expect(words('-E', '-t', '10.0.0.1:80', '-b', '').svc.schedFlags ?? 0).toBe(0);
    let listed: unknown;
    try {
      words('-L', '-b', '');
    } catch (e) {
      listed = e;
    }
    expect((listed as AdmExit).stderr).toBe("Illegal 'sched-flags' option with the 'list' command\n");
  });
});

describe('restore lines', () => {
  it('split on blanks, every word `ipvsadm` dropped, # not special, empty lines skipped', () => {
    expect(restoreLineWords('  ipvsadm\t-A -t 10.0.0.1:80   ipvsadm\r')).toEqual(['-A', '-t', '10.0.0.1:80']);
    expect(restoreLineWords('-A -t 10.0.0.1:80 # trailing')).toEqual(['-A', '-t', '10.0.0.1:80', '#', 'trailing']);
    expect(restoreLineWords(' \t ')).toBeUndefined();
    expect(restoreLineWords('ipvsadm')).toBeUndefined();
  });
});
