/**
 * `ipvs-ts realserver setup|restore`: an LVS-DR/TUN real server prepared by
 * {@link configureRealServer}, and put back later by another process. What
 * setup changed is kept in a state file (default
 * `/run/ipvs-ts/realserver/netns-INODE.json`, per network namespace; /run is
 * emptied at boot, as are the changes themselves).
 *
 * Root acts on that file later, so it is handled as lib/state-file.ts says
 * (no link followed, folders and file owned by root or the caller and
 * writable by no one else, written whole), and `restore` checks every field
 * against what setup can have written before it changes anything. A setup
 * first claims the file by creating it exclusively as a "pending"
 * placeholder, so two setups at once cannot both run, and a setup that dies
 * half-way leaves a placeholder that says so.
 *
 * @internal
 * @module
 */

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';

import { configureRealServer, deleteAddress, setLinkDown, writeSysctl } from '../host/index.js';
import type { AddedAddress, HostChanges, RealServerOptions, SysctlChange } from '../host/index.js';
import { checkAddress, checkIfName, checkLabel } from '../host/validate.js';
import { resolveNetnsPath } from '../netns-path.js';
import { StateFileError, createStateFile, readStateFile, removeStateFile, writeStateFile } from '../state-file.js';

const FORMAT = 'ipvs-ts/realserver';
/** A real-server record is a few kilobytes; anything near this is not one. */
const MAX_STATE_BYTES = 1 << 20;

/** What a state file holds once setup has finished. */
export interface RealServerState {
  /** Always `'ipvs-ts/realserver'`. */
  format: typeof FORMAT;
  /** Always 1. */
  version: 1;
  /** The `--netns` setup ran with, or null for its own namespace. */
  netns: string | null;
  /** The inode of the namespace setup changed; restore refuses any other. */
  netnsInode: number;
  /** When setup ran (ISO 8601). */
  created: string;
  /** The VIPs asked for. */
  vips: string[];
  /** Sysctls changed, with their previous values. */
  sysctls: SysctlChange[];
  /** Addresses added. */
  addresses: AddedAddress[];
  /** Links brought up. */
  links: string[];
}

/**
 * The placeholder a setup writes before it changes anything (its claim on
 * the namespace), replaced by a {@link RealServerState} when it is done.
 */
export interface PendingRealServerSetup {
  /** Always `'ipvs-ts/realserver'`. */
  format: typeof FORMAT;
  /** Always 1. */
  version: 1;
  /** Marks a setup that has not recorded its changes (yet). */
  pending: true;
  /** The process running the setup. */
  pid: number;
  /** Its start time in clock ticks after boot (`/proc/PID/stat` field 22), so a reused pid is not taken for it; null when unknown. */
  processStart: string | null;
  /** The boot it ran in (`/proc/sys/kernel/random/boot_id`); null when unknown. */
  bootId: string | null;
  /** As in {@link RealServerState}. */
  netns: string | null;
  /** As in {@link RealServerState}. */
  netnsInode: number;
  /** When the setup started (ISO 8601). */
  created: string;
}

/**
 * The host calls setup and restore make; tests put stand-ins in.
 *
 * @internal
 */
export interface RealServerHost {
  /** Makes the changes ({@link configureRealServer}). */
  configure(options: RealServerOptions): Promise<HostChanges>;
  /** Deletes an address setup added. */
  deleteAddress: typeof deleteAddress;
  /** Sets down a link setup brought up. */
  setLinkDown: typeof setLinkDown;
  /** Writes a sysctl's old value back. */
  writeSysctl: typeof writeSysctl;
}

const SYSTEM: RealServerHost = { configure: configureRealServer, deleteAddress, setLinkDown, writeSysctl };

/** Thrown when a state file is unsafe, malformed or for another namespace, says setup already ran or is running, or restore finds none. */
export class RealServerStateError extends StateFileError {}

