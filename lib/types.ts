/**
 * Public types of the IPVS table as ipvs-ts presents it.
 *
 * Identity (what names a service or destination) is kept apart from what only
 * the kernel reports (counters, rates, connection counts), so a value read
 * back from the kernel can be fed straight into an update.
 *
 * @module
 */

import type { IpvsError } from './errors.js';

/** Address family of a service or destination. */
export type Family = 'inet' | 'inet6';

/** Transport protocol of a virtual service addressed by IP and port. */
export type Protocol = 'tcp' | 'udp' | 'sctp';

/** A virtual service addressed by protocol, virtual IP and port (`ipvsadm -t/-u/--sctp-service`). */
export interface AddressServiceKey {
  /** Transport protocol. */
  protocol: Protocol;
  /** Virtual IP address, IPv4 or IPv6 text. */
  address: string;
  /** Virtual port, 0–65535; 0 (all ports) needs persistence. */
  port: number;
}

/** A virtual service addressed by a netfilter firewall mark (`ipvsadm -f`). */
export interface FwmarkServiceKey {
  /** Firewall mark, 1 to 2³²−1. */
  fwmark: number;
  /** Family of the marked packets; default `'inet'`. */
  family?: Family;
}

/** What names one virtual service in the kernel's table. */
export type ServiceKey = AddressServiceKey | FwmarkServiceKey;

/** Scheduler flags (`ipvsadm -b`). `sh-*` apply to `sh`, `mh-*` to `mh`. */
export type SchedulerFlag =
  | 'sh-fallback'
  | 'sh-port'
  | 'mh-fallback'
  | 'mh-port'
  | 'flag-1'
  | 'flag-2'
  | 'flag-3';

/** Client persistence (`ipvsadm -p [timeout] -M netmask`). */
export interface Persistence {
  /** Seconds a client stays with its real server after its last connection. */
  timeout: number;
  /**
   * Clients grouped for persistence: a dotted IPv4 mask (`'255.255.255.0'`)
   * for IPv4 services, or a prefix length (1–128) for IPv6 services.
   * Default: all bits (each client on its own).
   */
  netmask?: string | number;
}

/**
 * A scheduler: the kernel's `ip_vs_NAME` modules by name, or the name of
 * another module (any string still type-checks).
 */
export type Scheduler =
  | 'rr'
  | 'wrr'
  | 'lc'
  | 'wlc'
  | 'lblc'
  | 'lblcr'
  | 'dh'
  | 'sh'
  | 'sed'
  | 'nq'
  | 'fo'
  | 'ovf'
  | 'mh'
  | 'twos'
  // Keeps editors offering the names above while any string is accepted.
  | (string & Record<never, never>);

/** Everything that can be set on a virtual service. */
export type ServiceSpec = ServiceKey & ServiceOptions;

/** Settings of a virtual service beyond its key. */
export interface ServiceOptions {
  /** Scheduler module name without the `ip_vs_` prefix; default `'wlc'`. */
  scheduler?: Scheduler;
  /** Client persistence; absent means none. */
  persistence?: Persistence;
  /** One-packet scheduling, for UDP (`ipvsadm -o`). */
  onePacket?: boolean;
  /** Scheduler flags (`ipvsadm -b`). */
  schedulerFlags?: SchedulerFlag[];
  /** Persistence engine (`ipvsadm --pe`); only `'sip'` exists. */
  persistenceEngine?: 'sip';
}

/** 64-bit traffic counters, as the kernel keeps them. */
export interface Stats {
  /** Connections scheduled. */
  conns: bigint;
  /** Packets in (client → server). */
  inPkts: bigint;
  /** Packets out (server → client); 0 in direct routing and tunnelling. */
  outPkts: bigint;
  /** Bytes in. */
  inBytes: bigint;
  /** Bytes out. */
  outBytes: bigint;
}

/** Rates the kernel estimates every two seconds. */
export interface Rates {
  /** Connections per second. */
  cps: number;
  /** Packets per second in. */
  inPps: number;
  /** Packets per second out. */
  outPps: number;
  /** Bytes per second in. */
  inBps: number;
  /** Bytes per second out. */
  outBps: number;
}

