/**
 * The error every kernel refusal and netlink failure becomes.
 *
 * @module
 */
import { getSystemErrorMap } from 'node:util';

/** What the native layer and the kernel report alongside a message. */
export interface IpvsErrorDetails {
  /** Positive errno (`17` for EEXIST). */
  errno: number;
  /** Symbolic errno (`'EEXIST'`). */
  code: string;
  /** The ipvs-ts operation that failed (`'addService'`, `'open'`, …). */
  op: string;
  /** The kernel's extended-ACK message, when it gave one. */
  extack?: string;
}

// A process may load both the ESM and the CommonJS build (two IpvsError
// classes, one addon). A registered symbol marks instances of either, so
// `instanceof` works across them.
const BRAND = Symbol.for('ipvs-ts.IpvsError');

/**
 * A refusal by the kernel or a failure of the netlink conversation.
 *
 * Input that is wrong before it reaches the kernel is a `TypeError` or
 * `RangeError` instead; an `IpvsError` always means the kernel (or the
 * socket) said no.
 *
 * @example
 * ```ts
 * try { await ipvs.addService(spec) }
 * catch (e) { if (e instanceof IpvsError && e.code === 'EEXIST') … }
 * ```
 */
export class IpvsError extends Error {
  /** Positive errno (`17` for EEXIST). */
  readonly errno: number;
  /** Symbolic errno (`'EEXIST'`). */
  readonly code: string;
  /** The ipvs-ts operation that failed. */
  readonly op: string;
  /** The kernel's extended-ACK message, when it gave one. */
  readonly extack?: string;

  /** Builds an error from a message in words and the kernel's details. */
  constructor(message: string, details: IpvsErrorDetails) {
    super(message);
    this.name = 'IpvsError';
    this.errno = details.errno;
    this.code = details.code;
    this.op = details.op;
    if (details.extack !== undefined) this.extack = details.extack;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for an IpvsError from either build (ESM or CommonJS) of ipvs-ts. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}

let systemErrors: Map<number, [string, string]> | undefined;

/** The C library's text for an errno (`'File exists'`), as node knows it. */
export function errnoText(errno: number): string {
  systemErrors ??= getSystemErrorMap();
  return systemErrors.get(-errno)?.[1] ?? `errno ${errno}`;
}
