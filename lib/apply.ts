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

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { inspect } from 'node:util';

import {
  canonicalAddress,
  describeDestination,
  describeServiceKey,
  destinationPort,
  isFwmarkKey,
  serviceKeyFamily,
  serviceKeyId,
} from './convert.js';
import type { IpvsError } from './errors.js';
import type { Ipvs } from './ipvs.js';
import { netmaskValue, schedFlagBits } from './ipvsadm/common.js';
import type {
  BatchOp,
  Destination,
  DestinationKey,
  DestinationSpec,
  Family,
  Forwarding,
  Service,
  ServiceKey,
  ServiceSpec,
  ServiceWithDestinations,
} from './types.js';
import { validateDestinationSpec, validateServiceSpec } from './validate.js';

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
  /** Folder of the ownership records; default `$IPVS_TS_STATE_DIR`, else `/run/ipvs-ts`. */
  stateDir?: string;
  /** Called after each chunk of operations the kernel answered: `done` of `total`. */
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
  /** In the order sent: service creations and updates, destination deletions, destination creations and updates, service deletions. */
  steps: ApplyStep[];
  /** Left-out entries kept by the prune mode that still deserve a word (owned services holding foreign real servers). */
  kept: ApplyKept[];
  /** True when every step succeeded (always true in a dry run). */
  ok: boolean;
  /** The ownership record used. */
  statePath: string;
}

const PRUNE_MODES: readonly PruneMode[] = ['none', 'owned', 'all'];
const OWNER_NAME = /^[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}$/;
const CHUNK = 1000;
const STATE_FORMAT = 'ipvs-ts/apply-ownership';

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
const claimOfDest = (serviceId: string, id: string): string => `${serviceId} -> ${id}`;

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

