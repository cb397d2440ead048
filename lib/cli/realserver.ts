/**
 * `ipvs-ts realserver setup|restore`: an LVS-DR/TUN real server prepared by
 * {@link configureRealServer}, and put back later by another process. What
 * setup changed is kept in a state file (default
 * `/run/ipvs-ts/realserver/netns-INODE.json`, per network namespace; /run is
 * emptied at boot, as are the changes themselves), written atomically.
 *
 * @internal
 * @module
 */

import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { configureRealServer, deleteAddress, setLinkDown, writeSysctl } from '../host/index.js';
import type { AddedAddress, SysctlChange } from '../host/index.js';
import { resolveNetnsPath } from '../netns-path.js';

const FORMAT = 'ipvs-ts/realserver';

/** What a state file holds. */
export interface RealServerState {
  format: typeof FORMAT;
  version: 1;
  netns: string | null;
  netnsInode: number;
  created: string;
  vips: string[];
  sysctls: SysctlChange[];
  addresses: AddedAddress[];
  links: string[];
}

/** The state file used when none is named. */
export async function defaultStatePath(netns: string | undefined, stateDir: string): Promise<string> {
  const inode = (await stat(netns === undefined ? '/proc/self/ns/net' : resolveNetnsPath(netns))).ino;
  return join(stateDir, 'realserver', `netns-${inode}.json`);
}

/** Thrown when a state file says setup already ran, or restore finds none. */
export class RealServerStateError extends Error {}

/**
 * Runs {@link configureRealServer} and records its changes in `statePath`
 * (refused when the file exists: one setup at a time per namespace).
 */
export async function realServerSetup(options: {
  vips: string[];
  interfaces: string[];
  tunnel: boolean;
  netns?: string;
  statePath: string;
}): Promise<RealServerState> {
  const exists = await stat(options.statePath).then(
    () => true,
    () => false,
  );
  if (exists) throw new RealServerStateError(`${options.statePath} exists: this namespace is set up already (run \`ipvs-ts realserver restore\` first)`);
  const changes = await configureRealServer({
    vips: options.vips,
    interfaces: options.interfaces,
    tunnel: options.tunnel,
    ...(options.netns === undefined ? {} : { netns: options.netns }),
  });
  const state: RealServerState = {
    format: FORMAT,
    version: 1,
    netns: options.netns ?? null,
    netnsInode: (await stat(options.netns === undefined ? '/proc/self/ns/net' : resolveNetnsPath(options.netns))).ino,
    created: new Date().toISOString(),
    vips: options.vips,
    sysctls: changes.sysctls,
    addresses: changes.addresses,
    links: changes.links,
  };
  try {
    await mkdir(dirname(options.statePath), { recursive: true, mode: 0o755 });
    const tmp = `${options.statePath}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(state, null, 2) + '\n');
    await rename(tmp, options.statePath);
  } catch (e) {
    // Unrecorded changes could never be put back: undo them now.
    await changes.restore().catch(() => undefined);
    throw e;
  }
  return state;
}

/**
 * Puts back what the setup recorded in `statePath` changed, in reverse:
 * addresses deleted, links set down, sysctls set to their old values. Every
 * step is tried; the file is removed only when all succeeded.
 *
 * @returns The state that was undone and the failures, in words.
 */
export async function realServerRestore(statePath: string): Promise<{ state: RealServerState; failures: string[] }> {
  let state: RealServerState;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8')) as RealServerState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new RealServerStateError(`${statePath} does not exist: nothing to restore`);
    throw e;
  }
  if (state.format !== FORMAT) throw new RealServerStateError(`${statePath} is not an ipvs-ts real-server state file`);
  const ns = state.netns === null ? {} : { netns: state.netns };
  const failures: string[] = [];
  const attempt = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    try {
      await work();
    } catch (e) {
      failures.push(`${what}: ${(e as Error).message}`);
    }
  };
  for (const a of [...state.addresses].reverse())
    await attempt(`delete ${a.address}/${a.prefixLength} from ${a.dev}`, () => deleteAddress({ ...a, ...ns, exist: 'ok' }));
  for (const dev of [...state.links].reverse()) await attempt(`set ${dev} down`, () => setLinkDown(dev, ns));
  for (const s of [...state.sysctls].reverse()) await attempt(`set ${s.key} back to ${s.before}`, () => writeSysctl(s.key, s.before, ns));
  if (failures.length === 0) await unlink(statePath);
  return { state, failures };
}
