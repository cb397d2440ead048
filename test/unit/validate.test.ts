import { describe, expect, test } from 'vitest';

import { CMD_NEW_DEST, CMD_NEW_SERVICE } from '../../lib/kernel.js';
import type { ServiceKey } from '../../lib/types.js';
import {
  validateBatchOp,
  validateDaemonSpec,
  validateDaemonState,
  validateDestinationKey,
  validateDestinationSpec,
  validateServiceKey,
  validateServiceSpec,
  validateTimeouts,
} from '../../lib/validate.js';
import { RecordWriter } from '../../lib/wire.js';
import { Gen, genDestinationSpec, genServiceSpec } from './gen.js';

type ErrorClass = typeof TypeError | typeof RangeError;

/** Runs `fn`, expecting exactly `cls` (not a subclass or sibling) with exactly `message`. */
function throws(fn: () => void, cls: ErrorClass, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${cls.name}: ${message}`).toBeInstanceOf(Error);
  expect((caught as Error).constructor).toBe(cls);
  expect((caught as Error).message).toBe(message);
}

const V4: ServiceKey = { protocol: 'tcp', address: '10.0.0.1', port: 80 };
const V6: ServiceKey = { protocol: 'udp', address: '2001:db8::1', port: 53 };
const FWM: ServiceKey = { fwmark: 7 };
const FWM6: ServiceKey = { fwmark: 7, family: 'inet6' };

const svc = (o: object): void => validateServiceSpec(o);
const key = (o: unknown): void => validateServiceKey(o);
const dest = (o: object, s: ServiceKey = V4): void => validateDestinationSpec(o, s);

describe('service keys', () => {
  test.each<unknown>([
    V4,
    V6,
    FWM,
    FWM6,
    { fwmark: 1, family: 'inet' },
    { fwmark: 0xffffffff },
    { protocol: 'sctp', address: '::ffff:10.0.0.1', port: 0 },
    { protocol: 'tcp', address: '10.0.0.1', port: 65535, family: 'inet' },
    // Fields of a spec or of a service read back are accepted and ignored.
    { ...V4, scheduler: 'rr', family: 'inet', stats: {}, rates: {}, destinations: [] },
  ])('valid: %o', (k) => {
    expect(() => key(k)).not.toThrow();
  });

  test('shape', () => {
    throws(() => key(null), TypeError, 'service must be an object, got null');
    throws(() => key('tcp 10.0.0.1:80'), TypeError, "service must be an object, got 'tcp 10.0.0.1:80'");
    throws(() => key([]), TypeError, 'service must be an object, got []');
    throws(() => key({}), TypeError, 'service must have protocol, address and port, or fwmark, got {}');
    throws(
      () => key({ ...V4, fwmark: 1 }),
      TypeError,
      'service must name either an fwmark or a protocol, address and port, not both',
    );
    throws(() => validateServiceKey({}, 'ops[2].service'), TypeError, 'ops[2].service must have protocol, address and port, or fwmark, got {}');
  });

  test('unknown properties, with a suggestion', () => {
    throws(() => key({ ...V4, prot: 1 }), TypeError, "service has an unknown property 'prot' (did you mean 'port'?)");
    throws(() => key({ ...V4, Address: 'x' }), TypeError, "service has an unknown property 'Address' (did you mean 'address'?)");
    throws(() => key({ ...V4, colour: 'red' }), TypeError, "service has an unknown property 'colour'");
  });

  test('protocol', () => {
    throws(
      () => key({ ...V4, protocol: 'icmp' }),
      TypeError,
      "service.protocol must be 'tcp', 'udp' or 'sctp', got 'icmp'",
    );
    throws(() => key({ ...V4, protocol: 'TCP' }), TypeError, "service.protocol must be 'tcp', 'udp' or 'sctp', got 'TCP'");
    throws(() => key({ address: '10.0.0.1', port: 80 }), TypeError, "service.protocol must be 'tcp', 'udp' or 'sctp', got undefined");
  });

  test('address', () => {
    throws(() => key({ ...V4, address: '10.0.0.300' }), TypeError, "service.address is not an IPv4 or IPv6 address: '10.0.0.300'");
    throws(() => key({ ...V4, address: '010.0.0.1' }), TypeError, "service.address is not an IPv4 or IPv6 address: '010.0.0.1'");
    throws(() => key({ ...V4, address: 'fe80::1%eth0' }), TypeError, "service.address is not an IPv4 or IPv6 address: 'fe80::1%eth0'");
    throws(() => key({ ...V4, address: 'localhost' }), TypeError, "service.address is not an IPv4 or IPv6 address: 'localhost'");
    throws(() => key({ ...V4, address: 167772161 }), TypeError, 'service.address is not an IPv4 or IPv6 address: 167772161');
    throws(() => key({ protocol: 'tcp', port: 80 }), TypeError, 'service.address is not an IPv4 or IPv6 address: undefined');
  });

  test('port', () => {
    throws(() => key({ ...V4, port: 65536 }), RangeError, 'service.port must be an integer 0–65535, got 65536');
    throws(() => key({ ...V4, port: -1 }), RangeError, 'service.port must be an integer 0–65535, got -1');
    throws(() => key({ ...V4, port: 80.5 }), RangeError, 'service.port must be an integer 0–65535, got 80.5');
    throws(() => key({ ...V4, port: NaN }), RangeError, 'service.port must be an integer 0–65535, got NaN');
    throws(() => key({ ...V4, port: '80' }), TypeError, "service.port must be an integer 0–65535, got '80'");
    throws(() => key({ protocol: 'tcp', address: '10.0.0.1' }), TypeError, 'service.port must be an integer 0–65535, got undefined');
  });

  test('family must agree with the address', () => {
    throws(
      () => key({ ...V4, family: 'inet6' }),
      TypeError,
      "service.family is 'inet6' but service.address '10.0.0.1' is IPv4",
    );
    throws(() => key({ ...V4, family: 'ipv4' }), TypeError, "service.family must be 'inet' or 'inet6', got 'ipv4'");
  });

  test('fwmark', () => {
    throws(() => key({ fwmark: 0 }), RangeError, 'service.fwmark must be an integer 1–4294967295, got 0');
    throws(() => key({ fwmark: 2 ** 32 }), RangeError, 'service.fwmark must be an integer 1–4294967295, got 4294967296');
    throws(() => key({ fwmark: 1.5 }), RangeError, 'service.fwmark must be an integer 1–4294967295, got 1.5');
    throws(() => key({ fwmark: 1n }), TypeError, 'service.fwmark must be an integer 1–4294967295, got 1n');
    throws(() => key({ fwmark: 1, family: 'inet4' }), TypeError, "service.family must be 'inet' or 'inet6', got 'inet4'");
  });
});

describe('service specs', () => {
  test.each<object>([
    { ...V4, scheduler: 'rr' },
    { ...V4, scheduler: 'none' },
    { ...V4, scheduler: 'abcdefghijklmno' },
    { ...V4, port: 0, persistence: { timeout: 300 } },
    { ...V4, persistence: { timeout: 1, netmask: '255.255.255.0' } },
    { ...V4, persistence: { timeout: 2678400, netmask: '0.0.0.0' } },
    { ...V6, persistence: { timeout: 60, netmask: 64 } },
    { ...V6, persistence: { timeout: 60, netmask: 1 } },
    { ...FWM6, persistence: { timeout: 60, netmask: 128 } },
    { ...FWM, persistence: { timeout: 60, netmask: '255.255.0.0' } },
    { ...V6, onePacket: true },
    { ...FWM, onePacket: true },
    { ...V4, onePacket: false },
    { ...V4, scheduler: 'sh', schedulerFlags: ['sh-port', 'sh-fallback', 'flag-3'] },
    { ...V4, scheduler: 'mh', schedulerFlags: ['mh-port'] },
    { ...V4, schedulerFlags: ['flag-1', 'flag-3'] },
    { ...V4, schedulerFlags: [] },
    { ...V6, persistence: { timeout: 60 }, persistenceEngine: 'sip' },
    { ...V4, scheduler: undefined, persistence: undefined, onePacket: undefined },
  ])('valid: %o', (s) => {
    expect(() => svc(s)).not.toThrow();
  });

  test('scheduler', () => {
    throws(() => svc({ ...V4, scheduler: '' }), RangeError, "service.scheduler must be 1–15 characters long, got ''");
    throws(
      () => svc({ ...V4, scheduler: 'abcdefghijklmnop' }),
      RangeError,
      "service.scheduler must be 1–15 characters long, got 'abcdefghijklmnop'",
    );
    throws(
      () => svc({ ...V4, scheduler: 'r r' }),
      TypeError,
      "service.scheduler may hold only letters, digits, '_' and '-', got 'r r'",
    );
    throws(
      () => svc({ ...V4, scheduler: '../x' }),
      TypeError,
      "service.scheduler may hold only letters, digits, '_' and '-', got '../x'",
    );
    throws(() => svc({ ...V4, scheduler: 3 }), TypeError, 'service.scheduler must be a scheduler name, got 3');
  });

  test('port 0 needs persistence', () => {
    throws(() => svc({ ...V4, port: 0 }), RangeError, 'service.port 0 (all ports) needs persistence, got 0 without it');
  });

  test('persistence', () => {
    throws(() => svc({ ...V4, persistence: true }), TypeError, 'service.persistence must be an object, got true');
    throws(() => svc({ ...V4, persistence: {} }), TypeError, 'service.persistence.timeout must be an integer 1–2678400, got undefined');
    throws(() => svc({ ...V4, persistence: { timeout: 0 } }), RangeError, 'service.persistence.timeout must be an integer 1–2678400, got 0');
    throws(
      () => svc({ ...V4, persistence: { timeout: 2678401 } }),
      RangeError,
      'service.persistence.timeout must be an integer 1–2678400, got 2678401',
    );
    throws(
      () => svc({ ...V4, persistence: { timeout: 60, mask: 24 } }),
      TypeError,
      "service.persistence has an unknown property 'mask'",
    );
    throws(
      () => svc({ ...V4, persistence: { timeout: 60, netmsk: 24 } }),
      TypeError,
      "service.persistence has an unknown property 'netmsk' (did you mean 'netmask'?)",
    );
  });

  test('netmask of the service family', () => {
    throws(
      () => svc({ ...V4, persistence: { timeout: 60, netmask: 24 } }),
      TypeError,
      'service.persistence.netmask must be a dotted IPv4 mask for an IPv4 service, got 24',
    );
    throws(
      () => svc({ ...FWM, persistence: { timeout: 60, netmask: 'ffff::' } }),
      TypeError,
      "service.persistence.netmask must be a dotted IPv4 mask for an IPv4 service, got 'ffff::'",
    );
    throws(
      () => svc({ ...V4, persistence: { timeout: 60, netmask: '255.0.255.0' } }),
      RangeError,
      "service.persistence.netmask must be a contiguous mask such as '255.255.255.0', got '255.0.255.0'",
    );
    throws(
      () => svc({ ...V6, persistence: { timeout: 60, netmask: '255.255.255.0' } }),
      TypeError,
      "service.persistence.netmask must be a prefix length 1–128 for an IPv6 service, got '255.255.255.0'",
    );
    throws(
      () => svc({ ...FWM6, persistence: { timeout: 60, netmask: 0 } }),
      RangeError,
      'service.persistence.netmask must be a prefix length 1–128 for an IPv6 service, got 0',
    );
    throws(
      () => svc({ ...V6, persistence: { timeout: 60, netmask: 129 } }),
      RangeError,
      'service.persistence.netmask must be a prefix length 1–128 for an IPv6 service, got 129',
    );
  });

  test('one-packet scheduling is for udp and fwmark services', () => {
    throws(
      () => svc({ ...V4, onePacket: true }),
      TypeError,
      "service.onePacket is only for udp and fwmark services, got protocol 'tcp'",
    );
    throws(() => svc({ ...V6, onePacket: 1 }), TypeError, 'service.onePacket must be true or false, got 1');
  });

  test('scheduler flags', () => {
    throws(
      () => svc({ ...V4, schedulerFlags: 'sh-port' }),
      TypeError,
      "service.schedulerFlags must be an array of scheduler flags, got 'sh-port'",
    );
    throws(
      () => svc({ ...V4, schedulerFlags: ['flag-1', 'foo'] }),
      TypeError,
      "service.schedulerFlags[1] must be 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port', 'flag-1', 'flag-2' or 'flag-3', got 'foo'",
    );
    throws(
      () => svc({ ...V4, scheduler: 'rr', schedulerFlags: ['sh-port'] }),
      TypeError,
      "service.schedulerFlags[0] 'sh-port' needs scheduler 'sh', got 'rr'",
    );
    throws(
      () => svc({ ...V4, schedulerFlags: ['mh-fallback'] }),
      TypeError,
      "service.schedulerFlags[0] 'mh-fallback' needs scheduler 'mh', got 'wlc'",
    );
    throws(
      () => svc({ ...V4, scheduler: 'mh', schedulerFlags: ['mh-fallback', 'sh-port'] }),
      TypeError,
      "service.schedulerFlags[1] 'sh-port' needs scheduler 'sh', got 'mh'",
    );
    throws(
      () => svc({ ...V4, scheduler: 'sh', schedulerFlags: ['flag-1'] }),
      TypeError,
      "service.schedulerFlags[0] 'flag-1' is called 'sh-fallback' with scheduler 'sh'",
    );
    throws(
      () => svc({ ...V4, scheduler: 'mh', schedulerFlags: ['flag-2'] }),
      TypeError,
      "service.schedulerFlags[0] 'flag-2' is called 'mh-port' with scheduler 'mh'",
    );
    throws(
      () => svc({ ...V4, schedulerFlags: ['flag-3', 'flag-3'] }),
      TypeError,
      "service.schedulerFlags repeats 'flag-3'",
    );
  });

  test('persistence engine', () => {
    throws(
      () => svc({ ...V4, persistence: { timeout: 1 }, persistenceEngine: 'ftp' }),
      TypeError,
      "service.persistenceEngine must be 'sip', got 'ftp'",
    );
    throws(() => svc({ ...V4, persistenceEngine: 'sip' }), TypeError, 'service.persistenceEngine needs persistence');
  });

  test('typos in spec fields', () => {
    throws(() => svc({ ...V4, schedular: 'rr' }), TypeError, "service has an unknown property 'schedular' (did you mean 'scheduler'?)");
    throws(() => svc({ ...V4, onepacket: true }), TypeError, "service has an unknown property 'onepacket' (did you mean 'onePacket'?)");
  });
});

describe('destination specs', () => {
  test.each<[object, ServiceKey]>([
    [{ address: '10.0.0.2' }, V4],
    [{ address: '10.0.0.2', port: 80, forwarding: 'route' }, V4],
    [{ address: '10.0.0.2', port: 8080, forwarding: 'masq', weight: 0 }, V4],
    [{ address: '10.0.0.2', port: 0, forwarding: 'masq' }, V4],
    [{ address: '10.0.0.2', port: 8080 }, FWM],
    [{ address: '10.0.0.2', weight: 2147483647 }, V4],
    [{ address: '10.0.0.2', upperThreshold: 4294967295, lowerThreshold: 4294967295 }, V4],
    [{ address: '10.0.0.2', upperThreshold: 10 }, V4],
    [{ address: '10.0.0.2', upperThreshold: 10, lowerThreshold: 10 }, V4],
    [{ address: '2001:db8::2', forwarding: 'tunnel' }, V4],
    [{ address: '10.0.0.2', forwarding: 'tunnel' }, V6],
    [{ address: '10.0.0.2', forwarding: 'tunnel' }, FWM6],
    [{ address: '2001:db8::2' }, FWM6],
    [{ address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'ipip' } }, V4],
    [{ address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'ipip', port: 0, checksum: 'nocsum' } }, V4],
    [{ address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080 } }, V4],
    [{ address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'gue', port: 65535, checksum: 'remcsum' } }, V4],
    [{ address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } }, V4],
    [{ address: '10.0.0.2', forwarding: 'tunnel', tunnel: { type: 'gre', port: 0 } }, V4],
    // A destination read back, fed straight back in.
    [
      {
        address: '10.0.0.2',
        family: 'inet',
        port: 80,
        forwarding: 'route',
        weight: 1,
        upperThreshold: 0,
        lowerThreshold: 0,
        activeConnections: 1,
        inactiveConnections: 2,
        persistentConnections: 3,
        stats: {},
        rates: {},
      },
      V4,
    ],
  ])('valid: %o in %o', (d, s) => {
    expect(() => dest(d, s)).not.toThrow();
  });

  test('shape and address', () => {
    throws(() => dest(undefined as unknown as object), TypeError, 'destination must be an object, got undefined');
    throws(() => dest({}), TypeError, 'destination.address is not an IPv4 or IPv6 address: undefined');
    throws(() => dest({ address: '10.0.0.256' }), TypeError, "destination.address is not an IPv4 or IPv6 address: '10.0.0.256'");
    throws(() => dest({ address: '10.0.0.2', wieght: 3 }), TypeError, "destination has an unknown property 'wieght' (did you mean 'weight'?)");
    throws(
      () => dest({ address: '10.0.0.2', family: 'inet6' }),
      TypeError,
      "destination.family is 'inet6' but destination.address '10.0.0.2' is IPv4",
    );
    throws(() => validateDestinationSpec({}, V4, 'ops[0].destination'), TypeError, 'ops[0].destination.address is not an IPv4 or IPv6 address: undefined');
  });

  test('port', () => {
    throws(() => dest({ address: '10.0.0.2', port: 65536 }), RangeError, 'destination.port must be an integer 0–65535, got 65536');
    throws(() => dest({ address: '10.0.0.2', port: '80' }), TypeError, "destination.port must be an integer 0–65535, got '80'");
    throws(
      () => dest({ address: '10.0.0.2', port: 8080 }),
      RangeError,
      "destination.port must be the service's port 80 with forwarding 'route', got 8080: only 'masq' rewrites the port; " +
        "with 'route' the packet reaches the real server with the port the client used",
    );
    throws(
      () => dest({ address: '10.0.0.2', port: 8080, forwarding: 'tunnel' }),
      RangeError,
      "destination.port must be the service's port 80 with forwarding 'tunnel', got 8080: only 'masq' rewrites the port; " +
        "with 'tunnel' the packet reaches the real server with the port the client used",
    );
  });

  test('forwarding', () => {
    throws(
      () => dest({ address: '10.0.0.2', forwarding: 'nat' }),
      TypeError,
      "destination.forwarding must be 'route', 'masq' or 'tunnel', got 'nat'",
    );
    throws(
      () => dest({ address: '10.0.0.2', forwarding: 'local' }),
      TypeError,
      "destination.forwarding must be 'route', 'masq' or 'tunnel', got 'local'",
    );
  });

  test('weight', () => {
    throws(() => dest({ address: '10.0.0.2', weight: -1 }), RangeError, 'destination.weight must be an integer 0–2147483647, got -1');
    throws(
      () => dest({ address: '10.0.0.2', weight: 2147483648 }),
      RangeError,
      'destination.weight must be an integer 0–2147483647, got 2147483648',
    );
    throws(() => dest({ address: '10.0.0.2', weight: 1.5 }), RangeError, 'destination.weight must be an integer 0–2147483647, got 1.5');
    throws(() => dest({ address: '10.0.0.2', weight: null }), TypeError, 'destination.weight must be an integer 0–2147483647, got null');
  });

  test('thresholds', () => {
    throws(
      () => dest({ address: '10.0.0.2', upperThreshold: -1 }),
      RangeError,
      'destination.upperThreshold must be an integer 0–4294967295, got -1',
    );
    throws(
      () => dest({ address: '10.0.0.2', lowerThreshold: 4294967296 }),
      RangeError,
      'destination.lowerThreshold must be an integer 0–4294967295, got 4294967296',
    );
    throws(
      () => dest({ address: '10.0.0.2', upperThreshold: 10, lowerThreshold: 11 }),
      RangeError,
      'destination.lowerThreshold must be at most upperThreshold (10), got 11',
    );
    // The kernel refuses lower > upper even when upper is 0 ("no limit").
    throws(
      () => dest({ address: '10.0.0.2', lowerThreshold: 5 }),
      RangeError,
      'destination.lowerThreshold must be at most upperThreshold (0), got 5',
    );
  });

  test('families mix only with tunnel forwarding', () => {
    throws(
      () => dest({ address: '2001:db8::2', forwarding: 'masq' }),
      TypeError,
      "destination.address '2001:db8::2' is IPv6 but service tcp 10.0.0.1:80 is IPv4; only forwarding 'tunnel' may mix families",
    );
    throws(
      () => dest({ address: '10.0.0.2' }, V6),
      TypeError,
      "destination.address '10.0.0.2' is IPv4 but service udp [2001:db8::1]:53 is IPv6; only forwarding 'tunnel' may mix families",
    );
    throws(
      () => dest({ address: '2001:db8::2' }, FWM),
      TypeError,
      "destination.address '2001:db8::2' is IPv6 but service fwmark 7 is IPv4; only forwarding 'tunnel' may mix families",
    );
  });

  test('tunnel options', () => {
    throws(
      () => dest({ address: '10.0.0.2', tunnel: { type: 'ipip' } }),
      TypeError,
      "destination.tunnel needs forwarding 'tunnel', got forwarding 'route'",
    );
    throws(
      () => dest({ address: '10.0.0.2', forwarding: 'masq', tunnel: { type: 'gue', port: 1 } }),
      TypeError,
      "destination.tunnel needs forwarding 'tunnel', got forwarding 'masq'",
    );
    const t = (tunnel: unknown): void => dest({ address: '10.0.0.2', forwarding: 'tunnel', tunnel });
    throws(() => t('gue'), TypeError, "destination.tunnel must be an object, got 'gue'");
    throws(() => t({}), TypeError, "destination.tunnel.type must be 'ipip', 'gue' or 'gre', got undefined");
    throws(() => t({ type: 'vxlan' }), TypeError, "destination.tunnel.type must be 'ipip', 'gue' or 'gre', got 'vxlan'");
    throws(() => t({ type: 'gue' }), TypeError, "destination.tunnel.port is required for a 'gue' tunnel");
    throws(() => t({ type: 'gue', port: 0 }), RangeError, "destination.tunnel.port must be an integer 1–65535 for a 'gue' tunnel, got 0");
    throws(
      () => t({ type: 'gue', port: 65536 }),
      RangeError,
      "destination.tunnel.port must be an integer 1–65535 for a 'gue' tunnel, got 65536",
    );
    throws(() => t({ type: 'ipip', port: 5 }), TypeError, "destination.tunnel.port is only for 'gue' tunnels, got 5 for 'ipip'");
    throws(() => t({ type: 'gre', port: 5 }), TypeError, "destination.tunnel.port is only for 'gue' tunnels, got 5 for 'gre'");
    throws(() => t({ type: 'gre', port: -5 }), RangeError, 'destination.tunnel.port must be an integer 0–65535, got -5');
    throws(
      () => t({ type: 'ipip', checksum: 'csum' }),
      TypeError,
      "destination.tunnel.checksum is only for 'gue' and 'gre' tunnels, got 'csum' for 'ipip'",
    );
    throws(() => t({ type: 'gre', checksum: 'remcsum' }), TypeError, "destination.tunnel.checksum 'remcsum' is only for 'gue' tunnels");
    throws(
      () => t({ type: 'gue', port: 1, checksum: 'crc' }),
      TypeError,
      "destination.tunnel.checksum must be 'nocsum', 'csum' or 'remcsum', got 'crc'",
    );
    throws(() => t({ type: 'gue', port: 1, csum: true }), TypeError, "destination.tunnel has an unknown property 'csum'");
  });
});

describe('destination keys', () => {
  test('valid', () => {
    expect(() => validateDestinationKey({ address: '10.0.0.2' }, V4)).not.toThrow();
    expect(() => validateDestinationKey({ address: '10.0.0.2', port: 8080 }, V4)).not.toThrow();
    // Any family may be named for deletion; the kernel checks none.
    expect(() => validateDestinationKey({ address: '2001:db8::2', port: 80 }, V4)).not.toThrow();
    // A whole spec or a destination read back may serve as a key.
    expect(() => validateDestinationKey({ address: '10.0.0.2', weight: 3, stats: {} }, V4)).not.toThrow();
  });
  test('invalid', () => {
    throws(() => validateDestinationKey({ address: 'x' }, V4), TypeError, "destination.address is not an IPv4 or IPv6 address: 'x'");
    throws(
      () => validateDestinationKey({ address: '10.0.0.2', port: 1e6 }, V4),
      RangeError,
      'destination.port must be an integer 0–65535, got 1000000',
    );
    throws(
      () => validateDestinationKey({ address: '10.0.0.2', prt: 1 }, V4),
      TypeError,
      "destination has an unknown property 'prt' (did you mean 'port'?)",
    );
  });
});

describe('timeouts', () => {
  test('valid', () => {
    for (const t of [{}, { tcp: 900 }, { tcp: 0, tcpFin: 120, udp: 300 }, { udp: 2147483 }]) {
      expect(() => validateTimeouts(t)).not.toThrow();
    }
  });
  test('invalid', () => {
    throws(() => validateTimeouts(5), TypeError, 'timeouts must be an object, got 5');
    throws(() => validateTimeouts({ tcp: -1 }), RangeError, 'timeouts.tcp must be an integer 0–2147483, got -1');
    throws(() => validateTimeouts({ udp: 2147484 }), RangeError, 'timeouts.udp must be an integer 0–2147483, got 2147484');
    throws(() => validateTimeouts({ tcpFin: 1.5 }), RangeError, 'timeouts.tcpFin must be an integer 0–2147483, got 1.5');
    throws(() => validateTimeouts({ tcpfin: 1 }), TypeError, "timeouts has an unknown property 'tcpfin' (did you mean 'tcpFin'?)");
  });
});

describe('daemons', () => {
  const D = { state: 'master', interface: 'eth0' };
  test.each<object>([
    D,
    { state: 'backup', interface: 'eth0', syncId: 255, maxLength: 1024 },
    { ...D, syncId: 0, maxLength: 1, group: '224.0.0.81', port: 8848, ttl: 255 },
    { ...D, maxLength: 65507 },
    { ...D, group: 'ff02::81', maxLength: 65487 },
    { ...D, group: '239.255.255.255', port: 1, ttl: 1 },
    { ...D, interface: 'abcdefghijklmno' },
  ])('valid: %o', (d) => {
    expect(() => validateDaemonSpec(d)).not.toThrow();
  });

  test('state', () => {
    throws(() => validateDaemonState('primary'), TypeError, "state must be 'master' or 'backup', got 'primary'");
    throws(() => validateDaemonSpec({ interface: 'eth0' }), TypeError, "daemon.state must be 'master' or 'backup', got undefined");
    expect(() => validateDaemonState('backup')).not.toThrow();
  });

  test('interface', () => {
    throws(() => validateDaemonSpec({ ...D, interface: '' }), RangeError, "daemon.interface must be 1–15 bytes long, got ''");
    throws(
      () => validateDaemonSpec({ ...D, interface: 'abcdefghijklmnop' }),
      RangeError,
      "daemon.interface must be 1–15 bytes long, got 'abcdefghijklmnop'",
    );
    throws(() => validateDaemonSpec({ ...D, interface: 'a/b' }), TypeError, "daemon.interface is not a valid interface name: 'a/b'");
    throws(() => validateDaemonSpec({ ...D, interface: 'eth0:1' }), TypeError, "daemon.interface is not a valid interface name: 'eth0:1'");
    throws(() => validateDaemonSpec({ ...D, interface: 'eth 0' }), TypeError, "daemon.interface is not a valid interface name: 'eth 0'");
    throws(() => validateDaemonSpec({ ...D, interface: '..' }), TypeError, "daemon.interface is not a valid interface name: '..'");
    throws(() => validateDaemonSpec({ ...D, interface: 0 }), TypeError, 'daemon.interface must be an interface name, got 0');
  });

  test('numbers', () => {
    throws(() => validateDaemonSpec({ ...D, syncId: 256 }), RangeError, 'daemon.syncId must be an integer 0–255, got 256');
    throws(() => validateDaemonSpec({ ...D, ttl: 0 }), RangeError, 'daemon.ttl must be an integer 1–255, got 0');
    throws(() => validateDaemonSpec({ ...D, ttl: 256 }), RangeError, 'daemon.ttl must be an integer 1–255, got 256');
    throws(() => validateDaemonSpec({ ...D, port: 0 }), RangeError, 'daemon.port must be an integer 1–65535, got 0');
    throws(
      () => validateDaemonSpec({ ...D, maxLength: 0 }),
      RangeError,
      'daemon.maxLength must be an integer 1–65507 for a master daemon with an IPv4 group, got 0',
    );
    throws(
      () => validateDaemonSpec({ ...D, state: 'backup', maxLength: 1023 }),
      RangeError,
      'daemon.maxLength must be an integer 1024–65507 for a backup daemon with an IPv4 group, got 1023',
    );
    throws(
      () => validateDaemonSpec({ ...D, group: 'ff02::81', maxLength: 65488 }),
      RangeError,
      'daemon.maxLength must be an integer 1–65487 for a master daemon with an IPv6 group, got 65488',
    );
  });

  test('group must be multicast', () => {
    throws(
      () => validateDaemonSpec({ ...D, group: '10.0.0.1' }),
      RangeError,
      "daemon.group must be a multicast address (224.0.0.0/4 or ff00::/8), got '10.0.0.1'",
    );
    throws(
      () => validateDaemonSpec({ ...D, group: '240.0.0.1' }),
      RangeError,
      "daemon.group must be a multicast address (224.0.0.0/4 or ff00::/8), got '240.0.0.1'",
    );
    throws(
      () => validateDaemonSpec({ ...D, group: 'fe80::1' }),
      RangeError,
      "daemon.group must be a multicast address (224.0.0.0/4 or ff00::/8), got 'fe80::1'",
    );
    throws(() => validateDaemonSpec({ ...D, group: 'all-hosts' }), TypeError, "daemon.group is not an IPv4 or IPv6 address: 'all-hosts'");
    throws(() => validateDaemonSpec({ ...D, mcastGroup: '224.0.0.81' }), TypeError, "daemon has an unknown property 'mcastGroup'");
  });
});

describe('batch ops', () => {
  test('valid', () => {
    for (const op of [
      { type: 'addService', service: V4 },
      { type: 'updateService', service: { ...V4, scheduler: 'rr' } },
      { type: 'deleteService', service: FWM },
      { type: 'addDestination', service: V4, destination: { address: '10.0.0.2' } },
      { type: 'updateDestination', service: V4, destination: { address: '10.0.0.2', weight: 0 } },
      { type: 'deleteDestination', service: V4, destination: { address: '10.0.0.2', port: 80 } },
    ]) {
      expect(() => validateBatchOp(op)).not.toThrow();
    }
  });
  test('invalid, with paths', () => {
    throws(
      () => validateBatchOp({ type: 'addServce', service: V4 }, 'ops[4]'),
      TypeError,
      "ops[4].type must be 'addService', 'updateService', 'deleteService', 'addDestination', 'updateDestination' or 'deleteDestination', got 'addServce'",
    );
    throws(
      () => validateBatchOp({ type: 'addService', service: { ...V4, port: 0 } }, 'ops[1]'),
      RangeError,
      'ops[1].service.port 0 (all ports) needs persistence, got 0 without it',
    );
    throws(
      () => validateBatchOp({ type: 'addService', service: V4, destination: {} }, 'ops[1]'),
      TypeError,
      "ops[1] has an unknown property 'destination'",
    );
    throws(
      () => validateBatchOp({ type: 'addDestination', service: V4, destination: { address: '10.0.0.2', weight: -1 } }, 'ops[9]'),
      RangeError,
      'ops[9].destination.weight must be an integer 0–2147483647, got -1',
    );
    throws(
      () => validateBatchOp({ type: 'deleteDestination', service: { fwmark: 0 }, destination: { address: '10.0.0.2' } }, 'ops[0]'),
      RangeError,
      'ops[0].service.fwmark must be an integer 1–4294967295, got 0',
    );
    throws(() => validateBatchOp(null, 'ops[3]'), TypeError, 'ops[3] must be an object, got null');
  });
});

describe('seeded properties', () => {
  test('generated specs are valid and encode', () => {
    const g = new Gen(3);
    const w = new RecordWriter();
    for (let i = 0; i < 2000; i++) {
      const s = genServiceSpec(g);
      validateServiceSpec(s);
      w.serviceSpec(CMD_NEW_SERVICE, s);
      const d = genDestinationSpec(g, s);
      validateDestinationSpec(d, s);
      w.destinationSpec(CMD_NEW_DEST, s, d);
    }
    expect(w.count).toBe(4000);
  });

  test('mutated specs either pass and encode, or throw TypeError/RangeError naming a field', () => {
    const g = new Gen(4);
    const w = new RecordWriter();
    const junk: unknown[] = [
      undefined, null, -1, 0, 1, 1.5, 65536, 2 ** 32, NaN, Infinity, '', 'x', '10.0.0.1', '::1', 'tcp', true, [], {}, 1n,
    ];
    let thrown = 0;
    for (let i = 0; i < 5000; i++) {
      const s = genServiceSpec(g) as unknown as Record<string, unknown>;
      const d = genDestinationSpec(g, s as unknown as ServiceKey) as unknown as Record<string, unknown>;
      const target = g.bool() ? s : d;
      const keys = [...Object.keys(target), 'weight', 'persistence', 'tunnel', 'bogus'];
      target[g.pick(keys)] = g.pick(junk);
      try {
        validateServiceSpec(s);
        w.serviceSpec(CMD_NEW_SERVICE, s);
        validateDestinationSpec(d, s);
        w.destinationSpec(CMD_NEW_DEST, s, d);
      } catch (e) {
        thrown++;
        expect([TypeError, RangeError]).toContain((e as Error).constructor);
        expect((e as Error).message).toMatch(/^(service|destination)\b/);
      }
    }
    expect(thrown).toBeGreaterThan(1000);
  });
});
