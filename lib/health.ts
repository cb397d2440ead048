/**
 * Health checks of real servers, as keepalived's checkers and ldirectord do
 * them: each real server is probed from the director's network namespace
 * (a socket created there, connected by node, so HTTP and TLS are node's
 * own); after `fall` failures in a row it goes down (weight 0, or removed),
 * after `rise` successes it comes back with its configured weight; a sorry
 * server takes the service while every real server is down.
 *
 * ```ts
 * const checker = new HealthChecker(ipvs, [{
 *   service: { protocol: 'tcp', address: '192.0.2.10', port: 22136 },
 *   check: { probe: { type: 'tcp' }, interval: 2000, timeout: 1000, fall: 3, rise: 2 },
 *   destinations: [{ address: '10.0.0.11', weight: 1000 }, { address: '10.0.0.12', weight: 500 }],
 * }]);
 * checker.on('down', (e) => console.log(`${e.destination.address} down: ${e.reason}`));
 * checker.start();
 * ```
 *
 * @module
 */

import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

import { addressFamily, canonicalOrSelf } from './address.js';
import { describeDestination, describeServiceKey, destinationPort } from './convert.js';
import { host } from './host/native.js';
import type { AbortSignalLike, DestinationKey, DestinationSpec, Family, ServiceKey } from './types.js';
import { validateDestinationSpec, validateServiceKey } from './validate.js';

/** A real server of a service, by address and port. */
export interface RealServerRef {
  /** The address, canonical text. */
  address: string;
  /** The port. */
  port: number;
}

/** One probe's outcome, as the `probe` event reports it. */
export interface ProbeResult {
  /** The real server probed. */
  destination: RealServerRef;
  /** Healthy. */
  ok: boolean;
  /** `healthy`, or why not: `refused`, `timeout`, `status 503`, … */
  reason: string;
}

/** Where a probe goes: the real server's address and the port probed. */
export interface ProbeTarget {
  /** The real server's address. */
  address: string;
  /** The port probed (the probe's own, else the real server's). */
  port: number;
  /** The address family. */
  family: Family;
}

/** How a real server is probed. */
export type HealthProbe =
  | {
      /** Succeeds when a TCP connection is accepted (keepalived's `TCP_CHECK`). */
      type: 'tcp';
      /** Port to connect to; default the real server's. */
      port?: number;
    }
  | {
      /** An HTTP or HTTPS GET (keepalived's `HTTP_GET`/`SSL_GET`). */
      type: 'http' | 'https';
      /** Port; default the real server's. */
      port?: number;
      /** Path; default `/`. */
      path?: string;
      /** Host header (and TLS server name); default the real server's address. */
      host?: string;
      /** Statuses that mean healthy; default 200–399. */
      status?: number | readonly number[];
      /** Text the body must contain, or a pattern it must match (the first 64 KiB are read). */
      body?: string | RegExp;
      /** HTTPS: accept any certificate (default false: verified against node's CAs). */
      insecure?: boolean;
    }
  | {
      /** Your own check (keepalived's `MISC_CHECK`): resolve `true`/nothing for healthy, `false` or throw (the message is the reason) for not. */
      type: 'custom';
      /** The check; it should stop when `signal` aborts (the timeout). */
      check: (target: ProbeTarget, signal: AbortSignalLike) => Promise<boolean | void>;
    };

/** Settings of the checks of one real server. */
export interface HealthCheckSettings {
  /** The probe. */
  probe: HealthProbe;
  /** Time between the starts of two probes, ms; default 5000. */
  interval?: number;
  /** Time a probe may take, ms; default 3000 (at most the interval). */
  timeout?: number;
  /** Successes in a row that bring a down server back; default 2. */
  rise?: number;
  /** Failures in a row that take a server down; default 3. */
  fall?: number;
  /** Wait before the first probe, ms; default 0. */
  delay?: number;
  /** What going down does: `'weight0'` (default: persistent clients drain) or `'remove'`. */
  onDown?: 'weight0' | 'remove';
}

