/// <reference lib="esnext.disposable" preserve="true" />
/**
 * The `Ipvs` class: one handle on one network namespace's IPVS table.
 *
 * (The reference above makes the declarations carry the `AsyncDisposable`
 * and `Symbol.asyncDispose` types they use, with no lib setting or
 * @types/node needed by the user; TypeScript 5.2 or later.)
 *
 * @module
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { applyDesired } from './apply.js';
import type { ApplyOptions, ApplyPlan, DesiredService, DesiredState } from './apply.js';

import {
  daemonSpecToRaw,
  daemonStateToRaw,
  describeServiceKey,
  rawToDaemon,
  rawToInfo,
  rawToTimeouts,
  timeoutsToRaw,
} from './convert.js';
import { IpvsError } from './errors.js';
import {
  CMD_DEL_DAEMON,
  CMD_DEL_DEST,
  CMD_DEL_SERVICE,
  CMD_FLUSH,
  CMD_GET_SERVICE,
  CMD_NEW_DAEMON,
  CMD_NEW_DEST,
  CMD_NEW_SERVICE,
  CMD_SET_CONFIG,
  CMD_SET_DEST,
  CMD_SET_SERVICE,
  CMD_ZERO,
} from './kernel.js';
import { canonicalOrSelf } from './address.js';
import { parseConnectionTable } from './connections.js';
import { drainDestination, validateDrainOptions, type DrainOptions, type DrainResult } from './drain.js';
import { native } from './native.js';
import { Pacer } from './pace.js';
import { batchWords, daemonWords, destinationWords, plainWords, refusal, serviceWords } from './refusals.js';
import type { NativeHandle, RawControl, Reply } from './native-types.js';
import { resolveNetnsPath } from './netns-path.js';
import type {
  BatchOp,
  BatchResult,
  Connection,
  ConnectionFilter,
  Daemon,
  DaemonSpec,
  DaemonState,
  Destination,
  DestinationKey,
  DestinationSpec,
  Info,
  Service,
  ServiceKey,
  ServiceSpec,
  OpenOptions,
  ServiceWithDestinations,
  SnapshotOptions,
  Timeouts,
} from './types.js';
import {
  validateBatchOp,
  validateBatchOps,
  validateConnectionFilter,
  validateOpenOptions,
  validateSnapshotOptions,
  validateDaemonSpec,
  validateDaemonState,
  validateDestinationKey,
  validateDestinationSpec,
  validateServiceKey,
  validateServiceSpec,
  validateTimeouts,
} from './validate.js';
import {
  RecordWriter,
  destinationsSlices,
  servicesSlices,
  snapshotSlices,
  tableFingerprint,
  type SlicedDecode,
} from './wire.js';

/**
 * The client's end of a netlink test peer (test/peer): descriptors the
 * handle duplicates, and the port id and first sequence number it uses.
 *
 * @internal
 */
export interface PeerLinkFds {
  socketFd: number;
  eventFd: number;
  portId: number;
  firstSeq: number;
}

function nativeOpenOptions(options: OpenOptions): { replyTimeout?: number } {
  return options.replyTimeout === undefined ? {} : { replyTimeout: options.replyTimeout };
}

// Operations converted and handed to the addon at once: one kernel window
// (native/ipvs/client.cc). Small, so that neither converting a chunk nor the
// pool thread sending one keeps the event loop waiting long (in a one-CPU
// guest the pool thread's page faults are the loop's too; 256 measured
// fewer stalls over 12 ms than 1024, at the same speed). Two chunks are kept
// in flight so the socket never waits for JavaScript.
const BATCH_CHUNK = 256;
/** Reads a consistent snapshot tries before giving up (see SnapshotOptions.maxReads). */
const DEFAULT_CONSISTENT_READS = 5;
const VALIDATE_SLICE = 256;
/** The most connection-table text read (about 2 million entries; a JavaScript string holds at most 512 MiB); past it, EFBIG. */
const CONNECTION_TABLE_MAX_BYTES = 1 << 28;

const OK: BatchResult = Object.freeze({ ok: true });
const ignore = (): void => {};

