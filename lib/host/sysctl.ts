/**
 * Network sysctls (`net.*`) read and written through /proc/sys from a thread
 * inside the namespace, without the `sysctl` binary. Net sysctls are per
 * network namespace, so `{ netns }` picks whose.
 *
 * @module
 */
import type { NetnsOption } from './address.js';
import { inNetns } from './context.js';
import { host } from './native.js';
import { netnsArg, sysctlPath, sysctlValue } from './validate.js';

/**
 * Reads a `net.*` sysctl: `'1'`, or `'32768\t60999'` for a multi-value one
 * (the trailing newline removed).
 *
 * Keys are dotted (`net.ipv4.conf.all.arp_ignore`) or slashed
 * (`net/ipv4/conf/bond0.4001/arp_ignore`); in the dotted form an interface
 * name with a dot is written with `/` for it, as sysctl(8) does:
 * `net.ipv4.conf.bond0/4001.arp_ignore`. Rejects with `ENOENT` for an unknown
 * key or an interface the namespace does not have.
 */
export async function readSysctl(key: string, options: NetnsOption = {}): Promise<string> {
  const path = sysctlPath(key);
  const netns = netnsArg(options.netns);
  return inNetns(options.netns, host().readSysctl(netns, path, key));
}

/**
 * Writes a `net.*` sysctl (keys as for {@link readSysctl}). The value is an
 * integer or one short line of printable text; the kernel may still refuse
 * it (`EINVAL`).
 */
export async function writeSysctl(key: string, value: string | number, options: NetnsOption = {}): Promise<void> {
  const path = sysctlPath(key);
  const text = sysctlValue(value, key);
  const netns = netnsArg(options.netns);
  await inNetns(options.netns, host().writeSysctl(netns, path, key, text));
}