/** A service under check: its real servers with their configured weights. */
export interface CheckedService {
  /** The service, which must exist. */
  service: ServiceKey;
  /** The checks of every real server of it, unless one has its own. */
  check: HealthCheckSettings;
  /** The real servers as they should be when healthy (their weights are what a rise restores). */
  destinations: readonly (DestinationSpec & {
    /** This server's own check settings, over the service's. */
    check?: Partial<HealthCheckSettings>;
  })[];
  /** Added while every real server is down, removed when one is back. */
  sorryServer?: DestinationSpec;
}

/** A real server's state changed, or a sorry server came or went. */
export interface HealthEvent {
  /** The service. */
  service: ServiceKey;
  /** The real server. */
  destination: RealServerRef;
  /** The new state. */
  state: 'up' | 'down';
  /** Why: `refused`, `timeout`, `status 503`, `body did not match`, …; for `up`, `healthy`. */
  reason: string;
  /** What was done to the table: `weight 0`, `removed`, `weight 1000`, `added`. */
  action: string;
  /** When. */
  at: Date;
}

/** The sorry server was added (`active`) or removed. */
export interface SorryEvent {
  /** The service. */
  service: ServiceKey;
  /** The sorry server. */
  destination: RealServerRef;
  /** Added (true) or removed (false). */
  active: boolean;
  /** When. */
  at: Date;
}

/** A change of the table that the kernel refused (the checker goes on). */
export interface HealthFailure {
  /** What was being done, in words. */
  what: string;
  /** The refusal. */
  error: Error;
}

/** A real server's check state, from {@link HealthChecker.states}. */
export interface HealthState {
  /** The service. */
  service: ServiceKey;
  /** The real server. */
  destination: RealServerRef;
  /** Up (serving, configured weight) or down. */
  state: 'up' | 'down';
  /** The reason of the last change (`configured` before any). */
  reason: string;
  /** The time of the last change. */
  since: Date;
  /** Probes run so far. */
  probes: number;
}

/** What the checker needs of a handle: an {@link Ipvs} is one. */
export interface HealthTarget {
  /** The namespace the handle works in (probes are made from there); undefined: the caller's. */
  readonly netnsPath: string | undefined;
  /** Changes a real server in place. */
  updateDestination(service: ServiceKey, spec: DestinationSpec): Promise<void>;
  /** Adds a real server. */
  addDestination(service: ServiceKey, spec: DestinationSpec): Promise<void>;
  /** Deletes a real server. */
  deleteDestination(service: ServiceKey, destination: DestinationKey): Promise<void>;
}

/** Options of a {@link HealthChecker}. */
export interface HealthCheckerOptions {
  /** Probes in flight at once at most; default 256. Others wait their turn. */
  concurrency?: number;
  /**
   * States of an earlier checker ({@link HealthChecker.states}), kept for the
   * real servers that are in both (a reload): a server that was down starts
   * down, with the table as that checker left it, and needs `rise` successes.
   */
  previous?: readonly HealthState[];
}

/** Events of a {@link HealthChecker}. */
export interface HealthCheckerEvents {
  /** A real server went down. */
  down: [HealthEvent];
  /** A real server came back. */
  up: [HealthEvent];
  /** The sorry server was added or removed. */
  sorry: [SorryEvent];
  /** A probe finished (every probe: for logs and tests). */
  probe: [ProbeResult];
  /** The kernel refused a change; the checker goes on. */
  failed: [HealthFailure];
}

const BODY_MAX = 64 * 1024;

interface Checked {
  svc: ServiceRecord;
  spec: DestinationSpec & { port: number };
  id: string;
  settings: Required<Omit<HealthCheckSettings, 'probe'>> & { probe: HealthProbe };
  target: ProbeTarget;
  state: 'up' | 'down';
  /** The state the table has been brought to (changes are queued after the state). */
  applied: 'up' | 'down';
  reason: string;
  since: Date;
  okRun: number;
  failRun: number;
  probes: number;
  timer: NodeJS.Timeout | undefined;
  inFlight: AbortController | undefined;
}