/** Packs one batch operation (already validated) into the writer. */
function writeBatchOp(w: RecordWriter, op: BatchOp): void {
  switch (op.type) {
    case 'addService':
      return w.serviceSpec(CMD_NEW_SERVICE, op.service);
    case 'updateService':
      return w.serviceSpec(CMD_SET_SERVICE, op.service);
    case 'deleteService':
      return w.serviceKey(CMD_DEL_SERVICE, op.service);
    case 'addDestination':
      return w.destinationSpec(CMD_NEW_DEST, op.service, op.destination);
    case 'updateDestination':
      return w.destinationSpec(CMD_SET_DEST, op.service, op.destination);
    case 'deleteDestination':
      return w.destinationKey(CMD_DEL_DEST, op.service, op.destination);
  }
}

// One writer serves every call: the addon copies the records out before
// native().mutate() returns, and JavaScript runs one call at a time.
const scratch = new RecordWriter(BATCH_CHUNK);

/**
 * A handle on the IPVS table of one network namespace.
 *
 * Every method returns a promise and does its netlink work off the
 * JavaScript thread. Calls may overlap freely: the handle serialises them on
 * its socket and each resolves with its own reply. Input is validated before
 * anything is sent: a wrong value rejects with a `TypeError`/`RangeError`
 * naming the field; a kernel refusal rejects with an {@link IpvsError}.
 *
 * @example
 * ```ts
 * await using ipvs = await Ipvs.open();
 * await ipvs.addService({ protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wlc' });
 * await ipvs.addDestination({ protocol: 'tcp', address: '192.0.2.10', port: 80 },
 *   { address: '10.0.0.2', weight: 100, forwarding: 'route' });
 * ```
 */
export class Ipvs implements AsyncDisposable {
  #handle: NativeHandle | undefined;
  /**
   * The buffer of the last reply, written over by the next read: a table read
   * again and again then costs no fresh memory (in User-Mode Linux each new
   * page is a trap into the kernel). A read in flight owns it, so two
   * concurrent reads never share it. Dropped by close().
   */
  #spare: ArrayBuffer | undefined;
  /** The namespace file this handle's socket lives in, or undefined for the caller's own. */
  readonly netnsPath: string | undefined;
  /**
   * The inode of the network namespace this handle's socket lives in, read
   * from the socket when it was opened (as `stat -L /proc/self/ns/net`
   * shows it). It stays right when the name it was opened by is later
   * deleted and reused for another namespace. 0 when the kernel cannot tell
   * (before Linux 4.9).
   */
  readonly netnsInode: number;

  private constructor(handle: NativeHandle, netnsPath: string | undefined) {
    this.#handle = handle;
    this.netnsPath = netnsPath;
    this.netnsInode = handle.netnsInode;
  }

  /**
   * Opens a generic-netlink socket on the IPVS family, inside `options.netns`
   * when given (the calling thread stays in its own namespace).
   *
   * Rejects with an {@link IpvsError}: `ENOENT` when the namespace or the
   * ip_vs module is missing, `EPERM` without CAP_NET_ADMIN.
   */
  static async open(options: OpenOptions = {}): Promise<Ipvs> {
    validateOpenOptions(options);
    const path = options.netns === undefined ? undefined : resolveNetnsPath(options.netns, 'options.netns');
    const handle = await native().open(path ?? null, nativeOpenOptions(options));
    return new Ipvs(handle, path);
  }

  /**
   * Test only: a handle over a netlink test peer (test/peer) instead of the
   * kernel, through the same native code. Not part of the package's API.
   *
   * @internal
   */
  static async openPeer(link: PeerLinkFds, options: Omit<OpenOptions, 'netns'> = {}): Promise<Ipvs> {
    validateOpenOptions(options);
    const handle = await native().openPeer(link.socketFd, link.eventFd, {
      portId: link.portId,
      firstSeq: link.firstSeq,
      ...nativeOpenOptions(options),
    });
    return new Ipvs(handle, undefined);
  }