/** A virtual service as the kernel holds it. */
export type Service = ServiceKey & {
  /** Address family, always set. */
  family: Family;
  /** Scheduler in use. */
  scheduler: Scheduler;
  /** Persistence, when the service is persistent. */
  persistence?: {
    /** Seconds a client stays with its real server. */
    timeout: number;
    /** Dotted IPv4 mask, or IPv6 prefix length. */
    netmask: string | number;
  };
  /** Present and true when one-packet scheduling is on. */
  onePacket?: boolean;
  /** Scheduler flags set, in a fixed order. */
  schedulerFlags?: SchedulerFlag[];
  /** Persistence engine, when one is set. */
  persistenceEngine?: 'sip';
  /** Counters since the service was created or last zeroed. */
  stats: Stats;
  /** Current rate estimates. */
  rates: Rates;
};

/** How the director forwards packets to a real server. */
export type Forwarding = 'route' | 'masq' | 'tunnel';

/** Tunnel encapsulation for `forwarding: 'tunnel'`. */
export interface TunnelOptions {
  /** Encapsulation; `ipip` is the classic LVS-TUN. */
  type: 'ipip' | 'gue' | 'gre';
  /** UDP port of the GUE tunnel (required for `gue`). */
  port?: number;
  /** Checksum mode of GUE/GRE encapsulation; default `'nocsum'`. */
  checksum?: 'nocsum' | 'csum' | 'remcsum';
}

/** Everything that can be set on a real server (destination). */
export interface DestinationSpec {
  /** Real server address, IPv4 or IPv6 text. */
  address: string;
  /**
   * Real server port; default: the service's port. With `'route'` or
   * `'tunnel'` forwarding it must be the service's port (or left out): only
   * `'masq'` rewrites the port, the other methods deliver the packet with
   * the port the client used (fwmark services, which have no port, take any).
   */
  port?: number;
  /** Packet forwarding method; default `'route'` (direct routing). */
  forwarding?: Forwarding;
  /** Scheduling weight, 0–2147483647; default 1. 0 quiesces the server. */
  weight?: number;
  /** Connection upper threshold; 0 means none. */
  upperThreshold?: number;
  /** Connection lower threshold; 0 means none. */
  lowerThreshold?: number;
  /** Tunnel encapsulation, only with `forwarding: 'tunnel'`. */
  tunnel?: TunnelOptions;
}

/** Names one destination within a service. */
export interface DestinationKey {
  /** Real server address. */
  address: string;
  /** Real server port; default: the service's port. */
  port?: number;
}

/** A real server as the kernel holds it. */
export interface Destination {
  /** Real server address, canonical text. */
  address: string;
  /** Address family of the real server. */
  family: Family;
  /** Real server port. */
  port: number;
  /**
   * Forwarding method. `'local'` (the kernel's LOCALNODE) is only ever read:
   * older kernels chose it for a local address, and another netlink client
   * may set it. It cannot be written back: update such a destination with the
   * method it should have.
   */
  forwarding: Forwarding | 'local';
  /** Scheduling weight. */
  weight: number;
  /** Connection upper threshold (0: none). */
  upperThreshold: number;
  /** Connection lower threshold (0: none). */
  lowerThreshold: number;
  /** Tunnel encapsulation, for tunnel forwarding on kernels that report it (5.2+). */
  tunnel?: {
    /** Encapsulation. */
    type: 'ipip' | 'gue' | 'gre';
    /** GUE's UDP port (0 for the others). */
    port: number;
    /** Checksum mode. */
    checksum: 'nocsum' | 'csum' | 'remcsum';
  };
  /** Connections in ESTABLISHED state (TCP) or equivalent. */
  activeConnections: number;
  /** Connections in other states. */
  inactiveConnections: number;
  /** Persistence templates pointing at this server. */
  persistentConnections: number;
  /** Counters since the destination was created or its service zeroed. */
  stats: Stats;
  /** Current rate estimates. */
  rates: Rates;
}

