/**
 * Puts the namespace into error messages: native messages name the device
 * or key but not where it was looked for.
 *
 * @internal
 * @module
 */
import { IpvsError } from '../errors.js';

/** Awaits `work`; an IpvsError gets " (network namespace NAME)" appended. */
export async function inNetns<T>(netns: string | undefined, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (netns !== undefined && e instanceof IpvsError && !e.message.includes('network namespace')) {
      e.message += ` (network namespace ${netns})`;
    }
    throw e;
  }
}

/** An IpvsError raised by the host helpers themselves (not by the kernel). */
export function hostError(op: string, code: string, errno: number, message: string): IpvsError {
  return new IpvsError(message, { errno, code, op });
}
