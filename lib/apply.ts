/**
 * Declarative apply: bring the kernel's IPVS table to a desired state with
 * the fewest changes, edits made in place, and deletions limited by an
 * ownership record kept outside the kernel.
 *
 * ```ts
 * const plan = await ipvs.apply({ owner: 'web', services: [
 *   { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc',
 *     destinations: [{ address: '10.0.0.2', weight: 1000 }, { address: '10.0.0.3', weight: 500 }] },
 * ] }, { prune: 'owned' });
 * ```
 *
 * See docs/apply.md for the ownership record and the guarantees.
 *
 * @module
 */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';

import { describeDestination, describeServiceKey, destinationPort, isFwmarkKey, serviceKeyFamily, serviceKeyId } from './convert.js';
import { canonicalAddress } from './address.js';
import type { IpvsError } from './errors.js';
import { netmaskValue, schedFlagBits } from './convert.js';
import { Pacer } from './pace.js';
import { StateFileError, readStateFile, removeStateFile, writeStateFile } from './state-file.js';
import type {
  BatchOp,
  BatchResult,
  Destination,
  DestinationKey,
  DestinationSpec,
  Family,
  Forwarding,
  Service,
  ServiceKey,
  ServiceSpec,
  ServiceWithDestinations,
  SnapshotOptions,
} from './types.js';
import { validateDestinationSpec, validateServiceKey, validateServiceSpec } from './validate.js';

/**
 * What {@link applyDesired} needs of a handle: an {@link Ipvs} is one. Apply
 * reads the table, sends batches and keys its ownership record by the
 * handle's namespace; nothing else.
 */
export interface ApplyTarget {
  /** The namespace path the handle was opened with, if any. */
  readonly netnsPath: string | undefined;
  /** The inode of the namespace the handle's socket lives in (0 when unknown). */
  readonly netnsInode: number;
  /** The whole table, as {@link Ipvs.snapshot} reads it. */
  snapshot(options?: SnapshotOptions): Promise<ServiceWithDestinations[]>;
  /** Changes sent in order, one outcome each, as {@link Ipvs.batch} sends them. */
  batch(ops: readonly BatchOp[]): Promise<BatchResult[]>;
}

/** Which entries an apply may delete when the desired state leaves them out. */
export type PruneMode = 'none' | 'owned' | 'all';

/**
 * One real server of a desired service: a {@link DestinationSpec}, where
 * forwarding `'local'` (what the kernel reports for a real server on a local
 * address, whatever was asked) means the default, so that a destination read
 * back is a valid desired one.
 */
export type DesiredDestination = Omit<DestinationSpec, 'forwarding'> & {
  /** Forwarding method; `'local'` means the default (`'route'`). */
  forwarding?: Forwarding | 'local';
};

/**
 * One virtual service of a desired state: its settings (left-out settings
 * mean their defaults, as for {@link Ipvs.updateService}) and its complete
 * list of real servers. A service read back by {@link Ipvs.snapshot} (or
 * printed by `ipvs-ts list --json`) is a valid desired service: counters and
 * connection counts are ignored.
 */
export type DesiredService = ServiceSpec & {
  /** Every real server the service should have; default none. */
  destinations?: readonly DesiredDestination[];
};

/** A whole desired table. */
export interface DesiredState {
  /** Owner name for the ownership record; {@link ApplyOptions.owner} wins over it. */
  owner?: string;
  /** The services, each at most once. */
  services: readonly DesiredService[];
}

/** Options of {@link applyDesired} and {@link Ipvs.apply}. */
export interface ApplyOptions {
  /** Compute and return the plan without changing the kernel or the ownership record. */
  dryRun?: boolean;
  /**
   * What to delete of the kernel's entries (services, and real servers of
   * kept services) that the desired state leaves out: `'none'` nothing,
   * `'owned'` (default) only those applies of the same owner created in
   * this network namespace, `'all'` every one.
   */
  prune?: PruneMode;
  /** Owner name (letters, digits, `_ . @ -`, up to 64); default the desired state's, else `'default'`. */
  owner?: string;
  /**
   * Folder of the ownership records; default `$IPVS_TS_STATE_DIR`, else
   * `/run/ipvs-ts`. It and every folder above it must be owned by root or
   * the caller and writable by no one else (root-owned sticky folders such
   * as `/tmp` aside); see docs/apply.md.
   */
  stateDir?: string;
  /** Called after each chunk of operations the kernel answered: `done` of `total` (a later round adds its steps to both). */
  onProgress?(done: number, total: number): void;
}

/** A setting an update changes. */
export interface ApplyChange {
  /** `scheduler`, `persistence`, `onePacket`, `schedulerFlags`, `persistenceEngine`, `forwarding`, `weight`, `upperThreshold`, `lowerThreshold` or `tunnel`. */
  field: string;
  /** The kernel's value, `undefined` when unset. */
  from: unknown;
  /** The desired value, `undefined` when unset. */
  to: unknown;
}

/** One change of a plan, with its outcome. */
export interface ApplyStep {
  /** What the step does. */
  action: 'create' | 'update' | 'delete';
  /** What it does it to. */
  target: 'service' | 'destination';
  /** The service (for a destination, the one it belongs to). */
  service: ServiceKey;
  /** The destination, for destination steps. */
  destination?: DestinationKey;
  /** The operation sent (or to be sent) through {@link Ipvs.batch}. */
  op: BatchOp;
  /** For updates: what differs. */
  changes?: ApplyChange[];
  /** `'planned'` in a dry run; `'done'` or `'failed'` once the kernel answered. */
  status: 'planned' | 'done' | 'failed';
  /** The kernel's refusal, for failed steps. */
  error?: IpvsError;
}