/** Validates the desired state (TypeError/RangeError naming `services[i]…`) and indexes it. */
function normalizeDesired(services: readonly DesiredService[]): Map<string, NormalDesired> {
  if (!Array.isArray(services)) throw new TypeError(`services must be an array, got ${typeof services}`);
  const out = new Map<string, NormalDesired>();
  services.forEach((s, i) => {
    const field = `services[${i}]`;
    const destinationsField = `${field}.destinations`;
    validateServiceSpec(s, 'services', i);
    const list = (s as DesiredService).destinations ?? [];
    const key = keyOf(s);
    const id = serviceKeyId(key);
    if (out.has(id)) throw new TypeError(`${field} repeats service ${id}`);
    const destinations = new Map<string, DestinationSpec & { port: number }>();
    if (!Array.isArray(list)) throw new TypeError(`${destinationsField} must be an array`);
    list.forEach((given: DesiredDestination, j: number) => {
      let d = given as DestinationSpec;
      if (typeof given === 'object' && given !== null && given.forwarding === 'local') {
        const { forwarding: _local, ...rest } = given;
        d = rest;
      }
      validateDestinationSpec(d, key, destinationsField, j);
      const clean = cleanDestination(d, key);
      const did = destId(clean.address, clean.port);
      if (destinations.has(did)) throw new TypeError(`${destinationsField}[${j}] repeats destination ${did}`);
      destinations.set(did, clean);
    });
    out.set(id, { id, key, spec: cleanService(s), destinations });
  });
  return out;
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

class Ownership {
  readonly claims: Set<string>;
  #saved: string;

  private constructor(
    readonly path: string,
    readonly owner: string,
    readonly inode: number,
    claims: string[],
  ) {
    this.claims = new Set(claims);
    this.#saved = this.#key();
  }

  static async load(stateDir: string, owner: string, netnsPath: string): Promise<Ownership> {
    const inode = (await stat(netnsPath)).ino;
    const path = join(stateDir, 'apply', `netns-${inode}`, `${owner}.json`);
    let claims: string[] = [];
    try {
      const text = await readFile(path, 'utf8');
      let data: Partial<OwnershipFile>;
      try {
        data = JSON.parse(text) as Partial<OwnershipFile>;
      } catch (e) {
        throw new Error(`${path} is not an ipvs-ts ownership record: ${(e as Error).message}`);
      }
      if (data.format !== STATE_FORMAT || !Array.isArray(data.services) || !Array.isArray(data.destinations))
        throw new Error(`${path} is not an ipvs-ts ownership record`);
      claims = [...data.services.map((s) => `S ${s}`), ...data.destinations.map((d) => `D ${d}`)];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return new Ownership(path, owner, inode, claims);
  }

  owns(kind: 'S' | 'D', id: string): boolean {
    return this.claims.has(`${kind} ${id}`);
  }

  claim(kind: 'S' | 'D', id: string): void {
    this.claims.add(`${kind} ${id}`);
  }

  release(kind: 'S' | 'D', id: string): void {
    this.claims.delete(`${kind} ${id}`);
    // A service's real servers go with it.
    if (kind === 'S') for (const c of [...this.claims]) if (c.startsWith(`D ${id} -> `)) this.claims.delete(c);
  }

  #key(): string {
    return [...this.claims].sort().join('\n');
  }

  /** Writes the record when it changed: to a temporary file, then renamed over (never half-written). */
  async save(): Promise<void> {
    const key = this.#key();
    if (key === this.#saved) return;
    if (this.claims.size === 0) {
      await unlink(this.path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    } else {
      const pick = (kind: string): string[] => [...this.claims].filter((c) => c.startsWith(`${kind} `)).map((c) => c.slice(2)).sort();
      const data: OwnershipFile = {
        format: STATE_FORMAT,
        version: 1,
        owner: this.owner,
        netnsInode: this.inode,
        updated: new Date().toISOString(),
        services: pick('S'),
        destinations: pick('D'),
      };
      await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
      // A name of its own for each write ('wx': never an existing file or a
      // link planted there), so that two applies at once never write into one
      // temporary file; the last rename wins, whole.
      const tmp = `${this.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o644, flag: 'wx' });
        await rename(tmp, this.path);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw e;
      }
    }
    this.#saved = key;
  }
}

// ---------------------------------------------------------------------------
// The plan

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

/**
 * Brings the IPVS table behind `ipvs` to `desired` and returns the plan
 * with each step's outcome (see {@link Ipvs.apply}).
 *
 * The plan is computed from the kernel's table as it is now, so a second
 * apply of the same state has no steps, and an apply interrupted half-way is
 * completed by the next one. Creations are recorded in the ownership record
 * before they are sent, so an interrupted apply never leaves entries its
 * owner would not recognise.
 *
 * @param ipvs - The handle whose namespace to change.
 * @param desired - The whole desired table, or just its services.
 * @param options - Dry run, prune mode, owner.
 * @returns The plan; its steps carry `'done'`/`'failed'` (or `'planned'` in a dry run).
 * @throws TypeError | RangeError for a malformed desired state or option, before anything is sent.
 */
export async function applyDesired(
  ipvs: Ipvs,
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
  if (typeof owner !== 'string' || !OWNER_NAME.test(owner))
    throw new TypeError(`owner must be 1–64 letters, digits or '_ . @ -' (not starting with '.'), got ${JSON.stringify(owner)}`);
  const dryRun = options.dryRun === true;
  const want = normalizeDesired(services);

  const stateDir = options.stateDir ?? process.env.IPVS_TS_STATE_DIR ?? '/run/ipvs-ts';
  const ownership = await Ownership.load(stateDir, owner, ipvs.netnsPath ?? '/proc/self/ns/net');
  const table: ServiceWithDestinations[] = await ipvs.snapshot();

  const serviceSteps: ApplyStep[] = [];
  const destDeletes: ApplyStep[] = [];
  const destSteps: ApplyStep[] = [];
  const serviceDeletes: ApplyStep[] = [];
  const kept: ApplyKept[] = [];
  const have = new Map(table.map((s) => [serviceKeyId(keyOf(s)), s]));
  const mayDelete = (kind: 'S' | 'D', id: string): boolean => prune === 'all' || (prune === 'owned' && ownership.owns(kind, id));

  for (const w of want.values()) {
    const current = have.get(w.id);
    if (!current) {
      serviceSteps.push(step('create', 'service', w.key, { type: 'addService', service: w.spec }));
    } else {
      const changes = serviceChanges(w.spec, current);
      if (changes.length) serviceSteps.push(step('update', 'service', w.key, { type: 'updateService', service: w.spec }, { changes }));
    }
    const currentDests = new Map((current?.destinations ?? []).map((d) => [destId(d.address, d.port), d]));
    for (const [did, d] of w.destinations) {
      const destination = { address: d.address, port: d.port };
      const hd = currentDests.get(did);
      if (!hd) {
        destSteps.push(step('create', 'destination', w.key, { type: 'addDestination', service: w.key, destination: d }, { destination }));
        continue;
      }
      const changes = destinationChanges(d, hd);
      if (changes.length)
        destSteps.push(step('update', 'destination', w.key, { type: 'updateDestination', service: w.key, destination: d }, { destination, changes }));
    }
    for (const [did, hd] of currentDests) {
      if (w.destinations.has(did) || !mayDelete('D', claimOfDest(w.id, did))) continue;
      const destination = { address: hd.address, port: hd.port };
      destDeletes.push(step('delete', 'destination', w.key, { type: 'deleteDestination', service: w.key, destination }, { destination }));
    }
  }

  for (const [id, s] of have) {
    if (want.has(id)) continue;
    const key = keyOf(s);
    const dests = s.destinations.map((d) => ({ id: destId(d.address, d.port), destination: { address: d.address, port: d.port } }));
    if (mayDelete('S', id)) {
      const foreign = prune === 'all' ? [] : dests.filter((d) => !ownership.owns('D', claimOfDest(id, d.id)));
      if (foreign.length === 0) {
        serviceDeletes.push(step('delete', 'service', key, { type: 'deleteService', service: key }));
        continue;
      }
      kept.push({ service: key, reason: `it holds real servers another tool added (${foreign.map((d) => d.id).join(', ')})` });
    }
    for (const d of dests) {
      if (!mayDelete('D', claimOfDest(id, d.id))) continue;
      destDeletes.push(step('delete', 'destination', key, { type: 'deleteDestination', service: key, destination: d.destination }, { destination: d.destination }));
    }
  }

  const steps = [...serviceSteps, ...destDeletes, ...destSteps, ...serviceDeletes];
  const plan: ApplyPlan = { owner, prune, dryRun, steps, kept, ok: true, statePath: ownership.path };
  if (dryRun) return plan;

  // Claims of entries gone from the kernel (deleted by hand, or never created
  // by an interrupted apply) are dropped; the creations about to be sent are
  // claimed before they are sent (write-ahead).
  const exists = new Set<string>();
  for (const [id, s] of have) {
    exists.add(`S ${id}`);
    for (const d of s.destinations) exists.add(`D ${claimOfDest(id, destId(d.address, d.port))}`);
  }
  const claimOf = (st: ApplyStep): ['S' | 'D', string] => {
    const sid = serviceKeyId(st.service);
    return st.destination ? ['D', claimOfDest(sid, destId(st.destination.address, destinationPort(st.destination.port, st.service)))] : ['S', sid];
  };
  for (const c of [...ownership.claims]) if (!exists.has(c)) ownership.claims.delete(c);
  for (const st of steps) if (st.action === 'create') ownership.claim(...claimOf(st));
  await ownership.save();

  try {
    let done = 0;
    for (let start = 0; start < steps.length; start += CHUNK) {
      const chunk = steps.slice(start, start + CHUNK);
      const results = await ipvs.batch(chunk.map((s) => s.op));
      results.forEach((r, i) => {
        const st = chunk[i] as ApplyStep;
        if (r.ok) st.status = 'done';
        else {
          st.status = 'failed';
          st.error = r.error;
          plan.ok = false;
        }
      });
      done += chunk.length;
      options.onProgress?.(done, steps.length);
    }
  } finally {
    for (const st of steps) {
      const [kind, id] = claimOf(st);
      if (st.action === 'create' && st.status === 'failed') ownership.release(kind, id);
      const gone = st.error && (st.error.code === 'ENOENT' || st.error.code === 'ESRCH');
      if (st.action === 'delete' && (st.status === 'done' || gone)) ownership.release(kind, id);
    }
    await ownership.save();
  }
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
  return out;
}
