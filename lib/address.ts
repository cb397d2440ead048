/**
 * IP address text: the one place ipvs-ts reads and writes it. Strict where
 * users give addresses (a dotted quad with no leading zeros, IPv6 without a
 * zone), and writing what glibc's `inet_ntop` writes, so that an address
 * reads back from the kernel exactly as it prints. The ipvsadm emulation
 * adds only its lenient `inet_aton` (lib/ipvsadm/common.ts).
 *
 * @internal
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';

import type { Family } from './types.js';

// A statement of its own first: the module's @internal above must not attach
// to the first declaration (stripInternal would drop it from the .d.ts).
export {};

/**
 * The family of an address text, or `undefined` when it is neither a plain
 * IPv4 dotted quad nor an IPv6 address. Scoped IPv6 text (`fe80::1%eth0`) is
 * refused: the kernel's service and destination addresses carry no scope.
 */
export function addressFamily(text: string): Family | undefined {
  // By hand rather than node:net's isIPv4: a batch checks every address, and
  // the regular expression leaves garbage behind each time.
  if (parseDottedTail(text, 0) >= 0) return 'inet';
  if (isIPv6(text) && !text.includes('%')) return 'inet6';
  return undefined;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** Parses a strict dotted quad (no leading zeros) at `text[from..]` to the end; -1 if malformed. */
function parseDottedTail(text: string, from: number): number {
  let value = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    const start = i;
    let octet = 0;
    while (i < text.length && i - start < 3) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || octet > 255 || (digits > 1 && text.charCodeAt(start) === 48)) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (text.charCodeAt(i) !== 46) return -1; // '.'
      i++;
    }
  }
  return i === text.length ? value : -1;
}

/**
 * Parses IPv6 text into its eight 16-bit groups, or `undefined` when the text
 * is not IPv6 (scoped text included). Accepts exactly what `node:net`'s
 * `isIPv6` accepts, less zone ids; written by hand because it runs for every
 * IPv6 address read from the kernel.
 */
export function parseIPv6(text: string): number[] | undefined {
  const n = text.length;
  if (n < 2 || n > 45) return undefined;
  const words: number[] = [];
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    // A leading ':' is only valid as '::'.
    if (text.charCodeAt(1) !== 58) return undefined;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0;
    let h: number;
    while (i < n && i - start < 4 && (h = hexValue(text.charCodeAt(i))) >= 0) {
      value = value * 16 + h;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // A dotted IPv4 tail: the last two groups.
      if (words.length > 6) return undefined;
      const v4 = parseDottedTail(text, start);
      if (v4 < 0) return undefined;
      words.push(v4 >>> 16, v4 & 0xffff);
      i = n;
      break;
    }
    if (i === start || words.length === 8) return undefined;
    words.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return undefined;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap !== -1) return undefined;
      gap = words.length;
      i++;
    } else if (i === n) {
      return undefined; // a single trailing ':'
    }
  }
  const count = words.length;
  if (gap === -1) return count === 8 ? words : undefined;
  // '::' stands for at least one zero group.
  if (count > 7) return undefined;
  // Move the groups after '::' to the end, zeros between.
  const tail = count - gap;
  for (let k = 0; k < tail; k++) words[7 - k] = words[count - 1 - k] ?? 0;
  for (let k = gap; k < 8 - tail; k++) words[k] = 0;
  return words;
}

/**
 * Formats eight 16-bit groups as glibc's `inet_ntop` does (RFC 5952): lower-case
 * hex without leading zeros; the longest run of two or more zero groups
 * compressed to `::` (the first on a tie); IPv4-mapped (`::ffff:a.b.c.d`) and
 * IPv4-compatible (`::a.b.c.d`) addresses with a dotted tail.
 */
export function formatIPv6(words: readonly number[]): string {
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  if (bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    const w6 = words[6] ?? 0;
    const w7 = words[7] ?? 0;
    const v4 = `${w6 >> 8}.${w6 & 0xff}.${w7 >> 8}.${w7 & 0xff}`;
    return bestLen === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (words[i] ?? 0).toString(16);
  }
  return out;
}

/**
 * The canonical text of an address, as the kernel's replies show it through
 * `inet_ntop`, or `undefined` when the text is not an address. IPv4 text that
 * `node:net` accepts is already canonical (it refuses leading zeros).
 */
export function canonicalAddress(text: string): string | undefined {
  if (isIPv4(text)) return text;
  const words = parseIPv6(text);
  return words && formatIPv6(words);
}

/** Canonical text when valid, the text itself otherwise (for messages). */
export function canonicalOrSelf(text: string): string {
  return canonicalAddress(text) ?? text;
}

/** Canonicalizes text from the kernel, cheaply: IPv4 from `inet_ntop` is canonical already. */
export function canonicalFromKernel(text: string): string {
  if (!text.includes(':')) return text;
  const words = parseIPv6(text);
  return words ? formatIPv6(words) : text;
}

/** Dotted IPv4 text to its unsigned host-order number (`'255.255.255.0'` → `0xffffff00`). */
export function ipv4ToNumber(text: string): number {
  const o = text.split('.').map(Number);
  return (((o[0] ?? 0) << 24) | ((o[1] ?? 0) << 16) | ((o[2] ?? 0) << 8) | (o[3] ?? 0)) >>> 0;
}

/** An unsigned host-order number to dotted IPv4 text (`0xffffff00` → `'255.255.255.0'`). */
export function numberToIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** True when an IPv4 mask (host-order number) is contiguous ones then zeros. */
export function isContiguousMask(mask: number): boolean {
  const inv = ~mask >>> 0;
  return (inv & (inv + 1)) === 0;
}

/** A strict dotted-quad IPv4 address (no leading zeros) as its host-order number, or `undefined`. */
export function parseIPv4(text: string): number | undefined {
  const v = parseDottedTail(text, 0);
  return v < 0 ? undefined : v;
}

/** An address as four host-order 32-bit words, IPv4 in the first (as the kernel's `nf_inet_addr`). */
export interface AddressWords {
  family: Family;
  words: [number, number, number, number];
}

/** Reads an IPv4 (dotted quad) or IPv6 address; throws a TypeError for anything else. */
export function addressWords(address: string): AddressWords {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return { family: 'inet', words: [v4, 0, 0, 0] };
  const v6 = parseIPv6(address);
  if (v6 === undefined) throw new TypeError(`not an IP address: '${address}'`);
  const w = (i: number): number => (v6[2 * i] ?? 0) * 65536 + (v6[2 * i + 1] ?? 0);
  return { family: 'inet6', words: [w(0), w(1), w(2), w(3)] };
}