/** An entry the desired state leaves out that the apply did not delete, and why. */
export interface ApplyKept {
  /** The service concerned. */
  service: ServiceKey;
  /** The real server concerned, when the entry is one. */
  destination?: DestinationKey;
  /** Why it was kept, in words. */
  reason: string;
}

/** What {@link applyDesired} did or, in a dry run, would do. */
export interface ApplyPlan {
  /** Whose desired state this was (the ownership record's name). */
  owner: string;
  /** The prune mode used. */
  prune: PruneMode;
  /** True when nothing was sent. */
  dryRun: boolean;
  /**
   * In the order sent: service creations and updates, destination
   * deletions, destination creations and updates, service deletions — the
   * first round's, then those of any later round (see `rounds`).
   */
  steps: ApplyStep[];
  /** Left-out entries kept by the prune mode that still deserve a word (owned services holding foreign real servers). */
  kept: ApplyKept[];
  /** True when every step succeeded (always true in a dry run). */
  ok: boolean;
  /** The ownership record used. */
  statePath: string;
  /**
   * Read–plan–send rounds run: 1, unless steps met a change someone else
   * made meanwhile (a creation refused with `EEXIST`, an update or deletion
   * with `ESRCH`/`ENOENT`); then the table is read again and what is left
   * planned again, up to 3 rounds.
   */
  rounds: number;
  /** The steps that met such a change and were planned again from a fresh read (not counted in `ok`). */
  retried: ApplyStep[];
}

const PRUNE_MODES: readonly PruneMode[] = ['none', 'owned', 'all'];
const OWNER_NAME = /^[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}$/;
const CHUNK = 1000;
const STATE_FORMAT = 'ipvs-ts/apply-ownership';
/** Rounds of read, plan, send an apply runs at most when others change the table meanwhile. */
const MAX_ROUNDS = 3;
/** The largest ownership record read (about 1.4 million claims). */
const RECORD_MAX_BYTES = 64 << 20;
// ---------------------------------------------------------------------------
// Normal forms: what "equal" means between a desired entry and the kernel's

interface ServiceSettings {
  scheduler: string;
  persistence: { timeout: number; netmask: number } | undefined;
  onePacket: boolean;
  schedulerFlags: number;
  persistenceEngine: string | undefined;
}

function serviceSettings(s: ServiceSpec | Service, family: Family): ServiceSettings {
  return {
    scheduler: s.scheduler ?? 'wlc',
    persistence: s.persistence && { timeout: s.persistence.timeout, netmask: netmaskValue(family, s.persistence.netmask) },
    onePacket: s.onePacket === true,
    schedulerFlags: schedFlagBits(s.schedulerFlags),
    persistenceEngine: s.persistenceEngine,
  };
}

function serviceChanges(want: ServiceSpec, have: Service): ApplyChange[] {
  const family = serviceKeyFamily(want);
  const w = serviceSettings(want, family);
  const h = serviceSettings(have, family);
  const out: ApplyChange[] = [];
  if (w.scheduler !== h.scheduler) out.push({ field: 'scheduler', from: h.scheduler, to: w.scheduler });
  if (w.persistence?.timeout !== h.persistence?.timeout || w.persistence?.netmask !== h.persistence?.netmask)
    out.push({ field: 'persistence', from: have.persistence, to: want.persistence });
  if (w.onePacket !== h.onePacket) out.push({ field: 'onePacket', from: h.onePacket, to: w.onePacket });
  if (w.schedulerFlags !== h.schedulerFlags) out.push({ field: 'schedulerFlags', from: have.schedulerFlags, to: want.schedulerFlags });
  if (w.persistenceEngine !== h.persistenceEngine) out.push({ field: 'persistenceEngine', from: h.persistenceEngine, to: w.persistenceEngine });
  return out;
}

function tunnelOf(d: DestinationSpec): { type: string; port: number; checksum: string } | undefined {
  if ((d.forwarding ?? 'route') !== 'tunnel') return undefined;
  const type = d.tunnel?.type ?? 'ipip';
  return { type, port: type === 'gue' ? (d.tunnel?.port ?? 0) : 0, checksum: type === 'ipip' ? 'nocsum' : (d.tunnel?.checksum ?? 'nocsum') };
}