interface ServiceRecord {
  key: ServiceKey;
  name: string;
  sorry: (DestinationSpec & { port: number }) | undefined;
  sorryActive: boolean;
  members: Checked[];
  /** Table changes of this service, one after the other. */
  queue: Promise<void>;
}

function validateSettings(s: unknown, field: string, partial: boolean): void {
  if (typeof s !== 'object' || s === null) throw new TypeError(`${field} must be an object, got ${String(s)}`);
  const o = s as Record<string, unknown>;
  const known = ['probe', 'interval', 'timeout', 'rise', 'fall', 'delay', 'onDown'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new TypeError(`${field} has an unknown property '${k}'`);
  if (!partial || o.probe !== undefined) validateProbe(o.probe, `${field}.probe`);
  const int = (k: string, min: number, max: number): void => {
    const v = o[k];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const msg = `${field}.${k} must be an integer ${min}–${max}, got ${JSON.stringify(v)}`;
      throw typeof v === 'number' ? new RangeError(msg) : new TypeError(msg);
    }
  };
  int('interval', 10, 86_400_000);
  int('timeout', 1, 86_400_000);
  int('rise', 1, 1000);
  int('fall', 1, 1000);
  int('delay', 0, 86_400_000);
  if (o.onDown !== undefined && o.onDown !== 'weight0' && o.onDown !== 'remove') {
    throw new TypeError(`${field}.onDown must be 'weight0' or 'remove', got ${JSON.stringify(o.onDown)}`);
  }
}

function validateProbe(p: unknown, field: string): void {
  if (typeof p !== 'object' || p === null) throw new TypeError(`${field} must be an object, got ${String(p)}`);
  const o = p as Record<string, unknown>;
  const allowed: Record<string, string[]> = {
    tcp: ['type', 'port'],
    http: ['type', 'port', 'path', 'host', 'status', 'body', 'insecure'],
    https: ['type', 'port', 'path', 'host', 'status', 'body', 'insecure'],
    custom: ['type', 'check'],
  };
  const keys = typeof o.type === 'string' ? allowed[o.type] : undefined;
  if (!keys) throw new TypeError(`${field}.type must be 'tcp', 'http', 'https' or 'custom', got ${JSON.stringify(o.type)}`);
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new TypeError(`${field} has an unknown property '${k}' for a ${String(o.type)} probe`);
  if (o.port !== undefined && (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535)) {
    throw new RangeError(`${field}.port must be an integer 1–65535, got ${JSON.stringify(o.port)}`);
  }
  if (o.path !== undefined && (typeof o.path !== 'string' || !o.path.startsWith('/'))) throw new TypeError(`${field}.path must start with '/', got ${JSON.stringify(o.path)}`);
  if (o.host !== undefined && (typeof o.host !== 'string' || o.host === '')) throw new TypeError(`${field}.host must be a host name, got ${JSON.stringify(o.host)}`);
  if (o.status !== undefined) {
    const list = Array.isArray(o.status) ? o.status : [o.status];
    if (list.length === 0 || !list.every((n) => Number.isInteger(n) && n >= 100 && n <= 599)) {
      throw new RangeError(`${field}.status must be an HTTP status 100–599 or a list of them, got ${JSON.stringify(o.status)}`);
    }
  }
  if (o.body !== undefined && typeof o.body !== 'string' && !(o.body instanceof RegExp)) throw new TypeError(`${field}.body must be a string or a RegExp`);
  if (o.insecure !== undefined && typeof o.insecure !== 'boolean') throw new TypeError(`${field}.insecure must be true or false`);
  if (o.type === 'custom' && typeof o.check !== 'function') throw new TypeError(`${field}.check must be a function`);
}

/** A probe's outcome: null for healthy, else the reason. */
type Outcome = string | null;

function errorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    case 'ECONNRESET':
      return 'reset';
    case 'ABORT_ERR':
      return 'timeout';
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}

