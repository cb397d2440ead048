/**
 * `ipvs-ts adm`: ipvsadm's command line run through the {@link Ipvs} API,
 * with ipvsadm 1.31's output, messages and exit statuses (0 success, 2 for
 * its own checks, 255 for popt errors and kernel refusals, 1 when a listing
 * cannot be read).
 *
 * Where ipvs-ts's validation is stricter than the kernel, the refusal the
 * kernel would give is reproduced (an unknown scheduler or persistence
 * engine, a lower threshold above the upper one, an impossible interface
 * name); the few inputs ipvs-ts cannot send at all are refused with exit
 * status 2 and ipvs-ts's message (docs/cli.md lists them).
 *
 * @internal
 * @module
 */

import { readFile, readdir, stat } from 'node:fs/promises';

import { IpvsError } from '../errors.js';
import type { Ipvs } from '../ipvs.js';
import { canonicalSchedFlags, type NameResolver } from '../ipvsadm/common.js';
import { numberToIPv4 } from '../address.js';
import { formatDaemons, formatListing, formatServiceListing, formatTimeouts } from '../ipvsadm/listing.js';
import { tunnelOptions } from '../ipvsadm/options.js';
import { formatIpvsadmRules } from '../ipvsadm/rules.js';
import { resolveNetnsPath } from '../netns-path.js';
import type {
  BatchOp,
  DaemonSpec,
  DestinationKey,
  DestinationSpec,
  Persistence,
  ServiceKey,
  ServiceSpec,
  ServiceWithDestinations,
} from '../types.js';
import { validateBatchOp } from '../validate.js';
import {
  type AdmLookups,
  type AdmRequest,
  type AdmTexts,
  AdmExit,
  AdmPoptError,
  parseAdmArgs,
  restoreLineWords,
} from './adm-parse.js';
import { connectionAddresses, formatConnections, parseConnTable } from './conn.js';
import type { CliIo } from './io.js';
import { type AdmOperation, ipvsStrerror } from './messages.js';
import { lookupHost, reverseResolver, tableAddresses } from './names.js';

/** What `runAdm` needs around it. */
export interface AdmContext {
  io: CliIo;
  /** The IPVS handle, opened on first use; rejects with an {@link IpvsError}. */
  ipvs(): Promise<Ipvs>;
  /** `--netns`, for the connection table and messages. */
  netns?: string;
  /** Program name in messages (`ipvs-ts adm`). */
  program: string;
  /** The package version, for `-v`. */
  version: string;
}

/** `ipvsadm -h`, with the program name of `ctx`. */
export function admUsage(program: string, versionLine: string): string {
  const p = program;
  return `${versionLine}Usage:
  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  ${p} -D virtual-service
  ${p} -C
  ${p} -R
  ${p} -S [-n]
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -L|l [virtual-service] [options]
  ${p} -Z [virtual-service]
  ${p} --set tcp tcpfin udp
  ${p} --start-daemon {master|backup} [daemon-options]
  ${p} --stop-daemon {master|backup}
  ${p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
`;
}

// ---------------------------------------------------------------------------
// From the command line to the API's types

function serviceKey(r: AdmRequest): ServiceKey {
  const s = r.svc;
  if (s.fwmark) return { fwmark: s.fwmark, family: s.family ?? 'inet' };
  return { protocol: s.protocol ?? 'tcp', address: s.address as string, port: s.port };
}

function serviceSpec(r: AdmRequest): ServiceSpec {
  const s = r.svc;
  const spec: ServiceSpec = { ...serviceKey(r), scheduler: s.scheduler };
  if (s.persistent !== undefined) {
    const persistence: Persistence = { timeout: s.persistent };
    if ((s.family ?? 'inet') === 'inet') {
      if (s.netmask !== 0xffffffff) persistence.netmask = numberToIPv4(s.netmask);
    } else if (s.netmask !== 128) persistence.netmask = s.netmask;
    spec.persistence = persistence;
  }
  if (s.onePacket) spec.onePacket = true;
  if (s.schedFlags) spec.schedulerFlags = canonicalSchedFlags(s.scheduler, s.schedFlags);
  if (s.pe) spec.persistenceEngine = s.pe as 'sip';
  return spec;
}

