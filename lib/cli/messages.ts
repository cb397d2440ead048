/**
 * Kernel refusals in ipvsadm's words: libipvs's `ipvs_strerror` table, then
 * the C library's `strerror` text.
 *
 * @internal
 * @module
 */

import { errnoText } from '../errors.js';

/** The ipvs-ts operations ipvsadm has a wording for (libipvs function names in comments). */
export type AdmOperation =
  | 'addService' // ipvs_add_service
  | 'updateService' // ipvs_update_service
  | 'deleteService' // ipvs_del_service
  | 'zero' // ipvs_zero_service
  | 'addDestination' // ipvs_add_dest
  | 'updateDestination' // ipvs_update_dest
  | 'deleteDestination' // ipvs_del_dest
  | 'startDaemon' // ipvs_start_daemon
  | 'stopDaemon' // ipvs_stop_daemon
  | 'getService' // ipvs_get_service, ipvs_get_dests, ipvs_get_services
  | 'other';

const BY_OPERATION: Partial<Record<AdmOperation, Record<string, string>>> = {
  addService: { EEXIST: 'Service already exists', ENOENT: 'Scheduler or persistence engine not found' },
  updateService: { ESRCH: 'No such service', ENOENT: 'Scheduler or persistence engine not found' },
  deleteService: { ESRCH: 'No such service' },
  zero: { ESRCH: 'No such service' },
  addDestination: { ESRCH: 'Service not defined', EEXIST: 'Destination already exists' },
  updateDestination: { ESRCH: 'Service not defined', ENOENT: 'No such destination' },
  deleteDestination: { ESRCH: 'Service not defined', ENOENT: 'No such destination' },
  startDaemon: { EEXIST: 'Daemon has already run' },
  stopDaemon: { ESRCH: 'No daemon is running' },
  getService: { ESRCH: 'No such service' },
};

const ANY_OPERATION: Record<string, string> = {
  EPERM: 'Permission denied (you must be root)',
  EINVAL: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  ENOPROTOOPT: 'Protocol not available',
  ENOMEM: 'Memory allocation problem',
  EOPNOTSUPP: 'Operation not supported with IPv6',
  EAFNOSUPPORT: 'Operation not supported with specified address family',
  EMSGSIZE: 'Module is wrong version',
};

/** glibc's `strerror` for the errors IPVS commands can meet (libuv words some differently). */
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  ENOBUFS: 'No buffer space available',
  EPROTONOSUPPORT: 'Protocol not supported',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENETDOWN: 'Network is down',
  ENETUNREACH: 'Network is unreachable',
  EHOSTUNREACH: 'No route to host',
  ENOTSUP: 'Operation not supported',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
};

/** What ipvsadm prints for a refusal with `code` (`'EEXIST'`) and `errno` of `operation`. */
export function ipvsStrerror(operation: AdmOperation, code: string, errno: number): string {
  const own = BY_OPERATION[operation]?.[code];
  if (own) return own;
  const any = ANY_OPERATION[code];
  if (any) return any;
  return strerror(code, errno);
}

/** glibc's `strerror` text for an errno. */
export function strerror(code: string, errno: number): string {
  const known = STRERROR[code];
  if (known) return known;
  const text = errnoText(errno);
  return text.charAt(0).toUpperCase() + text.slice(1);
}
