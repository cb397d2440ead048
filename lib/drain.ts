/**
 * Graceful drain of a real server: weight 0 (new connections go elsewhere,
 * persistent clients and established connections stay), then watch its
 * connection counts until it is idle, or has no active connections, or time
 * runs out; remove it if asked; an abort puts the weight back.
 *
 * @module
 */

import { canonicalOrSelf } from './address.js';
import { IpvsError } from './errors.js';
import type { AbortSignalLike, Destination, DestinationKey, DestinationSpec, ServiceKey } from './types.js';

/** What a drain waits for. */
export type DrainUntil = 'idle' | 'no-active';

/** Options of {@link Ipvs.drainDestination}. */
export interface DrainOptions {
  /**
   * `'idle'` (default): no active, inactive or persistent connections (the
   * server can be stopped without a client noticing); `'no-active'`: no
   * active connections (closing ones and persistence templates may remain).
   */
  until?: DrainUntil;
  /** Give up after this many ms: the drain then resolves with `drained: false` and the counts at that moment. Default: no limit. */
  timeout?: number;
  /** How often to read the counts, in ms; default 1000. */
  interval?: number;
  /** Delete the destination once drained (not when time runs out). */
  remove?: boolean;
  /** Aborting restores the weight the destination had and rejects with the signal's reason. */
  signal?: AbortSignalLike;
  /** Called with every reading of the counts, the first one right after the weight is set to 0. */
  onProgress?: (progress: DrainProgress) => void;
}

/** The destination's connection counts at one reading during a drain. */
export interface DrainProgress {
  /** Connections in ESTABLISHED state (TCP) or equivalent. */
  activeConnections: number;
  /** Connections in other states (closing, UDP). */
  inactiveConnections: number;
  /** Persistence templates still pointing at the server. */
  persistentConnections: number;
  /** Milliseconds since the weight was set to 0. */
  elapsedMs: number;
}

/** How a drain ended. */
export interface DrainResult extends DrainProgress {
  /** The condition asked for was met (false: time ran out). */
  drained: boolean;
  /** The destination was deleted. */
  removed: boolean;
  /** The weight before the drain (what an abort restores). */
  previousWeight: number;
}

/** What a drain needs of a handle: an {@link Ipvs} is one. */
export interface DrainTarget {
  /** The destinations of a service, with their counts. */
  listDestinations(service: ServiceKey): Promise<Destination[]>;
  /** Changes a destination in place. */
  updateDestination(service: ServiceKey, spec: DestinationSpec): Promise<void>;
  /** Deletes a destination. */
  deleteDestination(service: ServiceKey, destination: DestinationKey): Promise<void>;
}

const DEFAULT_INTERVAL_MS = 1000;

/** Waits `ms`; rejects with the signal's reason as soon as it aborts. */
function sleep(ms: number, signal: AbortSignalLike | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isDrained(d: Destination, until: DrainUntil): boolean {
  if (d.activeConnections !== 0) return false;
  return until === 'no-active' || (d.inactiveConnections === 0 && d.persistentConnections === 0);
}

/** The destination as an update spec (what is read back can be written back, but for a read-only `'local'`). */
function specOf(d: Destination, weight: number): DestinationSpec {
  const spec: DestinationSpec = { address: d.address, port: d.port, weight, upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold };
  if (d.forwarding !== 'local') spec.forwarding = d.forwarding;
  if (d.tunnel) spec.tunnel = d.tunnel;
  return spec;
}

/**
 * Validates drain options (TypeError/RangeError naming the field).
 *
 * @internal
 */
export function validateDrainOptions(options: unknown): asserts options is DrainOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${String(options)}`);
  const o = options as Record<string, unknown>;
  const known = ['until', 'timeout', 'interval', 'remove', 'signal', 'onProgress'];
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new TypeError(`options has an unknown property '${k}'`);
  if (o.until !== undefined && o.until !== 'idle' && o.until !== 'no-active') throw new TypeError(`options.until must be 'idle' or 'no-active', got ${JSON.stringify(o.until)}`);
  for (const k of ['timeout', 'interval'] as const) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < (k === 'interval' ? 10 : 0) || v > 2 ** 31 - 1)) {
      const msg = `options.${k} must be a number of ms ${k === 'interval' ? '10' : '0'}–2147483647, got ${JSON.stringify(v)}`;
      throw typeof v === 'number' ? new RangeError(msg) : new TypeError(msg);
    }
  }
  if (o.remove !== undefined && typeof o.remove !== 'boolean') throw new TypeError(`options.remove must be true or false, got ${JSON.stringify(o.remove)}`);
  const signal = o.signal as Partial<AbortSignalLike> | undefined;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')) {
    throw new TypeError('options.signal must be an AbortSignal');
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError('options.onProgress must be a function');
}

/**
 * Drains one destination of `service` (see {@link Ipvs.drainDestination}).
 * The service key and destination are validated by the caller.
 *
 * @internal
 */
export async function drainDestination(
  ipvs: DrainTarget,
  service: ServiceKey,
  destination: DestinationKey,
  options: DrainOptions,
): Promise<DrainResult> {
  const until = options.until ?? 'idle';
  const interval = options.interval ?? DEFAULT_INTERVAL_MS;
  const signal = options.signal;
  if (signal?.aborted) throw signal.reason;

  const address = canonicalOrSelf(destination.address);
  const find = async (): Promise<Destination> => {
    const found = (await ipvs.listDestinations(service)).find((d) => d.address === address && (destination.port === undefined || d.port === destination.port));
    if (!found) {
      throw new IpvsError(`no real server ${destination.address}${destination.port === undefined ? '' : `:${destination.port}`} in that service`, {
        errno: 2,
        code: 'ENOENT',
        op: 'drainDestination',
      });
    }
    return found;
  };

  const before = await find();
  const previousWeight = before.weight;
  await ipvs.updateDestination(service, specOf(before, 0));
  const started = performance.now();
  const progressOf = (d: Destination): DrainProgress => ({
    activeConnections: d.activeConnections,
    inactiveConnections: d.inactiveConnections,
    persistentConnections: d.persistentConnections,
    elapsedMs: Math.round(performance.now() - started),
  });

  try {
    for (;;) {
      const now = await find();
      if (signal?.aborted) throw signal.reason;
      const progress = progressOf(now);
      options.onProgress?.(progress);
      if (isDrained(now, until)) {
        if (options.remove) await ipvs.deleteDestination(service, { address: now.address, port: now.port });
        return { ...progress, drained: true, removed: options.remove === true, previousWeight };
      }
      const left = options.timeout === undefined ? interval : options.timeout - (performance.now() - started);
      if (left <= 0) return { ...progress, drained: false, removed: false, previousWeight };
      await sleep(Math.min(interval, left), signal);
    }
  } catch (e) {
    if (signal?.aborted) {
      // Put the weight back, on what the destination is now (its other settings may have been edited meanwhile).
      const now = await find();
      await ipvs.updateDestination(service, specOf(now, previousWeight));
      throw signal.reason;
    }
    throw e;
  }
}