/** A service with its destinations, as `Ipvs.snapshot()` returns it. */
export type ServiceWithDestinations = Service & {
  /** The service's real servers, in the kernel's order. */
  destinations: Destination[];
};

/** Options of `Ipvs.snapshot()`. */
export interface SnapshotOptions {
  /**
   * Read the table again until two reads in a row agree on every service,
   * destination and setting (counters, rates and connection counts aside),
   * and return the last. Without it a table changed during the read can come
   * back with an entry missing: IPVS resumes its dumps by position and never
   * says a change interrupted one. (No entry ever comes back twice.) Costs a
   * second read at least.
   */
  consistent?: boolean;
  /** With `consistent`: reads to try before giving up with `EAGAIN` (2–100, default 5). */
  maxReads?: number;
}

/** Connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`). */
export interface Timeouts {
  /** Established TCP connections. */
  tcp: number;
  /** TCP connections after FIN. */
  tcpFin: number;
  /** UDP flows. */
  udp: number;
}

/** Role of a connection-synchronisation daemon. */
export type DaemonState = 'master' | 'backup';

/** Settings of a connection-synchronisation daemon (`ipvsadm --start-daemon`). */
export interface DaemonSpec {
  /** `'master'` sends the connection table, `'backup'` receives it. */
  state: DaemonState;
  /** Interface for the multicast traffic (`--mcast-interface`). */
  interface: string;
  /** Sync id, 0–255 (`--syncid`); default 0. */
  syncId?: number;
  /** Maximum sync message payload in bytes (`--sync-maxlen`). */
  maxLength?: number;
  /** Multicast group, IPv4 or IPv6 (`--mcast-group`); default 224.0.0.81. */
  group?: string;
  /** UDP port (`--mcast-port`); default 8848. */
  port?: number;
  /** Multicast TTL 1–255 (`--mcast-ttl`); default 1. */
  ttl?: number;
}

/** A running synchronisation daemon as the kernel reports it. */
export interface Daemon {
  /** Role. */
  state: DaemonState;
  /** Multicast interface. */
  interface: string;
  /** Sync id. */
  syncId: number;
  /** Maximum payload (bytes), when the kernel reports it. */
  maxLength?: number;
  /** Multicast group, when the kernel reports it. */
  group?: string;
  /** UDP port, when the kernel reports it. */
  port?: number;
  /** Multicast TTL, when the kernel reports it. */
  ttl?: number;
}

/** The kernel's IPVS version and connection table size (`ipvsadm` header line). */
export interface Info {
  /** IPVS version, such as `'1.2.1'`. */
  version: string;
  /** Size of the connection hash table. */
  connectionTableSize: number;
}

/** One operation of `Ipvs.batch()`: the same as the single call of that name. */
export type BatchOp =
  | {
      /** Which call. */
      type: 'addService' | 'updateService';
      /** The whole service. */
      service: ServiceSpec;
    }
  | {
      /** Which call. */
      type: 'deleteService';
      /** The service to delete. */
      service: ServiceKey;
    }
  | {
      /** Which call. */
      type: 'addDestination' | 'updateDestination';
      /** The service the destination belongs to. */
      service: ServiceKey;
      /** The whole destination. */
      destination: DestinationSpec;
    }
  | {
      /** Which call. */
      type: 'deleteDestination';
      /** The service the destination belongs to. */
      service: ServiceKey;
      /** The destination to remove. */
      destination: DestinationKey;
    };

/** Options of {@link Ipvs.open}. */
export interface OpenOptions {
  /**
   * Network namespace whose IPVS table to use: a name under `/run/netns`
   * (as `ip netns` creates them) or a path to a namespace file such as
   * `/proc/1234/ns/net`. Default: the namespace of the calling process.
   */
  netns?: string;
  /**
   * How long, in milliseconds, a call waits for the kernel's next reply
   * before it fails with an {@link IpvsError} `ETIMEDOUT` (the handle stays
   * usable). Default 60 000: the kernel answers at once, but a flush of a
   * huge table on a slow machine can take seconds.
   */
  replyTimeout?: number;
}

