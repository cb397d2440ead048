/**
 * Kernel refusals in words: the errno of a refused request put into a
 * sentence about the operation (`service tcp 10.0.0.1:80 already exists
 * (EEXIST)`). Only ever built for failures.
 *
 * @internal
 * @module
 */
import { describeDestination, describeServiceKey, destinationPort } from './convert.js';
import { IpvsError, errnoText } from './errors.js';
import type { RawFailure } from './native-types.js';
import type { BatchOp, DaemonState, DestinationKey, ServiceKey, ServiceSpec } from './types.js';

/** Words for an errno code, or undefined for the generic wording. */
export type Words = (code: string) => string | undefined;

/** Puts a kernel refusal of one operation into words. */
export function refusal(op: string, failure: RawFailure, words: Words): IpvsError {
  const said = words(failure.code) ?? `${op} failed: ${errnoText(failure.errno)}`;
  const extack = failure.extack ? `: ${failure.extack}` : '';
  return new IpvsError(`${said} (${failure.code}${extack})`, { ...failure, op });
}

/** Refusals of a service command. */
export function serviceWords(key: ServiceKey, spec?: ServiceSpec): Words {
  const svc = `service ${describeServiceKey(key)}`;
  return (code) => {
    switch (code) {
      case 'EEXIST':
        return `${svc} already exists`;
      case 'ESRCH':
        return `no such ${svc}`;
      case 'ENOENT': {
        const sched = spec?.scheduler ?? 'wlc';
        if (spec?.persistenceEngine) {
          return `unknown scheduler '${sched}' or persistence engine '${spec.persistenceEngine}' (no ip_vs_${sched} or ip_vs_pe_${spec.persistenceEngine} module)`;
        }
        return `unknown scheduler '${sched}' (no ip_vs_${sched} module)`;
      }
      case 'EPERM':
        return `permission denied for ${svc}: IPVS needs CAP_NET_ADMIN`;
      case 'EINVAL':
        return `the kernel refused ${svc} as invalid`;
      default:
        return undefined;
    }
  };
}

/** Refusals of a destination command. */
export function destinationWords(key: ServiceKey, dest: DestinationKey): Words {
  const svc = `service ${describeServiceKey(key)}`;
  const d = `destination ${describeDestination(dest.address, destinationPort(dest.port, key))}`;
  return (code) => {
    switch (code) {
      case 'EEXIST':
        return `${d} already exists in ${svc}`;
      case 'ENOENT':
        return `no such ${d} in ${svc}`;
      case 'ESRCH':
        return `no such ${svc}`;
      case 'ERANGE':
        return `${d} in ${svc}: weight or thresholds out of the kernel's range`;
      case 'EINVAL':
        return `the kernel refused ${d} in ${svc} as invalid (a real server must be a routable unicast address; gue needs a tunnel port; a different family needs tunnel forwarding)`;
      case 'EPERM':
        return `permission denied for ${d}: IPVS needs CAP_NET_ADMIN`;
      default:
        return undefined;
    }
  };
}

/** Refusals of a sync-daemon command. */
export function daemonWords(state: DaemonState, iface?: string): Words {
  return (code) => {
    switch (code) {
      case 'EEXIST':
        return `a ${state} sync daemon is already running`;
      case 'ESRCH':
        return `no ${state} sync daemon is running`;
      case 'ENODEV':
        return `no such interface '${iface ?? ''}' for the ${state} sync daemon`;
      case 'EADDRNOTAVAIL':
        return `interface '${iface ?? ''}' has no usable address for the ${state} sync daemon yet (an IPv6 address may still be in duplicate address detection)`;
      case 'EPERM':
        return `permission denied: IPVS needs CAP_NET_ADMIN`;
      default:
        return undefined;
    }
  };
}

/** The generic wording only (flush, zero of everything, timeouts). */
export const plainWords = (): undefined => undefined;

/** How a failed batch operation is put into words (only ever built for failures). */
export function batchWords(op: BatchOp): Words {
  switch (op.type) {
    case 'addService':
    case 'updateService':
      return serviceWords(op.service, op.service);
    case 'deleteService':
      return serviceWords(op.service);
    default:
      return destinationWords(op.service, op.destination);
  }
}
