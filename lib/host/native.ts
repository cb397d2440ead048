/**
 * The host half of the native addon (`exports.host`, native/napi/host.cc),
 * typed. Everything runs on the libuv pool; failures reject with an
 * {@link IpvsError}. Internal: not exported from the package entry point.
 *
 * @internal
 * @module
 */
import { IpvsError } from '../errors.js';
import { native } from '../native.js';

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
  /** `path` relative to /proc/sys (`net/ipv4/...`); `key` as the caller wrote it, for messages. */
  readSysctl(netns: string | null, path: string, key: string): Promise<string>;
  writeSysctl(netns: string | null, path: string, key: string, value: string): Promise<void>;
  createNetns(name: string): Promise<void>;
  deleteNetns(name: string): Promise<void>;
  listNetns(): Promise<string[]>;
  /** A listening socket's descriptor, owned by the caller. */
  listenTcp(netns: string | null, address: string, port: number, backlog: number): Promise<number>;
  tcpRequest(netns: string | null, address: string, port: number, timeoutMs: number, maxBytes: number): Promise<{ data: string; localPort: number }>;
}

// Host helpers may be used without lib/ipvs.ts ever loading; registering the
// same class twice is harmless.
native.setErrorClass(IpvsError);

/** The addon's host functions. */
export const host: HostBinding = (native as unknown as { host: HostBinding }).host;