/** The outcome of one {@link Ipvs.batch} operation. */
export type BatchResult =
  | {
      /** The kernel accepted the operation. */
      ok: true;
    }
  | {
      /** The kernel refused the operation. */
      ok: false;
      /** The refusal, in words, with errno and code. */
      error: IpvsError;
    };

/**
 * The protocol of a connection entry: its service's, or `'ip'` for the
 * persistence templates of a fwmark service (and `'IP_<n>'`, the kernel's
 * own spelling, for anything else).
 */
export type ConnectionProtocol = Protocol | 'ip' | (string & {});

/**
 * A connection entry's state, as the kernel names it: TCP's states, `'UDP'`,
 * SCTP's (`'C-SENT'`, `'S-ACK-SENT'`, … as the kernel abbreviates them), and
 * `'NONE'` or `'ASSURED'` for persistence templates. Any other string the
 * kernel may add passes through.
 */
export type ConnectionState =
  | 'NONE'
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'SYNACK'
  | 'UDP'
  | 'ASSURED'
  | 'INIT1'
  | 'INIT'
  | 'C-SENT'
  | 'C-REPLIED'
  | 'C-WAIT'
  | 'COOKIE'
  | 'C-ECHOED'
  | 'S-SENT'
  | 'S-RECEIVED'
  | 'S-ACK-SENT'
  | 'REJECTED'
  | 'CLOSED'
  | (string & {});

/** An address and port of a connection entry. */
export interface ConnectionEnd {
  /** The address, in canonical text (IPv6 compressed). */
  address: string;
  /** The port (0 in a persistence template's client, and for a port-0 service). */
  port: number;
}

/**
 * One entry of a namespace's IPVS connection table (what
 * `/proc/net/ip_vs_conn` and `ipvsadm -Lcn` show), read by
 * {@link Ipvs.connections}.
 */
export interface Connection {
  /** The protocol. */
  protocol: ConnectionProtocol;
  /** The family of the client and virtual addresses. */
  family: Family;
  /** Where the connection comes from. */
  client: ConnectionEnd;
  /** The service's address and port the client reached. */
  virtual: ConnectionEnd;
  /** The real server chosen; its family differs from `family` for a tunnel across families. */
  destination: ConnectionEnd & {
    /** The real server's address family. */
    family: Family;
  };
  /** The state. */
  state: ConnectionState;
  /** Milliseconds until the entry expires unless traffic renews it; the kernel gives whole seconds. */
  expiresMs: number;
  /**
   * A persistence template (its client port is 0): it ties a client (or its
   * netmask's network) to a real server for the persistence timeout, and
   * carries no traffic itself.
   */
  template: boolean;
  /** Persistence-engine data, when the service has an engine (`sip`: the Call-ID). */
  persistenceEngine?: {
    /** The engine (`'sip'`). */
    name: string;
    /** What it keyed the entry by. */
    data: string;
  };
}

/** Which entries {@link Ipvs.connections} returns; every given condition must hold. */
export interface ConnectionFilter {
  /** Entries of this service (by protocol, virtual address and port; a fwmark service cannot be told from the table). */
  service?: AddressServiceKey;
  /** Entries going to this real server (any port when `port` is left out). */
  destination?: {
    /** The real server's address. */
    address: string;
    /** Its port. */
    port?: number;
  };
  /** Include persistence templates (default true). */
  templates?: boolean;
}

/**
 * The part of an `AbortSignal` that ipvs-ts uses: a signal from an
 * `AbortController` (node's or the DOM's) is one. Declared here so that the
 * package's types need no DOM or node type library.
 */
export interface AbortSignalLike {
  /** True once aborted. */
  readonly aborted: boolean;
  /** Why it was aborted. */
  readonly reason?: unknown;
  /** Calls `listener` when aborted. */
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  /** Stops calling `listener`. */
  removeEventListener(type: 'abort', listener: () => void): void;
}