function destinationSpec(r: AdmRequest): DestinationSpec {
  const d = r.dest;
  const spec: DestinationSpec = {
    address: d.address as string,
    port: d.port,
    forwarding: d.forwarding,
    weight: d.weight,
    upperThreshold: d.upper,
    lowerThreshold: d.lower,
  };
  if (d.forwarding === 'tunnel') spec.tunnel = tunnelOptions(d.tunType, d.tunPort, d.tunFlags);
  return spec;
}

function destinationKey(r: AdmRequest): DestinationKey {
  return { address: r.dest.address as string, port: r.dest.port };
}

function daemonSpec(r: AdmRequest): DaemonSpec {
  const d = r.daemon;
  const spec: DaemonSpec = { state: d.state ?? 'master', interface: d.iface, syncId: d.syncId };
  if (d.maxLength !== undefined) spec.maxLength = d.maxLength;
  if (d.group !== undefined) spec.group = d.group;
  if (d.port !== undefined) spec.port = d.port;
  if (d.ttl !== undefined) spec.ttl = d.ttl;
  return spec;
}

/** The batch operation of a table edit, when it can go out unchanged (no kernel refusal to imitate). */
function batchOp(r: AdmRequest): BatchOp | undefined {
  switch (r.cmd) {
    case 'add-service':
    case 'edit-service':
      if (imitatedServiceRefusal(r)) return undefined;
      return { type: r.cmd === 'add-service' ? 'addService' : 'updateService', service: serviceSpec(r) };
    case 'delete-service':
      return { type: 'deleteService', service: serviceKey(r) };
    case 'add-server':
    case 'edit-server':
      if (r.dest.lower > r.dest.upper) return undefined;
      return {
        type: r.cmd === 'add-server' ? 'addDestination' : 'updateDestination',
        service: serviceKey(r),
        destination: destinationSpec(r),
      };
    case 'delete-server':
      return { type: 'deleteDestination', service: serviceKey(r), destination: destinationKey(r) };
    default:
      return undefined;
  }
}

const OPERATION_OF: Record<BatchOp['type'], AdmOperation> = {
  addService: 'addService',
  updateService: 'updateService',
  deleteService: 'deleteService',
  addDestination: 'addDestination',
  updateDestination: 'updateDestination',
  deleteDestination: 'deleteDestination',
};

/** A scheduler or engine name the kernel would look for and not find (ipvs-ts refuses to send it). */
function imitatedServiceRefusal(r: AdmRequest): boolean {
  return !/^[A-Za-z0-9_-]+$/.test(r.svc.scheduler) || (r.svc.pe !== '' && r.svc.pe !== 'sip');
}

/** A kernel refusal, printed as ipvsadm prints it: one line, then status 255. */
class Refusal extends Error {
  constructor(readonly text: string) {
    super(text);
  }
}

function refusal(operation: AdmOperation, e: unknown): Refusal {
  if (e instanceof IpvsError) return new Refusal(ipvsStrerror(operation, e.code, e.errno));
  if (e instanceof TypeError || e instanceof RangeError) {
    // Input ipvsadm would send but ipvs-ts cannot express (docs/cli.md).
    throw new AdmExit(2, `ipvs-ts cannot do this: ${e.message}\n`);
  }
  throw e;
}

// ---------------------------------------------------------------------------
// Running one command

interface Runner {
  ctx: AdmContext;
  texts: AdmTexts;
  /** Inside `-R`: popt errors go on, a nested -R stops. */
  restoring: boolean;
}

async function names(numeric: boolean, addresses: () => string[]): Promise<NameResolver | undefined> {
  return numeric ? undefined : reverseResolver(addresses());
}