  /**
   * Releases the socket once every call made before it has run (a batch in
   * progress stops at its next chunk and rejects). Calls made after it reject
   * with `EBADF`. Idempotent. Nothing keeps the namespace alive after.
   */
  close(): void {
    if (this.#handle) native().close(this.#handle);
    this.#handle = undefined;
    this.#spare = undefined;
  }

  /** Closes the handle; lets `await using ipvs = await Ipvs.open()` clean up. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  #h(op: string): NativeHandle {
    if (!this.#handle) throw new IpvsError('the IPVS handle is closed', { errno: 9, code: 'EBADF', op });
    return this.#handle;
  }

  /**
   * Runs a read call with the spare buffer and decodes its reply before the
   * buffer is handed back (`undefined` when the call found nothing).
   */
  async #read<T>(
    op: string,
    call: (handle: NativeHandle, reuse: ArrayBuffer | undefined) => Promise<Reply | null>,
    decode: (reply: Reply) => SlicedDecode<T>,
  ): Promise<T | undefined> {
    const handle = this.#h(op);
    const spare = this.#spare;
    this.#spare = undefined;
    let buffer = spare;
    try {
      const reply = await call(handle, spare);
      if (!reply) return undefined;
      buffer = reply.records;
      // A slice per turn of the event loop; the buffer stays ours until the last.
      const decoder = decode(reply);
      for (;;) {
        const step = decoder.next();
        if (step.done) return step.value;
        await yieldToEventLoop();
      }
    } finally {
      // Another read may have put a buffer back meanwhile: keep the larger.
      const kept = this.#spare as ArrayBuffer | undefined;
      if (this.#handle && buffer && buffer.byteLength > (kept?.byteLength ?? -1)) this.#spare = buffer;
    }
  }

  /** Sends the one command `write` packs; throws its refusal in words. */
  async #mutateOne(op: string, words: (code: string) => string | undefined, write: (w: RecordWriter) => void): Promise<void> {
    const handle = this.#h(op);
    scratch.reset();
    write(scratch);
    const [failure] = await native().mutate(handle, scratch.records, scratch.names);
    if (failure) throw refusal(op, failure, words);
  }

  async #control(op: string, words: (code: string) => string | undefined, control: RawControl): Promise<void> {
    const [failure] = await native().control(this.#h(op), control);
    if (failure) throw refusal(op, failure, words);
  }

