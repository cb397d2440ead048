/**
 * Turning a `netns` option into the namespace file the addon opens.
 *
 * @internal
 * @module
 */

// A statement of its own first: the module's @internal above must not attach
// to the first declaration (stripInternal would drop it from the .d.ts).
export {};

/** Where `ip netns` keeps its named namespaces. */
export const NETNS_RUN_DIR = '/run/netns';

/**
 * A namespace name (`'lab-director'`, as `ip netns add` takes) becomes
 * `/run/netns/NAME`; an absolute path (`/proc/1234/ns/net`) is used as is.
 * Throws a TypeError naming `field` for anything else.
 */
export function resolveNetnsPath(netns: string, field = 'netns'): string {
  if (typeof netns !== 'string' || netns.length === 0) {
    throw new TypeError(`${field} must be a namespace name or an absolute path, got ${JSON.stringify(netns)}`);
  }
  if (netns.startsWith('/')) {
    if (netns.split('/').includes('..')) throw new TypeError(`${field} must not contain '..': '${netns}'`);
    return netns;
  }
  if (netns === '.' || netns === '..' || netns.includes('/') || netns.length > 255 || /[\0\s]/.test(netns)) {
    throw new TypeError(`${field} is not a valid namespace name: '${netns}'`);
  }
  return `${NETNS_RUN_DIR}/${netns}`;
}