/** A socket created in `netns` (the director's), connecting to the target: node owns it from here. */
async function connectFrom(netns: string | undefined, target: ProbeTarget, signal: AbortSignal): Promise<net.Socket> {
  const fd = await host().tcpSocket(netns ?? null, target.family === 'inet6' ? 6 : 4);
  const socket = new net.Socket({ fd, readable: true, writable: true });
  const onAbort = (): void => {
    socket.destroy(Object.assign(new Error('timeout'), { code: 'ABORT_ERR' }));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  socket.once('close', () => signal.removeEventListener('abort', onAbort));
  socket.connect({ host: target.address, port: target.port });
  return socket;
}

async function tcpProbe(netns: string | undefined, target: ProbeTarget, signal: AbortSignal): Promise<Outcome> {
  const socket = await connectFrom(netns, target, signal);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return null;
  } finally {
    socket.destroy();
  }
}

async function httpProbe(
  netns: string | undefined,
  target: ProbeTarget,
  probe: Extract<HealthProbe, { type: 'http' | 'https' }>,
  signal: AbortSignal,
): Promise<Outcome> {
  const raw = await connectFrom(netns, target, signal);
  const hostName = probe.host ?? target.address;
  let socket: net.Socket = raw;
  if (probe.type === 'https') {
    socket = tls.connect({
      socket: raw,
      ...(net.isIP(hostName) ? {} : { servername: hostName }),
      rejectUnauthorized: probe.insecure !== true,
    });
  }
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      socket.once('error', reject);
      const req = http.request(
        {
          createConnection: () => socket,
          method: 'GET',
          path: probe.path ?? '/',
          headers: { host: target.family === 'inet6' && !probe.host ? `[${hostName}]:${target.port}` : `${hostName}:${target.port}`, connection: 'close' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            if (text.length < BODY_MAX) text += d;
            if (text.length >= BODY_MAX || probe.body === undefined) res.destroy();
          });
          const done = (): void => resolve({ status: res.statusCode ?? 0, body: text });
          res.on('end', done);
          res.on('close', done);
          res.on('error', () => done());
        },
      );
      req.on('error', reject);
      req.end();
    });
    const wanted = probe.status === undefined ? undefined : Array.isArray(probe.status) ? probe.status : [probe.status];
    if (wanted ? !wanted.includes(status) : status < 200 || status > 399) return `status ${status}`;
    if (probe.body !== undefined && !(typeof probe.body === 'string' ? body.includes(probe.body) : probe.body.test(body))) return 'body did not match';
    return null;
  } finally {
    socket.destroy();
    raw.destroy();
  }
}

/** The checked service at `field` as the checker keeps it; throws TypeError/RangeError naming the field at the first problem. */
function buildService(s: CheckedService, field: string, previous: ReadonlyMap<string, HealthState>, seen: Set<string>): ServiceRecord {
  if (typeof s !== 'object' || s === null) throw new TypeError(`${field} must be an object`);
  validateServiceKey(s.service, `${field}.service`);
  validateSettings(s.check, `${field}.check`, false);
  if (!Array.isArray(s.destinations)) throw new TypeError(`${field}.destinations must be an array`);
  const name = describeServiceKey(s.service);
  const svc: ServiceRecord = { key: s.service, name, sorry: undefined, sorryActive: false, members: [], queue: Promise.resolve() };
  if (s.sorryServer !== undefined) {
    validateDestinationSpec(s.sorryServer, s.service, `${field}.sorryServer`);
    svc.sorry = { ...s.sorryServer, address: canonicalOrSelf(s.sorryServer.address), port: destinationPort(s.sorryServer.port, s.service) };
  }
  for (const [j, d] of (s.destinations as CheckedService['destinations']).entries()) {
    const dfield = `${field}.destinations[${j}]`;
    const { check, ...spec } = d;
    validateDestinationSpec(spec, s.service, `${field}.destinations`, j);
    if (check !== undefined) validateSettings(check, `${dfield}.check`, true);
    const merged = { ...s.check, ...check };
    const port = destinationPort(spec.port, s.service);
    const address = canonicalOrSelf(spec.address);
    const id = `${name} ${describeDestination(address, port)}`;
    if (seen.has(id)) throw new TypeError(`${dfield} repeats real server ${describeDestination(address, port)} of ${name}`);
    seen.add(id);
    const interval = merged.interval ?? 5000;
    const member: Checked = {
      svc,
      spec: { ...spec, address, port },
      id,
      settings: {
        probe: merged.probe,
        interval,
        timeout: Math.min(merged.timeout ?? 3000, interval),
        rise: merged.rise ?? 2,
        fall: merged.fall ?? 3,
        delay: merged.delay ?? 0,
        onDown: merged.onDown ?? 'weight0',
      },
      target: { address, port: ('port' in merged.probe && merged.probe.port) || port, family: addressFamily(address) ?? 'inet' },
      state: 'up',
      applied: 'up',
      reason: 'configured',
      since: new Date(),
      okRun: 0,
      failRun: 0,
      probes: 0,
      timer: undefined,
      inFlight: undefined,
    };
    const before = previous.get(id);
    if (before) Object.assign(member, { state: before.state, applied: before.state, reason: before.reason, since: before.since });
    if (member.target.port === 0) throw new TypeError(`${dfield}: a fwmark service's real server needs check.probe.port (there is no port to probe)`);
    svc.members.push(member);
  }
  // A reload of a service whose servers were all down: its sorry server is in the table already.
  svc.sorryActive = svc.sorry !== undefined && svc.members.length > 0 && svc.members.every((m) => m.applied === 'down');
  return svc;
}