  /** Packs a service key for the read calls that name one service. */
  #keyRecord(key: ServiceKey): [Uint8Array, string[]] {
    scratch.reset();
    scratch.serviceKey(CMD_GET_SERVICE, key);
    return [scratch.records, scratch.names];
  }

  /** The kernel's IPVS version and connection table size (the `ipvsadm -L` header). */
  async info(): Promise<Info> {
    return rawToInfo(await native().info(this.#h('info')));
  }

  /**
   * The IPVS connection table of the handle's namespace (what
   * `/proc/net/ip_vs_conn` and `ipvsadm -Lcn` show), both families,
   * persistence templates included unless `filter.templates` is false. Read
   * in the namespace the handle's socket lives in, not the caller's, on a
   * pool thread; turned into objects a slice at a time, so a table of 100 000
   * entries does not hold the event loop.
   *
   * @param filter - Only the entries of a service and/or real server.
   * @returns The entries, in the kernel's order.
   * @throws TypeError | RangeError for a malformed filter, before anything is read.
   * Rejects with an {@link IpvsError}: `ENOENT` when IPVS is not loaded in
   * the namespace, `EFBIG` for a table over 256 MiB of text.
   */
  async connections(filter: ConnectionFilter = {}): Promise<Connection[]> {
    validateConnectionFilter(filter);
    const wanted: ConnectionFilter = { ...filter };
    if (filter.service) wanted.service = { ...filter.service, address: canonicalOrSelf(filter.service.address) };
    if (filter.destination) wanted.destination = { ...filter.destination, address: canonicalOrSelf(filter.destination.address) };
    const text = await native().connections(this.#h('connections'), CONNECTION_TABLE_MAX_BYTES);
    return parseConnectionTable(text, wanted, new Pacer());
  }

  /**
   * Drains a real server gracefully: sets its weight to 0, so that new
   * connections go to the others while established connections and
   * persistent clients stay, then reads its connection counts every
   * `interval` until it is idle (or, with `until: 'no-active'`, has no
   * active connection), or `timeout` passes; deletes it when drained if
   * `remove` is set. Aborting `signal` puts the weight back and rejects with
   * the signal's reason.
   *
   * @param service - The service.
   * @param destination - The real server (any port when left out and the address is unique in the service).
   * @param options - What to wait for, how long, progress callback, abort signal.
   * @returns The counts at the end, whether the condition was met, and the weight it had.
   * @throws TypeError | RangeError for a malformed argument, before anything is sent.
   * Rejects with an {@link IpvsError}: `ENOENT` when the service has no such real server.
   */
  async drainDestination(service: ServiceKey, destination: DestinationKey, options: DrainOptions = {}): Promise<DrainResult> {
    validateServiceKey(service);
    validateDestinationKey(destination, service);
    validateDrainOptions(options);
    return drainDestination(this, service, destination, options);
  }

  /** Every virtual service with its counters, in the kernel's order. */
  async listServices(): Promise<Service[]> {
    return (await this.#read('listServices', (h, reuse) => native().listServices(h, reuse), servicesSlices))!;
  }

  /** One service, or `undefined` when the kernel has no such service. */
  async getService(key: ServiceKey): Promise<Service | undefined> {
    validateServiceKey(key);
    const [record, names] = this.#keyRecord(key);
    const found = await this.#read('getService', (h, reuse) => native().getService(h, record, names, reuse), servicesSlices);
    return found?.[0];
  }

  /** Creates a virtual service. Rejects with `EEXIST` when it exists. */
  async addService(spec: ServiceSpec): Promise<void> {
    validateServiceSpec(spec);
    await this.#mutateOne('addService', serviceWords(spec, spec), (w) => w.serviceSpec(CMD_NEW_SERVICE, spec));
  }

  /**
   * Replaces a service's settings in place (connections and counters stay).
   * Settings left out take their defaults, as with `ipvsadm -E`.
   * Rejects with `ESRCH` when the service does not exist.
   */
  async updateService(spec: ServiceSpec): Promise<void> {
    validateServiceSpec(spec);
    await this.#mutateOne('updateService', serviceWords(spec, spec), (w) => w.serviceSpec(CMD_SET_SERVICE, spec));
  }

  /** Deletes a service and its destinations. Rejects with `ESRCH` when missing. */
  async deleteService(key: ServiceKey): Promise<void> {
    validateServiceKey(key);
    await this.#mutateOne('deleteService', serviceWords(key), (w) => w.serviceKey(CMD_DEL_SERVICE, key));
  }

  /** The destinations (real servers) of a service. Rejects with `ESRCH` when the service is missing. */
  async listDestinations(key: ServiceKey): Promise<Destination[]> {
    validateServiceKey(key);
    try {
      const [record, names] = this.#keyRecord(key);
      return (await this.#read('listDestinations', (h, reuse) => native().listDests(h, record, names, reuse), destinationsSlices))!;
    } catch (e) {
      if (e instanceof IpvsError && e.code === 'ESRCH') {
        throw new IpvsError(`no such service ${describeServiceKey(key)} (ESRCH)`, {
          errno: e.errno,
          code: e.code,
          op: 'listDestinations',
          ...(e.extack === undefined ? {} : { extack: e.extack }),
        });
      }
      throw e;
    }
  }

  /** Adds a real server to a service. Rejects with `EEXIST` when it is already there. */
  async addDestination(key: ServiceKey, spec: DestinationSpec): Promise<void> {
    validateServiceKey(key);
    validateDestinationSpec(spec, key);
    await this.#mutateOne('addDestination', destinationWords(key, spec), (w) => w.destinationSpec(CMD_NEW_DEST, key, spec));
  }

  /**
   * Replaces a real server's settings in place (weight, forwarding,
   * thresholds, tunnel). Settings left out take their defaults.
   */
  async updateDestination(key: ServiceKey, spec: DestinationSpec): Promise<void> {
    validateServiceKey(key);
    validateDestinationSpec(spec, key);
    await this.#mutateOne('updateDestination', destinationWords(key, spec), (w) =>
      w.destinationSpec(CMD_SET_DEST, key, spec),
    );
  }

  /** Removes a real server from a service. */
  async deleteDestination(key: ServiceKey, dest: DestinationKey): Promise<void> {
    validateServiceKey(key);
    validateDestinationKey(dest, key);
    await this.#mutateOne('deleteDestination', destinationWords(key, dest), (w) =>
      w.destinationKey(CMD_DEL_DEST, key, dest),
    );
  }

  /**
   * The whole table, every service with its destinations, in one pass.
   *
   * The records of the last read are kept (one buffer per `Ipvs`, up to
   * ~160 bytes per service and destination; released by `close()`) and written
   * over by the next read, so a table watched in a loop costs no fresh memory.
   * The records become objects 1024 at a time, a slice per turn of the event
   * loop, so a large table does not hold the loop for the whole decode.
   *
   * While the table changes, a read can miss an entry (never repeat one):
   * `{ consistent: true }` reads until two reads in a row agree.
   */
  async snapshot(options: SnapshotOptions = {}): Promise<ServiceWithDestinations[]> {
    validateSnapshotOptions(options);
    if (!options.consistent) return (await this.#read('snapshot', (h, reuse) => native().snapshot(h, reuse), snapshotSlices))!;
    const maxReads = options.maxReads ?? DEFAULT_CONSISTENT_READS;
    const consistentRead = async (h: NativeHandle, reuse: ArrayBuffer | undefined): Promise<Reply> => {
      let reply = await native().snapshot(h, reuse);
      let print = tableFingerprint(reply);
      for (let reads = 1; reads < maxReads; reads++) {
        // The last read's buffer takes the next: only its fingerprint is kept.
        const next = await native().snapshot(h, reply.records);
        const nextPrint = tableFingerprint(next);
        if (nextPrint === print) return next;
        reply = next;
        print = nextPrint;
      }
      throw new IpvsError(`the table kept changing: no two of ${maxReads} reads in a row agreed`, {
        errno: 11,
        code: 'EAGAIN',
        op: 'snapshot',
      });
    };
    return (await this.#read('snapshot', consistentRead, snapshotSlices))!;
  }

  /** Deletes every service and destination (`ipvsadm -C`). */
  async flush(): Promise<void> {
    await this.#mutateOne('flush', plainWords, (w) => w.bare(CMD_FLUSH));
  }

  /** Zeroes the counters of one service, or of every service (`ipvsadm -Z`). */
  async zero(key?: ServiceKey): Promise<void> {
    if (key === undefined) return this.#mutateOne('zero', plainWords, (w) => w.bare(CMD_ZERO));
    validateServiceKey(key);
    await this.#mutateOne('zero', serviceWords(key), (w) => w.serviceKey(CMD_ZERO, key));
  }

  /** Connection timeouts in seconds (`ipvsadm -L --timeout`). */
  async getTimeouts(): Promise<Timeouts> {
    return rawToTimeouts(await native().getTimeouts(this.#h('getTimeouts')));
  }

  /** Sets connection timeouts in seconds; absent or 0 keeps the current value. */
  async setTimeouts(timeouts: Partial<Timeouts>): Promise<void> {
    validateTimeouts(timeouts);
    await this.#control('setTimeouts', plainWords, { cmd: CMD_SET_CONFIG, timeouts: timeoutsToRaw(timeouts) });
  }

  /** The running connection-synchronisation daemons. */
  async listDaemons(): Promise<Daemon[]> {
    return (await native().listDaemons(this.#h('listDaemons'))).map(rawToDaemon);
  }

  /** Starts a sync daemon (`ipvsadm --start-daemon`). Rejects with `EEXIST` when one of that role runs. */
  async startDaemon(spec: DaemonSpec): Promise<void> {
    validateDaemonSpec(spec);
    await this.#control('startDaemon', daemonWords(spec.state, spec.interface), {
      cmd: CMD_NEW_DAEMON,
      daemon: daemonSpecToRaw(spec),
    });
  }

  /** Stops the sync daemon of a role (`ipvsadm --stop-daemon`). Rejects with `ESRCH` when none runs. */
  async stopDaemon(state: DaemonState): Promise<void> {
    validateDaemonState(state);
    const [failure] = await native().control(this.#h('stopDaemon'), {
      cmd: CMD_DEL_DAEMON,
      daemon: { state: daemonStateToRaw(state) },
    });
    // A daemon stopped before its kernel thread first ran: the kernel stops it
    // but answers nothing (-EINTR, which netlink does not acknowledge). It is
    // stopped all the same, which is what the caller asked for.
    if (failure && failure.code !== 'EINTR') throw refusal('stopDaemon', failure, daemonWords(state));
  }

  /**
   * Runs many service and destination operations pipelined on this handle's
   * socket (a bounded window of requests in flight, ACKs matched by sequence
   * number) and reports each outcome in order. A refusal does not stop the
   * rest. Every operation is validated before any is sent: one bad operation
   * rejects the whole call with a `TypeError`/`RangeError` naming `ops[i]`,
   * and nothing reaches the kernel.
   */
  async batch(ops: readonly BatchOp[]): Promise<BatchResult[]> {
    validateBatchOps(ops);
    for (let start = 0; start < ops.length; start += VALIDATE_SLICE) {
      const end = Math.min(ops.length, start + VALIDATE_SLICE);
      for (let i = start; i < end; i++) validateBatchOp(ops[i], 'ops', i);
      if (start + VALIDATE_SLICE < ops.length) await yieldToEventLoop();
    }
    const handle = this.#h('batch');
    const results: BatchResult[] = new Array(ops.length);
    const sendChunk = (start: number): Promise<void> => {
      const end = Math.min(ops.length, start + BATCH_CHUNK);
      scratch.reset();
      for (let i = start; i < end; i++) writeBatchOp(scratch, ops[i]!);
      return native().mutate(handle, scratch.records, scratch.names).then((failures) => {
        for (let i = 0; i < failures.length; i++) {
          const failure = failures[i];
          const op = ops[start + i]!;
          results[start + i] = failure ? { ok: false, error: refusal(op.type, failure, batchWords(op)) } : OK;
        }
      });
    };
    // Two chunks in flight. Each is watched from the moment it is sent: one
    // that fails (the handle closed under us) while we wait for the other
    // must not be an unhandled rejection, which ends the process.
    let inFlight: Promise<void> | undefined;
    try {
      for (let start = 0; start < ops.length; start += BATCH_CHUNK) {
        const next = sendChunk(start);
        next.catch(ignore);
        const previous = inFlight;
        inFlight = next;
        if (previous) await previous;
        if (start + BATCH_CHUNK < ops.length) await yieldToEventLoop();
      }
      await inFlight;
    } catch (e) {
      await inFlight?.catch(ignore); // nothing of this call runs after it has failed
      throw e;
    }
    return results;
  }

  /**
   * Brings this namespace's table to `desired` with the fewest changes and
   * returns the plan with each step's outcome. Missing services and real
   * servers are created, differing ones edited in place (connections and
   * counters stay), left-out ones deleted as `options.prune` allows
   * (`'owned'` by default: only what applies of the same owner created, as
   * recorded in a state file; see docs/apply.md). Steps run pipelined through
   * {@link Ipvs.batch}; a refusal fails its step, not the apply. Applying the
   * same state again gives an empty plan; an apply interrupted half-way is
   * completed by the next one.
   *
   * @example
   * ```ts
   * const plan = await ipvs.apply({ owner: 'web', services: [{ protocol: 'tcp', address: '192.0.2.10', port: 80,
   *   destinations: [{ address: '10.0.0.2', weight: 1000 }, { address: '10.0.0.3', weight: 500 }] }] });
   * if (!plan.ok) for (const s of plan.steps) if (s.error) console.error(s.error.message);
   * ```
   */
  async apply(desired: DesiredState | readonly DesiredService[], options: ApplyOptions = {}): Promise<ApplyPlan> {
    return applyDesired(this, desired, options);
  }
}
