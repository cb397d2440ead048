/**
 * Checks of host-helper inputs, before anything is sent: a `TypeError` for
 * a wrong type or syntax, a `RangeError` for a number out of range.
 *
 * @internal
 * @module
 */
import { isIP } from 'node:net';

import { resolveNetnsPath } from '../netns-path.js';
import type { Family } from '../types.js';

/** IFNAMSIZ − 1: the longest interface name (and IPv4 label) the kernel takes. */
export const IFNAME_MAX = 15;

const show = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : String(v));

/** The namespace file path for a `netns` option, or null for the caller's own. */
export function netnsArg(netns: string | undefined): string | null {
  return netns === undefined ? null : resolveNetnsPath(netns, 'netns');
}

/**
 * An interface name as the kernel's dev_valid_name() accepts it: 1–15 bytes,
 * not `.` or `..`, no `/`, `:` or whitespace. Dots inside (`bond0.4001`) are fine.
 */
export function checkIfName(name: unknown, field = 'dev'): string {
  if (typeof name !== 'string') throw new TypeError(`${field} must be an interface name (a string), got ${show(name)}`);
  if (name === '' || name === '.' || name === '..' || /[/:\s\0]/.test(name)) {
    throw new TypeError(`${field} is not a valid interface name: ${show(name)} (no '/', ':', whitespace, '.' or '..')`);
  }
  if (Buffer.byteLength(name) > IFNAME_MAX) throw new RangeError(`${field} is longer than ${IFNAME_MAX} bytes: ${show(name)}`);
  return name;
}

/**
 * An IPv4 address label in the old alias style: the device name itself or
 * `DEV:SUFFIX` (`eth0:0`, `bond0.4001:0`), at most 15 bytes, as the kernel
 * and `ip address add … label` require.
 */
export function checkLabel(label: unknown, dev: string): string {
  if (typeof label !== 'string') throw new TypeError(`label must be a string, got ${show(label)}`);
  if (label !== dev && !(label.startsWith(`${dev}:`) && label.length > dev.length + 1)) {
    throw new TypeError(`label ${show(label)} must be the device name or start with '${dev}:' (like '${dev}:0')`);
  }
  if (/[/\s\0]/.test(label)) throw new TypeError(`label must not contain '/' or whitespace: ${show(label)}`);
  if (Buffer.byteLength(label) > IFNAME_MAX) throw new RangeError(`label is longer than ${IFNAME_MAX} bytes: ${show(label)}`);
  return label;
}

/** The family of an IP address text, or a TypeError naming the field. */
export function checkAddress(address: unknown, field = 'address'): Family {
  if (typeof address !== 'string') throw new TypeError(`${field} must be an IP address string, got ${show(address)}`);
  const v = isIP(address);
  if (v === 4) return 'inet';
  if (v === 6 && !address.includes('%')) return 'inet6';
  throw new TypeError(`${field} is not an IPv4 or IPv6 address: ${show(address)}`);
}

/** A prefix length for `family`; default 32 (IPv4) or 128 (IPv6). */
export function checkPrefix(prefixLength: unknown, family: Family): number {
  const max = family === 'inet' ? 32 : 128;
  if (prefixLength === undefined) return max;
  if (typeof prefixLength !== 'number' || !Number.isInteger(prefixLength)) {
    throw new TypeError(`prefixLength must be an integer, got ${show(prefixLength)}`);
  }
  if (prefixLength < 0 || prefixLength > max) {
    throw new RangeError(`prefixLength must be 0–${max} for an ${family === 'inet' ? 'IPv4' : 'IPv6'} address, got ${prefixLength}`);
  }
  return prefixLength;
}

/** Names `ip netns` would accept, kept to a safe alphabet: `[A-Za-z0-9_.:@+-]`, 1–255, not `.`/`..`. */
export function checkNetnsName(name: unknown): string {
  if (typeof name !== 'string') throw new TypeError(`network namespace name must be a string, got ${show(name)}`);
  if (name === '.' || name === '..' || !/^[A-Za-z0-9_.:@+-]+$/.test(name)) {
    throw new TypeError(`not a valid network namespace name: ${show(name)} (letters, digits and _ . : @ + - only)`);
  }
  if (name.length > 255) throw new RangeError(`network namespace name is longer than 255 characters`);
  return name;
}

/**
 * A `net.*` sysctl key → its path under /proc/sys. Two spellings:
 *
 * - dotted, as sysctl(8) prints it: `net.ipv4.conf.all.arp_ignore`. A dot
 *   always separates; an interface name with a dot (`bond0.4001`) is written
 *   with `/` in its place, as sysctl(8) does: `net.ipv4.conf.bond0/4001.arp_ignore`;
 * - slashed, the path itself: `net/ipv4/conf/bond0.4001/arp_ignore`.
 *
 * Segments must be non-empty, not `.` or `..`, and without whitespace.
 */
export function sysctlPath(key: unknown): string {
  if (typeof key !== 'string') throw new TypeError(`sysctl key must be a string, got ${show(key)}`);
  let segments: string[];
  if (key.startsWith('net/')) segments = key.split('/');
  else if (key.startsWith('net.')) segments = key.split('.').map((s) => s.replaceAll('/', '.'));
  else throw new TypeError(`only network sysctls (net.*) are supported, got ${show(key)}`);
  if (segments.length < 2 || segments.some((s) => s === '' || s === '.' || s === '..' || /[\s\0]/.test(s))) {
    throw new TypeError(`not a valid sysctl key: ${show(key)} (empty, '.', '..' or whitespace in a segment)`);
  }
  const path = segments.join('/');
  if (path.length > 255) throw new RangeError(`sysctl key is too long: ${show(key)}`);
  return path;
}

/** A value to write: an integer, or a short single-line string (tabs allowed). */
export function sysctlValue(value: unknown, key: string): string {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`value for ${key} must be an integer, got ${value}`);
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'string') throw new TypeError(`value for ${key} must be a string or an integer, got ${show(value)}`);
  if (value === '' || /[\n\r\0]/.test(value) || /[^\t\x20-\x7e]/.test(value)) {
    throw new TypeError(`value for ${key} must be one non-empty line of printable ASCII, got ${JSON.stringify(value)}`);
  }
  if (value.length > 256) throw new RangeError(`value for ${key} is longer than 256 characters`);
  return value;
}