const namespacePath = (netns: string | null | undefined): string => (netns === undefined || netns === null ? '/proc/self/ns/net' : resolveNetnsPath(netns));
const describeNamespace = (netns: string | null | undefined): string =>
  netns === undefined || netns === null ? 'this process’s network namespace' : `network namespace ${netns}`;

/** The state file used when none is named. */
export async function defaultStatePath(netns: string | undefined, stateDir: string): Promise<string> {
  const inode = (await stat(namespacePath(netns))).ino;
  return join(stateDir, 'realserver', `netns-${inode}.json`);
}

// ---------------------------------------------------------------------------
// Checking a state file: every field, against what setup can have written

/** Devices configureRealServer adds addresses to and brings up. */
const SETUP_DEVICES = ['lo', 'tunl0', 'ip6tnl0'];
/** The sysctls configureRealServer writes (on `all`, `default` or a device), or the kernel rewrites with them. */
const SYSCTL_KEY = /^net\/ipv4\/conf\/([^/]+)\/(arp_ignore|arp_announce|rp_filter)$/;
/** A sysctl integer as the kernel prints it (these are C ints). */
const SYSCTL_INT = /^-?[0-9]{1,10}$/;
const FINAL_FIELDS = ['format', 'version', 'netns', 'netnsInode', 'created', 'vips', 'sysctls', 'addresses', 'links'];
const PENDING_FIELDS = ['format', 'version', 'pending', 'pid', 'processStart', 'bootId', 'netns', 'netnsInode', 'created'];

/**
 * Parses and checks a state file's text: its format and version, and every
 * field against what {@link realServerSetup} can write — sysctl keys only
 * `net/ipv4/conf/{all,default,DEV}/{arp_ignore,arp_announce,rp_filter}`
 * with integer values, addresses only single-host VIPs (/32, /128) on `lo`,
 * `tunl0` or `ip6tnl0`, links only those devices. Whether `netnsInode` is
 * the namespace's is for the caller to check.
 *
 * @param text - The file's text.
 * @param path - The file, for messages.
 * @returns The record: a finished setup, or the placeholder of one that has not finished.
 * @throws RealServerStateError naming the file, the field and the value.
 */