/**
 * Checks health-check settings without starting anything, and returns every
 * problem (each service on its own; within one, the first), with the field
 * path `services[i]…`, in the words the {@link HealthChecker} constructor
 * would throw.
 *
 * @param services - What a {@link HealthChecker} would be given; an `undefined` entry (a service without checks) is skipped, keeping the numbering.
 * @returns The problems; none: `[]`.
 */
export function checkHealthSettings(services: readonly (CheckedService | undefined)[]): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  services.forEach((s, i) => {
    if (s === undefined) return;
    try {
      buildService(s, `services[${i}]`, new Map(), seen);
    } catch (e) {
      if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
      problems.push({ field: /^[^\s:]+/.exec(e.message)?.[0] ?? `services[${i}]`, message: e.message });
    }
  });
  return problems;
}

/** Real servers whose first probe start() arms in one turn of the event loop. */
const START_SLICE = 500;

/**
 * Health checks of the real servers of some services, from the namespace of
 * the handle (see the module's documentation). Validates everything when
 * constructed; {@link HealthChecker.start} begins probing,
 * {@link HealthChecker.stop} ends it.
 */
export class HealthChecker {
  readonly #events = new EventEmitter();
  readonly #ipvs: HealthTarget;
  readonly #services: ServiceRecord[] = [];
  readonly #members: Checked[] = [];
  readonly #concurrency: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  #started = false;
  #stopped = false;