function destinationChanges(want: DestinationSpec, have: Destination): ApplyChange[] {
  const out: ApplyChange[] = [];
  const forwarding = want.forwarding ?? 'route';
  // The kernel marks a real server on a local address 'local' whatever was asked; nothing to edit.
  if (have.forwarding !== 'local' && forwarding !== have.forwarding) out.push({ field: 'forwarding', from: have.forwarding, to: forwarding });
  const num = (field: 'weight' | 'upperThreshold' | 'lowerThreshold', dflt: number): void => {
    const w = want[field] ?? dflt;
    if (w !== have[field]) out.push({ field, from: have[field], to: w });
  };
  num('weight', 1);
  num('upperThreshold', 0);
  num('lowerThreshold', 0);
  const wt = tunnelOf(want);
  // Kernels before 5.2 report no tunnel settings: nothing to compare then.
  if (wt && have.forwarding === 'tunnel' && have.tunnel) {
    const ht = have.tunnel;
    if (wt.type !== ht.type || wt.port !== (ht.type === 'gue' ? ht.port : 0) || (wt.type !== 'ipip' && wt.checksum !== ht.checksum))
      out.push({ field: 'tunnel', from: ht, to: want.tunnel ?? { type: 'ipip' } });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Identity

const keyOf = (s: ServiceKey): ServiceKey =>
  isFwmarkKey(s) ? { fwmark: s.fwmark, family: s.family ?? 'inet' } : { protocol: s.protocol, address: canonicalAddress(s.address) ?? s.address, port: s.port };

const destId = (address: string, port: number): string => describeDestination(canonicalAddress(address) ?? address, port);

/** Only the settings, so an op never carries counters read back. */
function cleanService(s: DesiredService): ServiceSpec {
  const spec: ServiceSpec = { ...keyOf(s) };
  if (s.scheduler !== undefined) spec.scheduler = s.scheduler;
  if (s.persistence !== undefined) spec.persistence = s.persistence;
  if (s.onePacket !== undefined) spec.onePacket = s.onePacket;
  if (s.schedulerFlags !== undefined) spec.schedulerFlags = s.schedulerFlags;
  if (s.persistenceEngine !== undefined) spec.persistenceEngine = s.persistenceEngine;
  return spec;
}

function cleanDestination(d: DestinationSpec, service: ServiceKey): DestinationSpec & { port: number } {
  const spec: DestinationSpec & { port: number } = { address: canonicalAddress(d.address) ?? d.address, port: destinationPort(d.port, service) };
  if (d.forwarding !== undefined) spec.forwarding = d.forwarding;
  if (d.weight !== undefined) spec.weight = d.weight;
  if (d.upperThreshold !== undefined) spec.upperThreshold = d.upperThreshold;
  if (d.lowerThreshold !== undefined) spec.lowerThreshold = d.lowerThreshold;
  if (d.tunnel !== undefined) spec.tunnel = d.tunnel;
  return spec;
}

interface NormalDesired {
  id: string;
  key: ServiceKey;
  spec: ServiceSpec;
  destinations: Map<string, DestinationSpec & { port: number }>;
}

/**
 * Validates the desired state and indexes it, a slice at a time. Without
 * `problems` the first problem throws (TypeError/RangeError naming
 * `services[i]…`); with it, each problem is noted and the walk goes on with
 * the next service or destination (a service whose key is unusable has its
 * destinations left unchecked: their rules depend on it).
 */
async function normalizeDesired(
  services: readonly DesiredService[],
  pace: Pacer,
  problems?: DesiredStateProblem[],
): Promise<Map<string, NormalDesired>> {
  const note = (e: unknown): void => {
    if (!problems || !(e instanceof TypeError || e instanceof RangeError)) throw e;
    problems.push({ field: /^[^\s]+/.exec(e.message)?.[0] ?? 'services', message: e.message });
  };
  const out = new Map<string, NormalDesired>();
  if (!Array.isArray(services)) {
    note(new TypeError(`services must be an array, got ${inspect(services)}`));
    return out;
  }
  for (let i = 0; i < services.length; i++) {
    if (pace.due()) await pace.yield();
    const s = services[i] as DesiredService;
    const field = `services[${i}]`;
    const destinationsField = `${field}.destinations`;
    let key: ServiceKey;
    let serviceOk = true;
    try {
      validateServiceSpec(s, 'services', i);
      key = keyOf(s);
    } catch (e) {
      note(e);
      serviceOk = false;
      // Check mode: the destinations can still be checked against a usable key.
      try {
        if (typeof s !== 'object' || s === null) continue;
        key = keyOf(s);
        validateServiceKey(key, field);
      } catch {
        continue;
      }
    }
    const id = serviceKeyId(key);
    if (out.has(id)) note(new TypeError(`${field} repeats service ${id}`));
    const list = (s as DesiredService).destinations ?? [];
    const destinations = new Map<string, DestinationSpec & { port: number }>();
    if (!Array.isArray(list)) {
      note(new TypeError(`${destinationsField} must be an array`));
      continue;
    }
    for (let j = 0; j < list.length; j++) {
      if (pace.due()) await pace.yield();
      const given = list[j] as DesiredDestination;
      let d = given as DestinationSpec;
      if (typeof given === 'object' && given !== null && given.forwarding === 'local') {
        const { forwarding: _local, ...rest } = given;
        d = rest;
      }
      try {
        validateDestinationSpec(d, key, destinationsField, j);
      } catch (e) {
        note(e);
        continue;
      }
      const clean = cleanDestination(d, key);
      const did = destId(clean.address, clean.port);
      if (destinations.has(did)) note(new TypeError(`${destinationsField}[${j}] repeats destination ${did}`));
      destinations.set(did, clean);
    }
    if (serviceOk && !out.has(id)) out.set(id, { id, key, spec: cleanService(s), destinations });
  }
  return out;
}

/** One problem of a desired state: the field it is about and what is wrong, in the words apply would throw. */
export interface DesiredStateProblem {
  /** The field path, such as `services[2].destinations[0].weight`. */
  field: string;
  /** The whole message, starting with the field path. */
  message: string;
}

/**
 * Checks a desired state without a kernel, as {@link applyDesired} would
 * before sending anything, and returns every problem found (none: `[]`):
 * each service and each destination is checked on its own, so one bad entry
 * does not hide the next. `ipvs-ts check FILE` prints these.
 *
 * @param desired - The whole desired table, or just its services.
 * @param options - The owner to check in place of the state's own.
 * @returns The problems, in the order of the input.
 */
export async function checkDesiredState(
  desired: DesiredState | readonly DesiredService[],
  options: Pick<ApplyOptions, 'owner'> = {},
): Promise<DesiredStateProblem[]> {
  const problems: DesiredStateProblem[] = [];
  if (!Array.isArray(desired) && (typeof desired !== 'object' || desired === null)) {
    return [{ field: 'desired', message: `desired must be an array of services or { owner?, services }, got ${inspect(desired)}` }];
  }
  const owner = options.owner ?? (Array.isArray(desired) ? undefined : (desired as DesiredState).owner);
  if (owner !== undefined && (typeof owner !== 'string' || !OWNER_NAME.test(owner))) {
    problems.push({ field: 'owner', message: ownerMessage(owner) });
  }
  const services = Array.isArray(desired) ? (desired as readonly DesiredService[]) : (desired as DesiredState).services;
  await normalizeDesired(services, new Pacer(), problems);
  return problems;
}

function ownerMessage(owner: unknown): string {
  return `owner must be 1–64 letters, digits or '_ . @ -' (not starting with '.'), got ${JSON.stringify(owner)}`;
}

// ---------------------------------------------------------------------------
// The ownership record

interface OwnershipFile {
  format: typeof STATE_FORMAT;
  version: 1;
  owner: string;
  netnsInode: number;
  updated: string;
  /** Service ids (`tcp 10.0.0.1:80`) this owner created. */
  services: string[];
  /** `service id -> destination id` this owner created. */
  destinations: string[];
}

const RECORD_FIELDS = ['format', 'version', 'owner', 'netnsInode', 'updated', 'services', 'destinations'];
const CLAIM_ARROW = ' -> ';
const SERVICE_ID = /^(?:(?:tcp|udp|sctp) (?:([0-9.]+)|\[([0-9a-f:.]+)\]):(0|[1-9][0-9]{0,4})|fwmark ([1-9][0-9]{0,9})(?: inet6)?)$/;
const DESTINATION_ID = /^(?:([0-9.]+)|\[([0-9a-f:.]+)\]):(0|[1-9][0-9]{0,4})$/;

/** An address as ids carry it: canonical, IPv6 in brackets. */
const idAddress = (v4: string | undefined, v6: string | undefined): boolean =>
  v4 !== undefined ? canonicalAddress(v4) === v4 && !v4.includes(':') : v6 !== undefined && v6.includes(':') && canonicalAddress(v6) === v6;

/** Whether `id` is a service id exactly as {@link serviceKeyId} writes one. */
function wellFormedServiceId(id: string): boolean {
  const m = SERVICE_ID.exec(id);
  if (!m) return false;
  if (m[4] !== undefined) return Number(m[4]) <= 0xffffffff;
  return idAddress(m[1], m[2]) && Number(m[3]) <= 65535;
}

/** Whether `id` is a destination id exactly as the record writes one. */
function wellFormedDestinationId(id: string): boolean {
  const m = DESTINATION_ID.exec(id);
  return m !== null && idAddress(m[1], m[2]) && Number(m[3]) <= 65535;
}

/**
 * Parses a record laid out as `JSON.stringify(record, null, 2)` writes it
 * (as every ipvs-ts writes it), a slice at a time: one JSON.parse of a
 * record of 100 000 claims would hold the event loop for tens of ms.
 * Returns undefined for text laid out otherwise (then it is parsed whole).
 */
async function parseRecordLayout(text: string, pace: Pacer): Promise<Record<string, unknown> | undefined> {
  let pos = 0;
  const nextLine = (): string | undefined => {
    if (pos >= text.length) return undefined;
    const end = text.indexOf('\n', pos);
    const line = text.slice(pos, end < 0 ? text.length : end);
    pos = end < 0 ? text.length : end + 1;
    return line;
  };
  const json = (value: string): { ok: boolean; value?: unknown } => {
    try {
      return { ok: true, value: JSON.parse(value) };
    } catch {
      return { ok: false };
    }
  };
  if (nextLine() !== '{') return undefined;
  // No prototype: a key "__proto__" is a field like any other, as JSON.parse makes it.
  const out = Object.create(null) as Record<string, unknown>;
  for (let last = false; !last; ) {
    const m = /^ {2}("(?:[^"\\]|\\.)*"): (.*?)(,?)$/.exec(nextLine() ?? '');
    if (!m) return undefined;
    const key = json(m[1]!).value as string;
    if (m[2] !== '[') {
      if (m[2]!.startsWith('{')) return undefined;
      const scalar = json(m[2]!);
      if (!scalar.ok) return undefined;
      out[key] = scalar.value;
      last = m[3] === '';
      continue;
    }
    if (m[3] !== '') return undefined;
    const items: unknown[] = [];
    let comma = false;
    for (;;) {
      if (pace.due()) await pace.yield();
      const line = nextLine();
      if (line === undefined) return undefined;
      const close = /^ {2}\](,?)$/.exec(line);
      if (close) {
        if (comma) return undefined;
        last = close[1] === '';
        break;
      }
      const im = /^ {4}(.*?)(,?)$/.exec(line);
      if (!im || (items.length > 0 && !comma)) return undefined;
      const item = json(im[1]!);
      if (!item.ok || typeof item.value === 'object') return undefined;
      items.push(item.value);
      comma = im[2] === ',';
    }
    out[key] = items;
  }
  if (nextLine() !== '}') return undefined;
  const rest = text.slice(pos);
  return rest === '' || rest === '\n' ? out : undefined;
}