/** Runs one parsed request; resolves to ipvsadm's result (0, or -1 after a printed refusal). */
async function execute(run: Runner, r: AdmRequest): Promise<number> {
  const { ctx } = run;
  const out = (s: string): void => void ctx.io.stdout.write(s);
  const ipvs = await ctx.ipvs();
  try {
    switch (r.cmd) {
      case 'list':
        await list(run, ipvs, r);
        return 0;
      case 'save': {
        const table = await readTable(ipvs);
        out(formatIpvsadmRules(table, { numeric: r.format.numeric, ...(await namesOption(r, table)) }));
        return 0;
      }
      case 'restore':
        if (run.restoring) throw tryHelp(run.texts);
        return await restore(run);
      case 'flush':
        await ipvs.flush().catch((e: unknown) => Promise.reject(refusal('other', e)));
        return 0;
      case 'zero':
        await (r.options.has('service-address') ? ipvs.zero(serviceKey(r)) : ipvs.zero()).catch((e: unknown) =>
          Promise.reject(refusal('zero', e)),
        );
        return 0;
      case 'set':
        await ipvs.setTimeouts(r.timeouts ?? {}).catch((e: unknown) => Promise.reject(refusal('other', e)));
        return 0;
      case 'start-daemon': {
        const spec = daemonSpec(r);
        // An impossible interface name is one the kernel finds no device for.
        if (spec.interface === '.' || spec.interface === '..' || /[/:\s]/.test(spec.interface))
          throw new Refusal(ipvsStrerror('startDaemon', 'ENODEV', 19));
        await ipvs.startDaemon(spec).catch((e: unknown) => Promise.reject(refusal('startDaemon', e)));
        return 0;
      }
      case 'stop-daemon':
        await ipvs.stopDaemon(r.daemon.state ?? 'master').catch((e: unknown) => Promise.reject(refusal('stopDaemon', e)));
        return 0;
      default:
        return await edit(ipvs, r);
    }
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    ctx.io.stderr.write(`${e.text}\n`);
    return -1;
  }
}

/** -A -E -D -a -e -d, with the kernel's refusals imitated where ipvs-ts would not send. */
async function edit(ipvs: Ipvs, r: AdmRequest): Promise<number> {
  const op = batchOp(r);
  const key = serviceKey(r);
  const exists = async (): Promise<boolean> => (await ipvs.getService(key)) !== undefined;
  if (!op) {
    // The kernel looks the service up first, then at the scheduler, engine or thresholds.
    const adding = r.cmd === 'add-service';
    const operation: AdmOperation = adding ? 'addService' : r.cmd === 'edit-service' ? 'updateService' : r.cmd === 'add-server' ? 'addDestination' : 'updateDestination';
    const present = await exists();
    if (adding && present) throw new Refusal(ipvsStrerror(operation, 'EEXIST', 17));
    if (!adding && !present) throw new Refusal(ipvsStrerror(operation, 'ESRCH', 3));
    throw new Refusal(r.cmd.endsWith('server') ? ipvsStrerror(operation, 'ERANGE', 34) : ipvsStrerror(operation, 'ENOENT', 2));
  }
  const operation = OPERATION_OF[op.type];
  try {
    switch (op.type) {
      case 'addService':
        await ipvs.addService(op.service);
        break;
      case 'updateService':
        await ipvs.updateService(op.service);
        break;
      case 'deleteService':
        await ipvs.deleteService(op.service);
        break;
      case 'addDestination':
        await ipvs.addDestination(op.service, op.destination);
        break;
      case 'updateDestination':
        await ipvs.updateDestination(op.service, op.destination);
        break;
      case 'deleteDestination':
        await ipvs.deleteDestination(op.service, op.destination);
        break;
    }
  } catch (e) {
    throw refusal(operation, e);
  }
  return 0;
}

async function readTable(ipvs: Ipvs): Promise<ServiceWithDestinations[]> {
  try {
    return await ipvs.snapshot();
  } catch (e) {
    if (e instanceof IpvsError) throw new AdmExit(1, `${ipvsStrerror('getService', e.code, e.errno)}\n`);
    throw e;
  }
}

