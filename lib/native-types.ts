/**
 * The native addon's contract, types only: what native/napi/*.cc export, in
 * the kernel's own vocabulary (numeric families, flag bits; constants in
 * `lib/kernel.ts`). Services and destinations travel as packed records
 * (`lib/wire.ts`). Importing this module loads nothing; lib/native.ts loads
 * the addon. Internal: not exported from the package entry point.
 *
 * @internal
 * @module
 */

// A statement of its own first: the module's @internal above must not attach
// to the first declaration (stripInternal would drop it from the .d.ts).
export {};

/** A reply as the addon hands it over. */
export interface Reply {
  /** Holds the records from byte 0; may be longer (the addon reuses buffers). */
  records: ArrayBuffer;
  /** Bytes of records in `records`. */
  length: number;
  names: string[];
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
  /** The text of /proc/net/ip_vs_conn in the handle's namespace, at most `maxBytes`. */
  connections(handle: NativeHandle, maxBytes: number): Promise<string>;
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
  /** The host helpers (native/napi/host.cc). */
  host: HostBinding;
}

// ---------------------------------------------------------------------------
// The host half (`exports.host`, native/napi/host.cc). Everything runs on the
// libuv pool; failures reject with an IpvsError.

/** An address as rtnetlink reports it. */
export interface RawAddress {
  dev: string;
  /** AF_INET (2) or AF_INET6 (10). */
  family: number;
  address: string;
  prefixLength: number;
  /** IFA_LABEL, IPv4 only. */
  label?: string;
  /** IFA_F_* flags. */
  flags: number;
}

/** What to add or delete. */
export interface RawAddressSpec {
  address: string;
  prefixLength: number;
  /** IPv4 only. */
  label?: string;
  /** IPv6: skip duplicate address detection (usable at once). */
  noDad?: boolean;
  /** IPv6: preferred lifetime 0, never chosen as a source address. */
  deprecated?: boolean;
}

/** A veth pair; both ends are brought up. */
export interface RawVethSpec {
  name: string;
  /** Namespace file path of `name`'s end; null for the caller's. */
  netns: string | null;
  peer: string;
  peerNetns: string | null;
  /** A bridge in `peerNetns` to enslave the peer to. */
  peerMaster?: string;
}

/** Namespace arguments are namespace file paths; null means the caller's own. */
export interface HostBinding {
  /** Resolves true when added, false when it existed and `existOk`. */
  addAddress(netns: string | null, dev: string, spec: RawAddressSpec, existOk: boolean): Promise<boolean>;
  /** Resolves true when deleted, false when it was absent and `missingOk`. */
  deleteAddress(netns: string | null, dev: string, spec: RawAddressSpec, missingOk: boolean): Promise<boolean>;
  listAddresses(netns: string | null, dev: string | null): Promise<RawAddress[]>;
  /** Names of every device in the namespace. */
  listLinks(netns: string | null): Promise<string[]>;
  findLink(netns: string | null, dev: string): Promise<{ index: number; name: string; up: boolean } | null>;
  /** Resolves to whether the link was up before. */
  setLinkUp(netns: string | null, dev: string, up: boolean): Promise<boolean>;
  createVeth(spec: RawVethSpec): Promise<void>;
  createBridge(netns: string | null, name: string): Promise<void>;
  addRoute(netns: string | null, dev: string, dst: string | null, prefixLength: number, gateway: string | null): Promise<void>;
  setRoute(netns: string | null, dst: string, prefixLength: number, hops: { gateway: string | null; dev: string; weight: number }[], replace: boolean): Promise<void>;
  deleteRoute(netns: string | null, dst: string, prefixLength: number): Promise<void>;
  listRoutes(netns: string | null, family: 4 | 6): Promise<{ destination: string; prefixLength: number; nextHops: { gateway: string | null; dev: string; weight: number }[] }[]>;
  /** `path` relative to /proc/sys (`net/ipv4/...`); `key` as the caller wrote it, for messages. */
  readSysctl(netns: string | null, path: string, key: string): Promise<string>;
  writeSysctl(netns: string | null, path: string, key: string, value: string): Promise<void>;
  createNetns(name: string): Promise<void>;
  deleteNetns(name: string): Promise<void>;
  listNetns(): Promise<string[]>;
  /** A listening socket's descriptor, owned by the caller. */
  listenTcp(netns: string | null, address: string, port: number, backlog: number): Promise<number>;
  /** Gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6) from the link; resolves to its MAC. */
  announceAddress(netns: string | null, ifname: string, address: string, count: number, intervalMs: number): Promise<string>;
  /** An unconnected, non-blocking TCP socket created in the namespace (family 4 or 6); the caller owns the fd. */
  tcpSocket(netns: string | null, family: 4 | 6): Promise<number>;
  tcpRequest(netns: string | null, address: string, port: number, timeoutMs: number, maxBytes: number): Promise<{ data: string; localPort: number }>;
}
