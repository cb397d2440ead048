/**
 * The native addon's surface, typed. Everything here speaks the kernel's own
 * vocabulary (numeric families, protocol numbers, flag bits); `lib/convert.ts`
 * maps it to and from the public types. Internal: not exported from the
 * package entry point.
 *
 * @internal
 * @module
 */
import { createRequire } from 'node:module';

/** AF_INET / AF_INET6 as the kernel numbers them. */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** IP protocol numbers for services. */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** `IP_VS_SVC_F_*` service flags. */
export const SVC_F_PERSISTENT = 0x1;
export const SVC_F_HASHED = 0x2;
export const SVC_F_ONEPACKET = 0x4;
export const SVC_F_SCHED1 = 0x8;
export const SVC_F_SCHED2 = 0x10;
export const SVC_F_SCHED3 = 0x20;

/** `IP_VS_CONN_F_*` forwarding methods (low 3 bits of the destination's conn flags). */
export const FWD_MASQ = 0;
export const FWD_LOCALNODE = 1;
export const FWD_TUNNEL = 2;
export const FWD_DROUTE = 3;

/** `IP_VS_CONN_F_TUNNEL_TYPE_*`. */
export const TUN_IPIP = 0;
export const TUN_GUE = 1;
export const TUN_GRE = 2;

/** `IP_VS_TUNNEL_ENCAP_FLAG_*`. */
export const TUN_F_NOCSUM = 0;
export const TUN_F_CSUM = 1;
export const TUN_F_REMCSUM = 2;

/** `IP_VS_STATE_*` daemon roles. */
export const DAEMON_MASTER = 1;
export const DAEMON_BACKUP = 2;

/** `IP_VS_SCHEDNAME_MAXLEN` and friends include the terminating NUL. */
export const SCHEDNAME_MAXLEN = 16;
export const PENAME_MAXLEN = 16;
export const IFNAME_MAXLEN = 16;

/** Counters and rates of one service or destination. */
export interface RawStats {
  conns: bigint;
  inPkts: bigint;
  outPkts: bigint;
  inBytes: bigint;
  outBytes: bigint;
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

/**
 * A service in kernel terms. For keys only `family`, `protocol`, `address`,
 * `port` and `fwmark` matter; `address` is absent for fwmark services.
 */
export interface RawService {
  family: number;
  protocol: number;
  address?: string;
  port: number;
  fwmark: number;
  scheduler: string;
  /** `IP_VS_SVC_F_*` without HASHED. */
  flags: number;
  /** Persistence timeout in seconds. */
  timeout: number;
  /** IPv4: the mask as an unsigned host-order number; IPv6: prefix length. */
  netmask: number;
  pe?: string;
  /** Present on services read from the kernel. */
  stats?: RawStats;
}

/** A destination in kernel terms. */
export interface RawDestination {
  address: string;
  family: number;
  port: number;
  fwdMethod: number;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  /** Absent when the kernel does not report tunnel attributes. */
  tunType?: number;
  tunPort?: number;
  tunFlags?: number;
  /** Present on destinations read from the kernel. */
  activeConns?: number;
  inactConns?: number;
  persistConns?: number;
  stats?: RawStats;
}

/** A sync daemon in kernel terms. */
export interface RawDaemon {
  state: number;
  interface: string;
  syncId: number;
  maxLength?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** A service with its destinations, from one native snapshot pass. */
export interface RawServiceWithDests extends RawService {
  dests: RawDestination[];
}

/** Command codes (`IPVS_CMD_*`). */
export const CMD_NEW_SERVICE = 1;
export const CMD_SET_SERVICE = 2;
export const CMD_DEL_SERVICE = 3;
export const CMD_GET_SERVICE = 4;
export const CMD_NEW_DEST = 5;
export const CMD_SET_DEST = 6;
export const CMD_DEL_DEST = 7;
export const CMD_NEW_DAEMON = 9;
export const CMD_DEL_DAEMON = 10;
export const CMD_SET_CONFIG = 12;
export const CMD_ZERO = 16;
export const CMD_FLUSH = 17;

/** A daemon or timeouts command, passed as a plain object (rare, small). */
export type RawControl =
  | { cmd: 9; daemon: RawDaemon }
  | { cmd: 10; daemon: Pick<RawDaemon, 'state'> }
  | { cmd: 12; timeouts: { tcp: number; tcpFin: number; udp: number } };

/** A kernel refusal of one request, before it is put into words. */
export interface RawFailure {
  errno: number;
  code: string;
  /** The kernel's extended-ACK message, when it gave one. */
  extack?: string;
}

/** A type-tagged handle owning one generic-netlink socket. */
export interface NativeHandle {
  readonly __brand: 'ipvs-ts.NativeHandle';
}

/** The addon's exported functions. */
export interface NativeBinding {
  /** Hands the JS error class to native code so its rejections are `instanceof IpvsError`. */
  setErrorClass(ctor: new (message: string, details: { errno: number; code: string; op: string; extack?: string }) => Error): void;
  /** Opens a socket in the namespace at `netnsPath`, or the caller's when null. */
  open(netnsPath: string | null): Promise<NativeHandle>;
  /** Closes the socket once in-flight work ends. Idempotent. */
  close(handle: NativeHandle): void;
  info(handle: NativeHandle): Promise<{ version: number; connTableSize: number }>;
  listServices(handle: NativeHandle): Promise<RawService[]>;
  /** The service named by a one-record buffer from `lib/wire.ts`, or null. */
  getService(handle: NativeHandle, record: Uint8Array, names: string[]): Promise<RawService | null>;
  /** Destinations of the service named by a one-record buffer; rejects ESRCH when it is missing. */
  listDests(handle: NativeHandle, record: Uint8Array, names: string[]): Promise<RawDestination[]>;
  snapshot(handle: NativeHandle): Promise<RawServiceWithDests[]>;
  listDaemons(handle: NativeHandle): Promise<RawDaemon[]>;
  getTimeouts(handle: NativeHandle): Promise<{ tcp: number; tcpFin: number; udp: number }>;
  /**
   * Sends the service and destination commands packed in `records` (see
   * `lib/wire.ts`) pipelined in a bounded window, and reports each outcome in
   * order: `null` for success, a {@link RawFailure} for a refusal. Rejects only
   * for a socket failure. The records are copied before the call returns.
   */
  mutate(handle: NativeHandle, records: Uint8Array, names: string[]): Promise<(RawFailure | null)[]>;
  /** One daemon or timeouts command; resolves like {@link NativeBinding.mutate} with one outcome. */
  control(handle: NativeHandle, op: RawControl): Promise<(RawFailure | null)[]>;
}

const require = createRequire(import.meta.url);

/** The loaded addon. */
export const native: NativeBinding = require('../build/Release/ipvs_native.node') as NativeBinding;