async function namesOption(r: AdmRequest, table: ServiceWithDestinations[]): Promise<{ names?: NameResolver }> {
  const n = await names(r.format.numeric, () => tableAddresses(table));
  return n ? { names: n } : {};
}

function listingOptions(r: AdmRequest, resolver: NameResolver | undefined) {
  const f = r.format;
  return {
    numeric: f.numeric,
    ...(resolver ? { names: resolver } : {}),
    stats: f.stats,
    rate: f.rate,
    exact: f.exact,
    thresholds: f.thresholds,
    persistentConn: f.persistentConn,
    tunInfo: f.tunInfo,
    sort: !f.nosort,
  };
}

async function list(run: Runner, ipvs: Ipvs, r: AdmRequest): Promise<void> {
  const { io } = run.ctx;
  if (r.options.has('connection')) {
    const text = await connectionTable(run.ctx);
    const entries = parseConnTable(text);
    const resolver = await names(r.format.numeric, () => connectionAddresses(entries));
    io.stdout.write(formatConnections(entries, r.format.persistentConn, resolver));
    return;
  }
  if (r.options.has('service-address')) {
    const key = serviceKey(r);
    let service: ServiceWithDestinations | undefined;
    try {
      const s = await ipvs.getService(key);
      if (s) service = { ...s, destinations: await ipvs.listDestinations(key) };
    } catch (e) {
      if (!(e instanceof IpvsError)) throw e;
      throw new AdmExit(1, `${ipvsStrerror('getService', e.code, e.errno)}\n`);
    }
    if (!service) throw new AdmExit(1, `${ipvsStrerror('getService', 'ESRCH', 3)}\n`);
    const resolver = await names(r.format.numeric, () => tableAddresses([service]));
    io.stdout.write(formatServiceListing(service, listingOptions(r, resolver)));
    return;
  }
  if (r.options.has('timeout')) {
    // ipvsadm exits 1 without a word when these cannot be read.
    const t = await ipvs.getTimeouts().catch(() => Promise.reject(new AdmExit(1, '')));
    io.stdout.write(formatTimeouts(t));
    return;
  }
  if (r.options.has('daemon')) {
    const d = await ipvs.listDaemons().catch(() => Promise.reject(new AdmExit(1, '')));
    io.stdout.write(formatDaemons(d));
    return;
  }
  const info = await ipvs.info().catch((e: unknown) =>
    Promise.reject(e instanceof IpvsError ? new AdmExit(1, `${ipvsStrerror('other', e.code, e.errno)}\n`) : e),
  );
  const table = await readTable(ipvs);
  const resolver = await names(r.format.numeric, () => tableAddresses(table));
  io.stdout.write(formatListing(info, table, listingOptions(r, resolver)));
}

/**
 * The connection table of the namespace: the caller's own through
 * /proc/net, another's through /proc/PID/net of a process living in it.
 */
async function connectionTable(ctx: AdmContext): Promise<string> {
  const fail = (): never => {
    throw new AdmExit(1, 'cannot open file /proc/net/ip_vs_conn\n');
  };
  if (ctx.netns === undefined) return readFile('/proc/net/ip_vs_conn', 'utf8').catch(fail);
  const target = await stat(resolveNetnsPath(ctx.netns)).catch(fail);
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if ((await stat(`/proc/${pid}/ns/net`)).ino === target.ino) return await readFile(`/proc/${pid}/net/ip_vs_conn`, 'utf8');
    } catch {
      // Gone, or not ours to look at.
    }
  }
  throw new AdmExit(
    1,
    `cannot read the connection table of network namespace ${ctx.netns}: no process lives there; ` +
      `run \`ip netns exec ${ctx.netns} ${ctx.program} -L -c\` instead\n`,
  );
}

// ---------------------------------------------------------------------------
// -R

/**
 * ipvsadm's restore_table: each line of standard input run as a command line.
 * Runs of table edits go out as one pipelined batch; every refusal is printed
 * in order, as ipvsadm prints them one by one. A line ipvsadm fails on stops
 * everything after it (exit 2 or 255); the result is the last line's.
 */