  /**
   * @param ipvs - The handle whose table the checks change (an {@link Ipvs}); probes are made from its namespace.
   * @param services - The services and real servers to check, with their configured settings.
   * @param options - Concurrency.
   * @throws TypeError | RangeError naming the field, for malformed settings.
   */
  constructor(ipvs: HealthTarget, services: readonly CheckedService[], options: HealthCheckerOptions = {}) {
    this.#ipvs = ipvs;
    const concurrency = options.concurrency ?? 256;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 65536) {
      throw new RangeError(`options.concurrency must be an integer 1–65536, got ${JSON.stringify(concurrency)}`);
    }
    this.#concurrency = concurrency;
    if (!Array.isArray(services)) throw new TypeError('services must be an array');
    const previous = new Map((options.previous ?? []).map((p) => [`${describeServiceKey(p.service)} ${describeDestination(p.destination.address, p.destination.port)}`, p]));
    const seen = new Set<string>();
    services.forEach((s, i) => {
      const svc = buildService(s, `services[${i}]`, previous, seen);
      this.#services.push(svc);
      this.#members.push(...svc.members);
    });
  }

  /**
   * Calls `listener` for each event of that name.
   *
   * @param event - `down`, `up`, `sorry`, `probe` or `failed`.
   * @param listener - Called with the event.
   * @returns The checker.
   */
  on<K extends keyof HealthCheckerEvents>(event: K, listener: (...args: HealthCheckerEvents[K]) => void): this {
    this.#events.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /**
   * Stops calling `listener`.
   *
   * @param event - The event name.
   * @param listener - A listener given to {@link HealthChecker.on}.
   * @returns The checker.
   */
  off<K extends keyof HealthCheckerEvents>(event: K, listener: (...args: HealthCheckerEvents[K]) => void): this {
    this.#events.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  #emit<K extends keyof HealthCheckerEvents>(event: K, ...args: HealthCheckerEvents[K]): void {
    this.#events.emit(event, ...args);
  }

  /** Starts probing every real server: each after its `delay`, the first probes spread over one interval. */
  start(): void {
    if (this.#started) throw new Error('the health checker was already started');
    this.#started = true;
    // First probes spread over one interval: 10 000 servers would otherwise
    // all be probed in one turn of the loop. The timers are armed a slice per
    // turn too: 10 000 setTimeout calls in one go held the loop up to 15 ms.
    const n = this.#members.length;
    const startedAt = performance.now();
    const arm = (from: number): void => {
      if (this.#stopped) return;
      const end = Math.min(n, from + START_SLICE);
      const late = performance.now() - startedAt;
      for (let i = from; i < end; i++) {
        const m = this.#members[i]!;
        this.#schedule(m, Math.max(0, m.settings.delay + Math.floor((i * m.settings.interval) / n) - late));
      }
      if (end < n) setImmediate(arm, end);
    };
    arm(0);
  }

  /** Every real server's state. */
  states(): HealthState[] {
    return this.#members.map((m) => ({
      service: m.svc.key,
      destination: { address: m.spec.address, port: m.spec.port },
      state: m.state,
      reason: m.reason,
      since: m.since,
      probes: m.probes,
    }));
  }

  /**
   * Stops probing and waits for table changes under way. With `restore`,
   * puts every real server back as configured (weights, removed ones added)
   * and removes the sorry servers; without, leaves the table as it is.
   */
  async stop(options: { restore?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    for (const m of this.#members) {
      clearTimeout(m.timer);
      m.inFlight?.abort();
    }
    for (const release of this.#waiting.splice(0)) release();
    await Promise.all(this.#services.map((s) => s.queue));
    if (!options.restore) return;
    for (const svc of this.#services) {
      for (const m of svc.members) {
        if (m.applied === 'down') await this.#change(svc, `restore ${m.id}`, () => this.#bringUp(m));
        m.state = 'up';
        m.applied = 'up';
      }
      if (svc.sorryActive && svc.sorry) await this.#change(svc, `remove the sorry server of ${svc.name}`, () => this.#ipvs.deleteDestination(svc.key, svc.sorry!));
      svc.sorryActive = false;
    }
    await Promise.all(this.#services.map((s) => s.queue));
  }

  #schedule(m: Checked, ms: number): void {
    if (this.#stopped) return;
    m.timer = setTimeout(() => void this.#probe(m), ms);
  }

  /** Takes one of the `concurrency` probe slots, waiting for one if need be. */
  async #slot(): Promise<void> {
    if (this.#running < this.#concurrency) {
      this.#running++;
      return;
    }
    // The slot is handed over by #release: the count does not change.
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#running--;
  }

  async #probe(m: Checked): Promise<void> {
    if (this.#stopped) return;
    await this.#slot();
    if (this.#stopped) {
      this.#release();
      return;
    }
    const started = performance.now();
    let outcome: Outcome;
    const ac = new AbortController();
    m.inFlight = ac;
    const timer = setTimeout(() => ac.abort(), m.settings.timeout);
    try {
      outcome = await this.#run(m, ac.signal);
      if (ac.signal.aborted) outcome = 'timeout';
    } catch (e) {
      outcome = ac.signal.aborted ? 'timeout' : errorReason(e);
    } finally {
      clearTimeout(timer);
      m.inFlight = undefined;
      this.#release();
    }
    if (this.#stopped) return;
    m.probes++;
    this.#emit('probe', { destination: { address: m.spec.address, port: m.spec.port }, ok: outcome === null, reason: outcome ?? 'healthy' });
    this.#record(m, outcome);
    this.#schedule(m, Math.max(0, m.settings.interval - (performance.now() - started)));
  }

  async #run(m: Checked, signal: AbortSignal): Promise<Outcome> {
    const probe = m.settings.probe;
    if (probe.type === 'tcp') return tcpProbe(this.#ipvs.netnsPath, m.target, signal);
    if (probe.type === 'custom') {
      const ok = await probe.check({ ...m.target }, signal);
      return ok === false ? 'check failed' : null;
    }
    return httpProbe(this.#ipvs.netnsPath, m.target, probe, signal);
  }

  #record(m: Checked, outcome: Outcome): void {
    if (outcome === null) {
      m.okRun++;
      m.failRun = 0;
      if (m.state === 'down' && m.okRun >= m.settings.rise) this.#transition(m, 'up', 'healthy');
    } else {
      m.failRun++;
      m.okRun = 0;
      if (m.state === 'up' && m.failRun >= m.settings.fall) this.#transition(m, 'down', outcome);
      else if (m.state === 'down') m.reason = outcome;
    }
  }

  #transition(m: Checked, state: 'up' | 'down', reason: string): void {
    m.state = state;
    m.reason = reason;
    m.since = new Date();
    const svc = m.svc;
    const destination = { address: m.spec.address, port: m.spec.port };
    if (state === 'down') {
      const action = m.settings.onDown === 'remove' ? 'removed' : 'weight 0';
      void this.#change(svc, `take ${m.id} down`, async () => {
        if (m.settings.onDown === 'remove') await this.#ipvs.deleteDestination(svc.key, destination);
        else await this.#ipvs.updateDestination(svc.key, { ...m.spec, weight: 0 });
        m.applied = 'down';
      }).then(() => this.#emit('down', { service: svc.key, destination, state, reason, action, at: m.since }));
    } else {
      const action = m.settings.onDown === 'remove' ? 'added' : `weight ${m.spec.weight ?? 1}`;
      void this.#change(svc, `bring ${m.id} back`, async () => {
        await this.#bringUp(m);
        m.applied = 'up';
      }).then(() =>
        this.#emit('up', { service: svc.key, destination, state, reason, action, at: m.since }),
      );
    }
    void this.#change(svc, `the sorry server of ${svc.name}`, () => this.#sorry(svc));
  }

  async #bringUp(m: Checked): Promise<void> {
    if (m.settings.onDown === 'remove') await this.#ipvs.addDestination(m.svc.key, m.spec);
    else await this.#ipvs.updateDestination(m.svc.key, m.spec);
  }

  async #sorry(svc: ServiceRecord): Promise<void> {
    if (!svc.sorry) return;
    // By what the table has, not by the states: a transition's own change may still be queued behind this check.
    const allDown = svc.members.length > 0 && svc.members.every((x) => x.applied === 'down');
    if (allDown === svc.sorryActive) return;
    const destination = { address: svc.sorry.address, port: svc.sorry.port };
    if (allDown) await this.#ipvs.addDestination(svc.key, svc.sorry);
    else await this.#ipvs.deleteDestination(svc.key, destination);
    svc.sorryActive = allDown;
    this.#emit('sorry', { service: svc.key, destination, active: allDown, at: new Date() });
  }

  /** Runs a table change after the service's earlier ones; a refusal is reported, not thrown. */
  #change(svc: ServiceRecord, what: string, fn: () => Promise<void>): Promise<void> {
    svc.queue = svc.queue.then(fn).catch((error: unknown) => {
      this.#emit('failed', { what, error: error instanceof Error ? error : new Error(String(error)) });
    });
    return svc.queue;
  }
}