/**
 * What one owner created in one network namespace, as its record says:
 * service ids, and destination ids by service id (so that releasing a
 * service drops its real servers in one step, and pruning is linear).
 */
class Ownership {
  readonly #services = new Set<string>();
  readonly #destinations = new Map<string, Set<string>>();
  /** Changed since loaded or saved: the record is written only then. */
  #dirty = false;

  private constructor(
    readonly path: string,
    readonly owner: string,
    readonly inode: number,
  ) {}

  /**
   * Reads the record of `owner` in the namespace `inode`, checked as
   * lib/state-file.ts says and validated field by field; none is no claims.
   */
  static async load(stateDir: string, owner: string, inode: number, pace: Pacer): Promise<Ownership> {
    const path = join(stateDir, 'apply', `netns-${inode}`, `${owner}.json`);
    const ownership = new Ownership(path, owner, inode);
    const text = await readStateFile(path, { maxBytes: RECORD_MAX_BYTES });
    if (text === undefined) return ownership;
    const bad = (what: string): StateFileError => new StateFileError(`${path} is not an ipvs-ts ownership record: ${what}`, path);
    const show = (v: unknown): string => inspect(v, { breakLength: Infinity, maxStringLength: 120, maxArrayLength: 3, depth: 0 });
    let data = await parseRecordLayout(text, pace);
    if (data === undefined) {
      try {
        data = JSON.parse(text) as Record<string, unknown>;
      } catch (e) {
        throw bad((e as Error).message);
      }
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw bad(`it must hold a JSON object, got ${show(data)}`);
    }
    if (data.format !== STATE_FORMAT) throw bad(`format must be '${STATE_FORMAT}', got ${show(data.format)}`);
    if (data.version !== 1) throw bad(`version must be 1, got ${show(data.version)}`);
    for (const key of Object.keys(data)) if (!RECORD_FIELDS.includes(key)) throw bad(`unknown field ${show(key)}`);
    if (data.owner !== owner) throw bad(`owner must be '${owner}' (the file's name), got ${show(data.owner)}`);
    if (data.netnsInode !== inode) throw bad(`netnsInode must be ${inode} (the namespace its folder is for), got ${show(data.netnsInode)}`);
    if (typeof data.updated !== 'string' || Number.isNaN(Date.parse(data.updated))) throw bad(`updated must be a date, got ${show(data.updated)}`);
    const { services, destinations } = data;
    if (!Array.isArray(services)) throw bad(`services must be an array, got ${show(services)}`);
    if (!Array.isArray(destinations)) throw bad(`destinations must be an array, got ${show(destinations)}`);
    for (let i = 0; i < services.length; i++) {
      if (pace.due()) await pace.yield();
      const id: unknown = services[i];
      if (typeof id !== 'string' || !wellFormedServiceId(id))
        throw bad(`services[${i}] must be a service id such as 'tcp 10.0.0.1:80', 'udp [2001:db8::1]:53' or 'fwmark 7', got ${show(id)}`);
      ownership.#services.add(id);
    }
    for (let i = 0; i < destinations.length; i++) {
      if (pace.due()) await pace.yield();
      const claim: unknown = destinations[i];
      const arrow = typeof claim === 'string' ? claim.lastIndexOf(CLAIM_ARROW) : -1;
      const sid = arrow < 0 ? '' : (claim as string).slice(0, arrow);
      const did = arrow < 0 ? '' : (claim as string).slice(arrow + CLAIM_ARROW.length);
      if (!wellFormedServiceId(sid) || !wellFormedDestinationId(did))
        throw bad(`destinations[${i}] must be 'SERVICE -> ADDRESS:PORT' such as 'tcp 10.0.0.1:80 -> 10.0.0.2:80', got ${show(claim)}`);
      ownership.#add(sid, did);
    }
    return ownership;
  }