export function parseRealServerState(text: string, path: string): RealServerState | PendingRealServerSetup {
  const bad = (what: string): RealServerStateError => new RealServerStateError(`${path} is not a valid ipvs-ts real-server state file: ${what}`, path);
  const show = (v: unknown): string => inspect(v, { breakLength: Infinity, maxStringLength: 80, maxArrayLength: 5, depth: 1 });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad(`it must hold a JSON object, got ${show(data)}`);
  const d = data as Record<string, unknown>;
  if (d.format !== FORMAT) throw bad(`format must be '${FORMAT}', got ${show(d.format)}`);
  if (d.version !== 1) throw bad(`version must be 1, got ${show(d.version)}`);
  const pending = d.pending === true;
  const allowed = pending ? PENDING_FIELDS : FINAL_FIELDS;
  for (const key of Object.keys(d)) if (!allowed.includes(key)) throw bad(`unknown field ${show(key)}`);
  for (const key of allowed) if (!(key in d)) throw bad(`field ${key} is missing`);
  // A namespace name or path as --netns takes it.
  if (d.netns !== null) {
    try {
      resolveNetnsPath(d.netns as string, 'netns');
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  if (!Number.isSafeInteger(d.netnsInode) || (d.netnsInode as number) <= 0) throw bad(`netnsInode must be a positive integer, got ${show(d.netnsInode)}`);
  if (typeof d.created !== 'string' || Number.isNaN(Date.parse(d.created))) throw bad(`created must be a date, got ${show(d.created)}`);
  if (pending) {
    if (!Number.isSafeInteger(d.pid) || (d.pid as number) <= 0) throw bad(`pid must be a positive integer, got ${show(d.pid)}`);
    if (d.processStart !== null && !(typeof d.processStart === 'string' && /^[0-9]{1,20}$/.test(d.processStart)))
      throw bad(`processStart must be a number of clock ticks (digits) or null, got ${show(d.processStart)}`);
    if (d.bootId !== null && !(typeof d.bootId === 'string' && /^[0-9a-f-]{1,64}$/.test(d.bootId))) throw bad(`bootId must be a boot id or null, got ${show(d.bootId)}`);
    return d as unknown as PendingRealServerSetup;
  }
  const list = (field: string): unknown[] => {
    if (!Array.isArray(d[field])) throw bad(`${field} must be an array, got ${show(d[field])}`);
    return d[field] as unknown[];
  };
  const fieldCheck = <T>(field: string, check: () => T): T => {
    try {
      return check();
    } catch (e) {
      throw bad(`${field}: ${(e as Error).message}`);
    }
  };
  const vips = list('vips');
  if (vips.length === 0) throw bad('vips must list at least one address');
  vips.forEach((v, i) => fieldCheck(`vips[${i}]`, () => checkAddress(v, 'the VIP')));
  list('sysctls').forEach((s, i) => {
    const field = `sysctls[${i}]`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw bad(`${field} must be an object, got ${show(s)}`);
    const r = s as Record<string, unknown>;
    for (const key of Object.keys(r)) if (!['key', 'before', 'after'].includes(key)) throw bad(`${field} has an unknown field ${show(key)}`);
    const m = typeof r.key === 'string' ? SYSCTL_KEY.exec(r.key) : null;
    const scope = m?.[1];
    if (!m || (scope !== 'all' && scope !== 'default' && !fieldCheck(`${field}.key`, () => checkIfName(scope, 'its device')))) {
      throw bad(`${field}.key must be a sysctl realserver setup changes (net/ipv4/conf/{all,default,DEVICE}/{arp_ignore,arp_announce,rp_filter}), got ${show(r.key)}`);
    }
    for (const value of ['before', 'after'] as const) {
      if (typeof r[value] !== 'string' || !SYSCTL_INT.test(r[value] as string)) throw bad(`${field}.${value} must be an integer (as text), got ${show(r[value])}`);
    }
  });
  list('addresses').forEach((a, i) => {
    const field = `addresses[${i}]`;
    if (typeof a !== 'object' || a === null || Array.isArray(a)) throw bad(`${field} must be an object, got ${show(a)}`);
    const r = a as Record<string, unknown>;
    for (const key of Object.keys(r)) if (!['dev', 'address', 'prefixLength', 'label', 'deprecated'].includes(key)) throw bad(`${field} has an unknown field ${show(key)}`);
    if (typeof r.dev !== 'string' || !SETUP_DEVICES.includes(r.dev)) throw bad(`${field}.dev must be one of ${SETUP_DEVICES.join(', ')} (where setup adds VIPs), got ${show(r.dev)}`);
    const family = fieldCheck(`${field}.address`, () => checkAddress(r.address, 'the address'));
    const host = family === 'inet' ? 32 : 128;
    if (r.prefixLength !== host) throw bad(`${field}.prefixLength must be ${host} (setup adds VIPs as single hosts), got ${show(r.prefixLength)}`);
    if (r.dev === (family === 'inet' ? 'ip6tnl0' : 'tunl0')) throw bad(`${field}: setup puts no ${family === 'inet' ? 'IPv4' : 'IPv6'} address on ${r.dev}, got ${show(r.address)}`);
    if (r.label !== undefined) {
      if (family !== 'inet') throw bad(`${field}.label: IPv6 addresses have no labels, got ${show(r.label)}`);
      fieldCheck(`${field}.label`, () => checkLabel(r.label, r.dev as string));
    }
    if (r.deprecated !== undefined && (family !== 'inet6' || typeof r.deprecated !== 'boolean'))
      throw bad(`${field}.deprecated must be true or false, and only on an IPv6 address, got ${show(r.deprecated)}`);
  });
  list('links').forEach((l, i) => {
    if (typeof l !== 'string' || !SETUP_DEVICES.includes(l)) throw bad(`links[${i}] must be one of ${SETUP_DEVICES.join(', ')} (the devices setup brings up), got ${show(l)}`);
  });
  return d as unknown as RealServerState;
}

// ---------------------------------------------------------------------------
// Who holds a placeholder

/** `/proc/PID/stat` field 22, the start time in clock ticks; undefined when it cannot be read (no such process). */
async function processStart(pid: number | 'self'): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and ')': count from the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function bootId(): Promise<string | null> {
  return readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (t) => t.trim(),
    () => null,
  );
}

/** Whether the setup that wrote `p` may still be running: same boot, its pid alive and started when it did. */
async function setupAlive(p: PendingRealServerSetup): Promise<boolean> {
  const boot = await bootId();
  if (p.bootId !== null && boot !== null && p.bootId !== boot) return false;
  try {
    process.kill(p.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (p.processStart === null) return true;
  const start = await processStart(p.pid);
  return start === undefined || start === p.processStart;
}

const setupBy = (p: PendingRealServerSetup): string => `\`ipvs-ts realserver setup\` (pid ${p.pid}, started ${p.created})`;

function stalePlaceholder(path: string, p: PendingRealServerSetup, removed: boolean): RealServerStateError {
  return new RealServerStateError(
    `${path}: a ${setupBy(p)} stopped before it recorded what it changed (killed, or the machine went down), so nothing can be put back from it. ` +
      `Check arp_ignore, arp_announce and rp_filter under net.ipv4.conf and the VIPs on lo (and tunl0, ip6tnl0) of ${describeNamespace(p.netns)} by hand; ` +
      (removed ? 'the placeholder has been removed, so setup can run again.' : 'then run `ipvs-ts realserver restore`, which removes the placeholder.'),
    path,
  );
}

/** Why a setup cannot claim `path`: what is there, in words. */
async function explainExisting(path: string): Promise<RealServerStateError> {
  const text = await readStateFile(path, { maxBytes: MAX_STATE_BYTES });
  if (text === undefined) return new RealServerStateError(`${path} was there a moment ago and is gone: another setup or restore is running; try again`, path);
  const state = parseRealServerState(text, path);
  if (!('pending' in state)) return new RealServerStateError(`${path} exists: this namespace is set up already (run \`ipvs-ts realserver restore\` first)`, path);
  if (await setupAlive(state)) return new RealServerStateError(`${path}: another ${setupBy(state)} is running for this namespace; try again once it has finished`, path);
  return stalePlaceholder(path, state, false);
}

// ---------------------------------------------------------------------------
// Setup and restore

/**
 * Runs {@link configureRealServer} and records its changes in `statePath`.
 *
 * The file is claimed first: created exclusively as a pending placeholder
 * (pid, start time, boot), so a second setup at the same time fails at once,
 * saying who holds it; a setup that exists already is refused. The finished
 * record replaces the placeholder whole. If setup fails, the placeholder is
 * removed; if the record cannot be written, the changes are undone.
 *
 * @throws RealServerStateError when the file exists (set up already, a setup running or one that died) or is unsafe.
 */
export async function realServerSetup(
  options: {
    vips: string[];
    interfaces: string[];
    tunnel: boolean;
    netns?: string;
    statePath: string;
  },
  host: RealServerHost = SYSTEM,
): Promise<RealServerState> {
  const { statePath } = options;
  const netnsInode = (await stat(namespacePath(options.netns))).ino;
  const netns = options.netns ?? null;
  const placeholder: PendingRealServerSetup = {
    format: FORMAT,
    version: 1,
    pending: true,
    pid: process.pid,
    processStart: (await processStart('self')) ?? null,
    bootId: await bootId(),
    netns,
    netnsInode,
    created: new Date().toISOString(),
  };
  if (!(await createStateFile(statePath, JSON.stringify(placeholder, null, 2) + '\n'))) throw await explainExisting(statePath);
  let changes: HostChanges;
  try {
    changes = await host.configure({
      vips: options.vips,
      interfaces: options.interfaces,
      tunnel: options.tunnel,
      ...(options.netns === undefined ? {} : { netns: options.netns }),
    });
  } catch (e) {
    await removeStateFile(statePath).catch(() => undefined);
    throw e;
  }
  const state: RealServerState = {
    format: FORMAT,
    version: 1,
    netns,
    netnsInode,
    created: placeholder.created,
    vips: options.vips,
    sysctls: changes.sysctls,
    addresses: changes.addresses,
    links: changes.links,
  };
  try {
    await writeStateFile(statePath, JSON.stringify(state, null, 2) + '\n');
  } catch (e) {
    // Unrecorded changes could never be put back: undo them now.
    await changes.restore().catch(() => undefined);
    await removeStateFile(statePath).catch(() => undefined);
    throw e;
  }
  return state;
}

/**
 * Puts back what the setup recorded in `statePath` changed, in reverse:
 * addresses deleted, links set down, sysctls set to their old values. Every
 * step is tried; the file is removed only when all succeeded.
 *
 * Nothing is changed unless the file is safe (lib/state-file.ts), every
 * field is one setup can have written ({@link parseRealServerState}), and
 * its `netnsInode` is the inode of the namespace acted in — `options.netns`
 * when given, else the one recorded. A placeholder of a setup still running
 * is refused; one whose setup died is removed, with an error that says so.
 *
 * @returns The state that was undone and the failures, in words.
 * @throws RealServerStateError when there is nothing to restore or the file is refused.
 */
export async function realServerRestore(
  statePath: string,
  options: { netns?: string } = {},
  host: RealServerHost = SYSTEM,
): Promise<{ state: RealServerState; failures: string[] }> {
  const text = await readStateFile(statePath, { maxBytes: MAX_STATE_BYTES });
  if (text === undefined) throw new RealServerStateError(`${statePath} does not exist: nothing to restore`, statePath);
  const state = parseRealServerState(text, statePath);
  if ('pending' in state) {
    if (await setupAlive(state)) throw new RealServerStateError(`${statePath}: a ${setupBy(state)} is still running; restore once it has finished`, statePath);
    await removeStateFile(statePath);
    throw stalePlaceholder(statePath, state, true);
  }
  const netns = options.netns ?? state.netns ?? undefined;
  let inode: number;
  try {
    inode = (await stat(namespacePath(netns))).ino;
  } catch (e) {
    throw new RealServerStateError(`${statePath}: cannot find ${describeNamespace(netns)} it was made for: ${(e as Error).message}`, statePath);
  }
  if (inode !== state.netnsInode) {
    throw new RealServerStateError(
      `${statePath}: netnsInode ${state.netnsInode} is not the inode of ${describeNamespace(netns)} (${inode}): ` +
        'the namespace was deleted and made again since setup, or the file belongs to another one; nothing was changed',
      statePath,
    );
  }
  const ns = netns === undefined ? {} : { netns };
  const failures: string[] = [];
  const attempt = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    try {
      await work();
    } catch (e) {
      failures.push(`${what}: ${(e as Error).message}`);
    }
  };
  for (const a of [...state.addresses].reverse())
    await attempt(`delete ${a.address}/${a.prefixLength} from ${a.dev}`, () => host.deleteAddress({ ...a, ...ns, exist: 'ok' }));
  for (const dev of [...state.links].reverse()) await attempt(`set ${dev} down`, () => host.setLinkDown(dev, ns));
  for (const s of [...state.sysctls].reverse()) await attempt(`set ${s.key} back to ${s.before}`, () => host.writeSysctl(s.key, s.before, ns));
  if (failures.length === 0) await removeStateFile(statePath);
  return { state, failures };
}