async function restore(run: Runner): Promise<number> {
  const { ctx } = run;
  const ipvs = await ctx.ipvs();
  const text = await ctx.io.readStdin();
  const inner: Runner = { ...run, restoring: true };
  let result = 0;
  let pending: BatchOp[] = [];
  const flush = async (): Promise<void> => {
    if (!pending.length) return;
    const ops = pending;
    pending = [];
    const results = await ipvs.batch(ops);
    results.forEach((res, i) => {
      if (res.ok) result = 0;
      else {
        ctx.io.stderr.write(`${ipvsStrerror(OPERATION_OF[(ops[i] as BatchOp).type], res.error.code, res.error.errno)}\n`);
        result = -1;
      }
    });
  };
  try {
    for (const line of text.split('\n')) {
      const words = restoreLineWords(line);
      if (!words) continue;
      let request: AdmRequest;
      try {
        request = await parse(words, inner.texts);
      } catch (e) {
        if (!(e instanceof AdmPoptError)) throw e;
        await flush();
        ctx.io.stderr.write(e.stderr);
        result = -1;
        continue;
      }
      const op = batchOp(request);
      if (op && isValid(op)) {
        pending.push(op);
        continue;
      }
      await flush();
      result = await execute(inner, request);
    }
  } finally {
    await flush();
  }
  return result;
}

function isValid(op: BatchOp): boolean {
  try {
    validateBatchOp(op);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Entry point

function tryHelp(texts: AdmTexts): AdmExit {
  return new AdmExit(255, `Try \`${texts.program} -h' or '${texts.program} --help' for more information.\n`);
}

/**
 * Parses with host names resolved: a first pass notes the names it could not
 * read as addresses, they are looked up (`getaddrinfo`, IPv4), then the
 * command line is parsed again knowing them.
 */
async function parse(words: readonly string[], texts: AdmTexts): Promise<AdmRequest> {
  const known = new Map<string, string | undefined>();
  const missing = new Set<string>();
  const lookups: AdmLookups = {
    hostByName: (name) => {
      if (known.has(name)) return known.get(name);
      missing.add(name);
      return undefined;
    },
  };
  try {
    return parseAdmArgs(words, texts, lookups);
  } catch (e) {
    if (!missing.size || !(e instanceof AdmExit) || e.status === 0) throw e;
  }
  for (const name of missing) known.set(name, await lookupHost(name));
  return parseAdmArgs(words, texts, lookups);
}

/**
 * Runs an ipvsadm command line (the words after `adm`) and resolves to the
 * exit status ipvsadm would have: 0, 1 (a listing could not be read), 2 (its
 * own checks), 255 (popt errors, kernel refusals).
 */
export async function runAdm(words: readonly string[], ctx: AdmContext): Promise<number> {
  const versionLine = `${ctx.program} ${ctx.version} (ipvsadm v1.31 compatible, IPVS generic netlink)\n`;
  const texts: AdmTexts = {
    program: ctx.program,
    usage: () => admUsage(ctx.program, versionLine),
    version: () => versionLine,
  };
  const run: Runner = { ctx, texts, restoring: false };
  try {
    // ipvsadm with no arguments lists the table, names resolved.
    const request = await parse(words.length ? words : ['-L'], texts);
    const result = await execute(run, request);
    return result === 0 ? 0 : 255;
  } catch (e) {
    if (e instanceof AdmExit) {
      ctx.io.stdout.write(e.stdout);
      ctx.io.stderr.write(e.stderr);
      return e.status;
    }
    if (e instanceof IpvsError && e.op === 'open') {
      ctx.io.stderr.write(
        `Can't initialize ipvs: ${e.code === 'ENOENT' ? 'Protocol not available' : ipvsStrerror('other', e.code, e.errno)}\n` +
          'Are you sure that IP Virtual Server is built in the kernel or as module?\n',
      );
      return 2;
    }
    throw e;
  }
}