  #add(sid: string, did: string): boolean {
    let dids = this.#destinations.get(sid);
    if (!dids) this.#destinations.set(sid, (dids = new Set()));
    if (dids.has(did)) return false;
    dids.add(did);
    return true;
  }

  ownsService(sid: string): boolean {
    return this.#services.has(sid);
  }

  ownsDestination(sid: string, did: string): boolean {
    return this.#destinations.get(sid)?.has(did) === true;
  }

  /** Whether the entry of a step is claimed. */
  owns(p: { sid: string; did?: string }): boolean {
    return p.did === undefined ? this.ownsService(p.sid) : this.ownsDestination(p.sid, p.did);
  }

  claim(p: { sid: string; did?: string }): void {
    if (p.did === undefined) {
      if (this.#services.has(p.sid)) return;
      this.#services.add(p.sid);
      this.#dirty = true;
    } else if (this.#add(p.sid, p.did)) this.#dirty = true;
  }

  /**
   * Drops a claim. With `withDestinations`, a service's real servers go
   * with it (it was deleted); without, they stay (its creation was refused,
   * and each of its real servers has its own outcome).
   */
  release(p: { sid: string; did?: string }, options: { withDestinations?: boolean } = {}): void {
    if (p.did === undefined) {
      if (this.#services.delete(p.sid)) this.#dirty = true;
      if (options.withDestinations && this.#destinations.delete(p.sid)) this.#dirty = true;
      return;
    }
    const dids = this.#destinations.get(p.sid);
    if (!dids?.delete(p.did)) return;
    if (dids.size === 0) this.#destinations.delete(p.sid);
    this.#dirty = true;
  }

  /**
   * Drops the claims of entries the kernel does not have (deleted by hand,
   * or never created by an interrupted apply), except those the desired
   * state names: they are about to be created, and claimed again.
   */
  async forgetMissing(have: ReadonlyMap<string, HaveService>, want: ReadonlyMap<string, NormalDesired>, pace: Pacer): Promise<void> {
    for (const sid of this.#services) {
      if (pace.due()) await pace.yield();
      if (!have.has(sid) && !want.has(sid)) this.release({ sid }, { withDestinations: true });
    }
    for (const [sid, dids] of this.#destinations) {
      const kernel = have.get(sid);
      const current = kernel && destinationsById(kernel.service);
      const wanted = want.get(sid)?.destinations;
      for (const did of dids) {
        if (pace.due()) await pace.yield();
        if (!current?.has(did) && !wanted?.has(did)) this.release({ sid, did });
      }
    }
  }

  /** The record's text in chunks, laid out as `JSON.stringify(record, null, 2)` would, built a slice at a time. */
  async *#chunks(pace: Pacer): AsyncGenerator<string> {
    const head: Omit<OwnershipFile, 'services' | 'destinations'> = {
      format: STATE_FORMAT,
      version: 1,
      owner: this.owner,
      netnsInode: this.inode,
      updated: new Date().toISOString(),
    };
    let out = JSON.stringify(head, null, 2).slice(0, -2) + ',\n';
    const list = async function* (name: string, last: boolean, items: Iterable<string>): AsyncGenerator<string> {
      let first = true;
      for (const item of items) {
        out += `${first ? `  "${name}": [\n` : ',\n'}    ${JSON.stringify(item)}`;
        first = false;
        if (out.length >= 1 << 16) {
          yield out;
          out = '';
        }
        if (pace.due()) await pace.yield();
      }
      out += `${first ? `  "${name}": []` : '\n  ]'}${last ? '\n' : ',\n'}`;
    };
    const sorted = [...this.#services].sort();
    yield* list('services', false, sorted);
    const destinations = this.#destinations;
    yield* list(
      'destinations',
      true,
      (function* () {
        for (const sid of [...destinations.keys()].sort()) for (const did of [...destinations.get(sid)!].sort()) yield `${sid}${CLAIM_ARROW}${did}`;
      })(),
    );
    yield `${out}}\n`;
  }

  /** Writes the record when it changed, whole (lib/state-file.ts); removes it when nothing is owned. */
  async save(pace: Pacer): Promise<void> {
    if (!this.#dirty) return;
    if (this.#services.size === 0 && this.#destinations.size === 0) await removeStateFile(this.path);
    else await writeStateFile(this.path, this.#chunks(pace));
    this.#dirty = false;
  }
}

/** The inode keying the record: the handle's socket's own namespace, else (unknown there) the file it was opened by. */
async function namespaceInode(ipvs: ApplyTarget): Promise<number> {
  const fromSocket = ipvs.netnsInode;
  if (Number.isSafeInteger(fromSocket) && fromSocket > 0) return fromSocket;
  return (await stat(ipvs.netnsPath ?? '/proc/self/ns/net')).ino;
}

// ---------------------------------------------------------------------------
// The plan

/** A kernel service with its key. */
interface HaveService {
  service: ServiceWithDestinations;
  key: ServiceKey;
}

/**
 * A kernel service's real servers by destination id. Made when needed and
 * dropped soon after, not kept for the whole table: 100 000 ids that
 * outlive a few turns make every young-generation GC pause longer.
 */
function destinationsById(service: ServiceWithDestinations): Map<string, Destination> {
  const out = new Map<string, Destination>();
  for (const d of service.destinations) out.set(destId(d.address, d.port), d);
  return out;
}

/** A step with the ids of what it changes. */
interface Planned {
  step: ApplyStep;
  sid: string;
  did?: string;
}

function step(
  action: ApplyStep['action'],
  target: ApplyStep['target'],
  service: ServiceKey,
  op: BatchOp,
  extra: { destination?: DestinationKey; changes?: ApplyChange[] } = {},
): ApplyStep {
  const s: ApplyStep = { action, target, service, op, status: 'planned' };
  if (extra.destination) s.destination = extra.destination;
  if (extra.changes) s.changes = extra.changes;
  return s;
}

/** Names a step across rounds: its action on its entry. */
const stepName = (p: Planned): string => `${p.step.action} ${p.sid}${p.did === undefined ? '' : CLAIM_ARROW + p.did}`;

async function indexTable(table: readonly ServiceWithDestinations[], pace: Pacer): Promise<Map<string, HaveService>> {
  const have = new Map<string, HaveService>();
  for (const service of table) {
    if (pace.due()) await pace.yield();
    const key = keyOf(service);
    have.set(serviceKeyId(key), { service, key });
  }
  return have;
}

/**
 * The steps that bring `have` to `want`, in the order they are sent,
 * leaving out those named in `skip` (given up in an earlier round).
 */
async function planSteps(
  want: ReadonlyMap<string, NormalDesired>,
  have: ReadonlyMap<string, HaveService>,
  ownership: Ownership,
  prune: PruneMode,
  skip: ReadonlySet<string>,
  pace: Pacer,
): Promise<{ planned: Planned[]; kept: ApplyKept[] }> {
  const serviceSteps: Planned[] = [];
  const destDeletes: Planned[] = [];
  const destSteps: Planned[] = [];
  const serviceDeletes: Planned[] = [];
  const kept: ApplyKept[] = [];
  const mayDelete = (sid: string, did?: string): boolean =>
    prune === 'all' || (prune === 'owned' && (did === undefined ? ownership.ownsService(sid) : ownership.ownsDestination(sid, did)));
  const add = (list: Planned[], p: Planned): void => {
    if (skip.size === 0 || !skip.has(stepName(p))) list.push(p);
  };

  for (const w of want.values()) {
    if (pace.due()) await pace.yield();
    const current = have.get(w.id);
    const currentDests = current && destinationsById(current.service);
    if (!current) {
      add(serviceSteps, { step: step('create', 'service', w.key, { type: 'addService', service: w.spec }), sid: w.id });
    } else {
      const changes = serviceChanges(w.spec, current.service);
      if (changes.length) add(serviceSteps, { step: step('update', 'service', w.key, { type: 'updateService', service: w.spec }, { changes }), sid: w.id });
    }
    for (const [did, d] of w.destinations) {
      if (pace.due()) await pace.yield();
      const destination = { address: d.address, port: d.port };
      const hd = currentDests?.get(did);
      if (!hd) {
        add(destSteps, { step: step('create', 'destination', w.key, { type: 'addDestination', service: w.key, destination: d }, { destination }), sid: w.id, did });
        continue;
      }
      const changes = destinationChanges(d, hd);
      if (changes.length)
        add(destSteps, {
          step: step('update', 'destination', w.key, { type: 'updateDestination', service: w.key, destination: d }, { destination, changes }),
          sid: w.id,
          did,
        });
    }
    if (!currentDests) continue;
    for (const [did, hd] of currentDests) {
      if (pace.due()) await pace.yield();
      if (w.destinations.has(did) || !mayDelete(w.id, did)) continue;
      const destination = { address: hd.address, port: hd.port };
      add(destDeletes, { step: step('delete', 'destination', w.key, { type: 'deleteDestination', service: w.key, destination }, { destination }), sid: w.id, did });
    }
  }

  for (const [sid, h] of have) {
    if (pace.due()) await pace.yield();
    if (want.has(sid)) continue;
    const { key } = h;
    if (mayDelete(sid)) {
      const foreign: string[] = [];
      if (prune !== 'all')
        for (const d of h.service.destinations) {
          if (pace.due()) await pace.yield();
          const did = destId(d.address, d.port);
          if (!ownership.ownsDestination(sid, did)) foreign.push(did);
        }
      if (foreign.length === 0) {
        add(serviceDeletes, { step: step('delete', 'service', key, { type: 'deleteService', service: key }), sid });
        continue;
      }
      kept.push({ service: key, reason: `it holds real servers another tool added (${foreign.join(', ')})` });
    }
    for (const hd of h.service.destinations) {
      if (pace.due()) await pace.yield();
      const did = destId(hd.address, hd.port);
      if (!mayDelete(sid, did)) continue;
      const destination = { address: hd.address, port: hd.port };
      add(destDeletes, { step: step('delete', 'destination', key, { type: 'deleteDestination', service: key, destination }, { destination }), sid, did });
    }
  }
  return { planned: [...serviceSteps, ...destDeletes, ...destSteps, ...serviceDeletes], kept };
}

/**
 * Whether a failed step met a change made meanwhile, which a fresh read
 * and plan can get past: a creation of something that exists by now, an
 * update or deletion of something gone. A real server refused because its
 * own service's creation failed this round is not one.
 */
function metConcurrentChange(p: Planned, failedServiceCreates: ReadonlySet<string>): boolean {
  const code = p.step.error?.code;
  if (code === undefined) return false;
  const { action, target } = p.step;
  if (target === 'service') return action === 'create' ? code === 'EEXIST' : code === 'ESRCH';
  if (code === 'ESRCH') return !failedServiceCreates.has(p.sid);
  return action === 'create' ? code === 'EEXIST' : code === 'ENOENT';
}

/**
 * Brings the IPVS table behind `ipvs` to `desired` and returns the plan
 * with each step's outcome (see {@link Ipvs.apply}).
 *
 * The plan is computed from the kernel's table as it is now (a consistent
 * snapshot: two reads in a row that agree), so a second apply of the same
 * state has no steps, and an apply interrupted half-way is completed by the
 * next one. Creations are recorded in the ownership record before they are
 * sent, so an interrupted apply never leaves entries its owner would not
 * recognise. Steps that meet a change someone else made meanwhile
 * (`EEXIST`, `ESRCH`, `ENOENT`) make it read and plan again, up to 3
 * rounds; a claim the owner held before is never dropped for a creation
 * refused because the entry exists. Long loops hand the event loop a turn
 * every few milliseconds.
 *
 * @param ipvs - The handle whose namespace to change; the record is keyed by the inode of the namespace its socket lives in.
 * @param desired - The whole desired table, or just its services.
 * @param options - Dry run, prune mode, owner.
 * @returns The plan; its steps carry `'done'`/`'failed'` (or `'planned'` in a dry run).
 * @throws TypeError | RangeError for a malformed desired state or option, before anything is sent.
 * @throws StateFileError for an ownership record (or its folder) that is unsafe or malformed, before anything is sent.
 */
export async function applyDesired(
  ipvs: ApplyTarget,
  desired: DesiredState | readonly DesiredService[],
  options: ApplyOptions = {},
): Promise<ApplyPlan> {
  if (!Array.isArray(desired) && (typeof desired !== 'object' || desired === null)) {
    throw new TypeError(`desired must be an array of services or { owner?, services }, got ${inspect(desired)}`);
  }
  const services = Array.isArray(desired) ? (desired as readonly DesiredService[]) : (desired as DesiredState).services;
  const prune = options.prune ?? 'owned';
  if (!PRUNE_MODES.includes(prune)) throw new TypeError(`prune must be 'none', 'owned' or 'all', got ${JSON.stringify(prune)}`);
  const owner = options.owner ?? (Array.isArray(desired) ? undefined : (desired as DesiredState).owner) ?? 'default';
  if (typeof owner !== 'string' || !OWNER_NAME.test(owner)) throw new TypeError(ownerMessage(owner));
  const dryRun = options.dryRun === true;
  const pace = new Pacer();
  const want = await normalizeDesired(services, pace);

  const stateDir = options.stateDir ?? process.env.IPVS_TS_STATE_DIR ?? '/run/ipvs-ts';
  const ownership = await Ownership.load(stateDir, owner, await namespaceInode(ipvs), pace);
  const plan: ApplyPlan = { owner, prune, dryRun, steps: [], kept: [], ok: true, statePath: ownership.path, rounds: 0, retried: [] };
  const givenUp = new Set<string>();
  let done = 0;
  let total = 0;

  for (let round = 1; round <= MAX_ROUNDS; round++) {
    plan.rounds = round;
    const have = await indexTable(await ipvs.snapshot({ consistent: true }), pace);
    const { planned, kept } = await planSteps(want, have, ownership, prune, givenUp, pace);
    plan.kept = kept;
    if (dryRun) {
      plan.steps = planned.map((p) => p.step);
      return plan;
    }

    // Write-ahead: claims of entries gone from the kernel are dropped, the
    // creations about to be sent are claimed before they are sent. A
    // creation of an entry already claimed is remembered: if the kernel
    // says it exists, the claim stays (the read missed it; it is still ours).
    await ownership.forgetMissing(have, want, pace);
    const claimedBefore = new Set<Planned>();
    for (const p of planned) {
      if (pace.due()) await pace.yield();
      if (p.step.action !== 'create') continue;
      if (ownership.owns(p)) claimedBefore.add(p);
      else ownership.claim(p);
    }
    await ownership.save(pace);

    total += planned.length;
    try {
      for (let start = 0; start < planned.length; start += CHUNK) {
        const chunk = planned.slice(start, start + CHUNK);
        const results = await ipvs.batch(chunk.map((p) => p.step.op));
        results.forEach((r, i) => {
          const st = chunk[i]!.step;
          if (r.ok) st.status = 'done';
          else {
            st.status = 'failed';
            st.error = r.error;
          }
        });
        done += chunk.length;
        options.onProgress?.(done, total);
      }
    } finally {
      for (const p of planned) {
        if (pace.due()) await pace.yield();
        const st = p.step;
        const code = st.error?.code;
        if (st.action === 'create' && st.status === 'failed' && !(code === 'EEXIST' && claimedBefore.has(p))) ownership.release(p);
        const gone = code === 'ENOENT' || code === 'ESRCH';
        if (st.action === 'delete' && (st.status === 'done' || gone)) ownership.release(p, { withDestinations: true });
      }
      await ownership.save(pace);
    }

    const failedServiceCreates = new Set<string>();
    for (const p of planned) if (p.did === undefined && p.step.action === 'create' && p.step.status === 'failed') failedServiceCreates.add(p.sid);
    let again = false;
    for (const p of planned) {
      if (pace.due()) await pace.yield();
      if (p.step.status === 'failed' && round < MAX_ROUNDS && metConcurrentChange(p, failedServiceCreates)) {
        plan.retried.push(p.step);
        again = true;
        continue;
      }
      plan.steps.push(p.step);
      if (p.step.status === 'failed') givenUp.add(stepName(p));
    }
    if (!again) break;
  }
  plan.ok = plan.steps.every((st) => st.status === 'done');
  return plan;
}

/**
 * A plan in words, one line per step (`+ service tcp 10.0.0.1:80`,
 * `~ destination 10.0.0.2:80 of tcp 10.0.0.1:80: weight 1 → 1000`,
 * `- …`), each failed step followed by the kernel's refusal.
 */
export function describePlan(plan: ApplyPlan): string {
  const sign = { create: '+', update: '~', delete: '-' } as const;
  const show = (v: unknown): string => (v === undefined ? 'unset' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  let out = '';
  for (const st of plan.steps) {
    const svc = describeServiceKey(st.service);
    const what = st.destination
      ? `destination ${describeDestination(st.destination.address, destinationPort(st.destination.port, st.service))} of ${svc}`
      : `service ${svc}`;
    const changes = st.changes?.length ? `: ${st.changes.map((c) => `${c.field} ${show(c.from)} → ${show(c.to)}`).join(', ')}` : '';
    const failed = st.status === 'failed' ? ` FAILED: ${st.error?.message ?? ''}` : '';
    out += `${sign[st.action]} ${what}${changes}${failed}\n`;
  }
  for (const k of plan.kept) out += `= kept service ${describeServiceKey(k.service)}: ${k.reason}\n`;
  if (plan.retried.length)
    out += `= ${plan.retried.length} step(s) met changes made meanwhile by someone else and were planned again from a fresh read (${plan.rounds} rounds)\n`;
  return out;
}
