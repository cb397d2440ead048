// The FILE of `ipvs-ts apply` (JSON or ipvsadm rules) and the CLI's JSON output.
import { describe, expect, it } from 'vitest';

import { DesiredFileError, parseDesired } from '../../lib/cli/desired.js';
import { toJson } from '../../lib/cli/json.js';
import { IpvsError } from '../../lib/errors.js';
import { IpvsadmRulesError } from '../../lib/ipvsadm/rules.js';

describe('apply FILE', () => {
  it('JSON: an object with owner and services, or a bare array', () => {
    expect(parseDesired(' {"owner":"web","services":[{"fwmark":1}]}')).toEqual({ owner: 'web', services: [{ fwmark: 1 }] });
    expect(parseDesired('[{"fwmark":1}]')).toEqual({ services: [{ fwmark: 1 }] });
  });

  it('JSON from `ipvs-ts list --json`: the ipvs header ignored', () => {
    const listed = { ipvs: { version: '1.2.1' }, services: [{ fwmark: 1, destinations: [{ address: '10.0.0.1', forwarding: 'local' }] }] };
    expect(parseDesired(JSON.stringify(listed))).toEqual({ services: listed.services });
  });

  it('rules: -A lines with the -a lines of their services, ipvsadm\'s defaults filled in', () => {
    const state = parseDesired('-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.1.10 -w 5\n-A -u 10.0.0.2:53\n');
    expect(state.services).toEqual([
      {
        protocol: 'tcp',
        address: '10.0.0.1',
        port: 80,
        scheduler: 'rr',
        destinations: [{ address: '192.168.1.10', port: 80, forwarding: 'route', weight: 5, upperThreshold: 0, lowerThreshold: 0 }],
      },
      { protocol: 'udp', address: '10.0.0.2', port: 53, scheduler: 'wlc', destinations: [] },
    ]);
  });

  it('errors name the place', () => {
    expect(() => parseDesired('{"services": 3}')).toThrow(new DesiredFileError('"services" must be an array'));
    expect(() => parseDesired('{"servics": []}')).toThrow(/unknown top-level property "servics"/);
    expect(() => parseDesired('{oops')).toThrow(/not valid JSON/);
    expect(() => parseDesired('-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n')).toThrow('line 2: service tcp 10.0.0.1:80 is defined twice');
    expect(() => parseDesired('-a -t 10.0.0.1:80 -r 192.168.1.10\n')).toThrow('line 1: real server of service tcp 10.0.0.1:80, which no -A line before it defines');
    expect(() => parseDesired('-A -t 10.0.0.1:80 -w 3\n')).toThrow(IpvsadmRulesError);
  });
});

describe('JSON output', () => {
  it('64-bit counters as decimal strings, exactly; errors as code and message', () => {
    const big = 2n ** 63n + 7n;
    expect(JSON.parse(toJson({ conns: big, rate: 5 }))).toEqual({ conns: '9223372036854775815', rate: 5 });
    expect(JSON.parse(toJson({ error: new IpvsError('no such service (ESRCH)', { errno: 3, code: 'ESRCH', op: 'x' }) }))).toEqual({
      error: { code: 'ESRCH', errno: 3, message: 'no such service (ESRCH)' },
    });
  });
});
