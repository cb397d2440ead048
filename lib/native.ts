/**
 * The native addon's surface, typed, and its loader. Everything here speaks
 * the kernel's own vocabulary (numeric families, flag bits; constants in
 * `lib/kernel.ts`); services and destinations travel as packed records
 * (`lib/wire.ts`). Internal: not exported from the package entry point.
 *
 * @internal
 * @module
 */
import { loadNative } from './loader.js';

import type { Reply } from './wire.js';

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
  /** The inode of the socket's network namespace, read from the socket at open (0 over a test peer). */
  readonly netnsInode: number;
}

/** The addon's exported functions. */
export interface NativeBinding {
  /** Hands the JS error class to native code so its rejections are `instanceof IpvsError`. */
  setErrorClass(ctor: new (message: string, details: { errno: number; code: string; op: string; extack?: string }) => Error): void;
  /**
   * Opens a socket in the namespace at `netnsPath`, or the caller's when null.
   * A receive that waits `replyTimeout` ms (default 60 000) fails with ETIMEDOUT.
   */
  open(netnsPath: string | null, options?: { replyTimeout?: number }): Promise<NativeHandle>;
  /**
   * Test only (test/peer): a handle whose socket is one end of a socketpair
   * with a test peer standing in for the kernel; `eventFd` is the peer's
   * "answered" counter. Both descriptors are duplicated.
   */
  openPeer(
    socketFd: number,
    eventFd: number,
    options: { portId: number; firstSeq: number; replyTimeout?: number },
  ): Promise<NativeHandle>;
  /** Closes the socket once every call made before it has run; later calls reject with EBADF. Idempotent. */
  close(handle: NativeHandle): void;
  info(handle: NativeHandle): Promise<{ version: number; connTableSize: number }>;
  /**
   * Every service, as reply records (`lib/wire.ts`). The read calls take an
   * optional `reuse` buffer (an earlier reply's) and write the records into
   * it when they fit; JS must not touch it until the promise settles.
   */
  listServices(handle: NativeHandle, reuse?: ArrayBuffer): Promise<Reply>;
  /** The service named by a one-record buffer from `lib/wire.ts`, or null. */
  getService(handle: NativeHandle, record: Uint8Array, names: string[], reuse?: ArrayBuffer): Promise<Reply | null>;
  /** Destinations of the service named by a one-record buffer; rejects ESRCH when it is missing. */
  listDests(handle: NativeHandle, record: Uint8Array, names: string[], reuse?: ArrayBuffer): Promise<Reply>;
  /** Every service, each followed by its destinations, as reply records. */
  snapshot(handle: NativeHandle, reuse?: ArrayBuffer): Promise<Reply>;
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

/** The loaded addon. */
export const native: NativeBinding = loadNative<NativeBinding>();
