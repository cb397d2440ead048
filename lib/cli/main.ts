/**
 * The `ipvs-ts` command: `adm` (ipvsadm's command line, byte-compatible) and
 * the friendly commands `list`, `conns`, `save`, `restore`, `apply`, `check`, `realserver`.
 * `bin/ipvs-ts.js` calls {@link main} with the process's arguments.
 *
 * Exit statuses of the friendly commands: 0 success, 1 the kernel (or the
 * host) refused something, 2 bad usage or input. `adm` exits as ipvsadm does.
 *
 * @module
 */

import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type ParseArgsConfig, parseArgs } from 'node:util';

import { applyDesired, checkDesiredState, describePlan, type ApplyPlan, type DesiredStateProblem, type PruneMode } from '../apply.js';
import { IpvsError } from '../errors.js';
import { Ipvs } from '../ipvs.js';
import { compareServices, glibcMergeSort } from '../ipvsadm/common.js';
import { formatListing } from '../ipvsadm/listing.js';
import { IpvsadmRulesError, formatIpvsadmRules, parseIpvsadmRules } from '../ipvsadm/rules.js';
import { resolveNetnsPath } from '../netns-path.js';
import { StateFileError } from '../state-file.js';
import type { DrainUntil } from '../drain.js';
import type { AddressServiceKey, BatchOp, Connection, ConnectionFilter } from '../types.js';
import { runAdm } from './adm.js';
import { DesiredFileError, parseDesired } from './desired.js';
import { type CliIo, InputError, processIo, progress, readInput } from './io.js';
import { toJson } from './json.js';
import { RealServerStateError, defaultStatePath, realServerRestore, realServerSetup } from './realserver.js';
import { importKeepalived } from './keepalived.js';
import { planRun, runChecks } from './run.js';
import { SORT_KEYS, runTop, type SortKey } from './top.js';
import { serveMetrics } from '../metrics.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const USAGE = `Usage: ipvs-ts [--netns NAME] COMMAND [ARGUMENTS]

Linux IPVS over generic netlink, without ipvsadm.

Commands:
  adm IPVSADM-ARGUMENTS   ipvsadm 1.31's command line, output and exit statuses
                          (ipvs-ts adm -h lists them)
  list [--stats|--rate] [--exact] [--json]
                          the table, as ipvsadm -Ln prints it, or as JSON
  save                    the table as rules (ipvsadm -Sn)
  restore [--flush] [FILE]
                          load rules (ipvsadm -S format) from FILE or standard
                          input, all in one pipelined batch
  apply FILE [--dry-run] [--prune owned|all|none] [--owner NAME] [--json]
                          make the table equal to FILE (JSON or rules) with the
                          fewest changes; see docs/apply.md
  conns [-t|-u|--sctp-service VIP:PORT] [-r ADDRESS[:PORT]] [--no-templates] [--json]
                          the connection table (ipvsadm -Lcn), filtered
  drain -t|-u|--sctp-service VIP:PORT -r ADDRESS[:PORT] [--until idle|no-active]
        [--timeout SECONDS] [--interval SECONDS] [--remove] [--json]
                          weight 0, then wait until the real server is idle
  run FILE [--owner NAME] [--prune owned|all|none] [--json] [--restore-on-exit]
      [--metrics ADDRESS:PORT]
                          apply FILE and keep its real servers health-checked;
                          SIGHUP reloads, SIGTERM/SIGINT stop; see docs/health.md
  import keepalived FILE  keepalived.conf's virtual_server blocks as a run FILE
  metrics --listen ADDRESS:PORT
                          serve the table as Prometheus metrics on /metrics
  top [--interval SECONDS] [--sort KEY]
                          the table with rates, refreshed (q quits)
  check FILE [--owner NAME] [--json]
                          validate FILE as apply would, without a kernel;
                          every problem with its field path (exit 2 if any)
  realserver setup --vip ADDRESS... [--dev IFACE]... [--tunnel] [--state FILE]
  realserver restore [--state FILE]
                          prepare an LVS-DR/TUN real server, and undo it later
  help [COMMAND]          this text, or a command's
  version                 the version

Options:
  --netns NAME            act in network namespace NAME (/run/netns/NAME) or a
                          namespace file path such as /proc/PID/ns/net
  -h, --help              help; after a command, that command's

Exit status: 0 success, 1 a refusal by the kernel or host, 2 bad usage or input
(adm: as ipvsadm). With --json, an error is one JSON line on standard error:
{"error": {"command", "message", "exitCode", "kind", ...}}.
`;

const HELP: Record<string, string> = {
  list: `Usage: ipvs-ts list [--stats | --rate] [--exact] [--json]

Prints the IPVS table as \`ipvsadm -Ln\` does (with --stats or --rate, as
\`ipvsadm -Ln --stats\` / \`--rate\`; --exact for full counters).

--json prints {"ipvs": {"version", "connectionTableSize"}, "services": [...]}:
each service as the ipvs-ts API reads it, with its "destinations". 64-bit
counters ("stats": conns, inPkts, outPkts, inBytes, outBytes) are decimal
strings, so no JSON reader loses digits; rates are numbers. The output is a
valid FILE for \`ipvs-ts apply\` (counters are ignored there).
`,
  save: `Usage: ipvs-ts save

Prints the table as rules, byte for byte as \`ipvsadm -Sn\` does.
`,
  restore: `Usage: ipvs-ts restore [--flush] [FILE]

Reads rules in the \`ipvsadm -S\` format (-A and -a lines) from FILE or
standard input and adds them in one pipelined batch. Every line is checked
before anything is sent: a bad line stops the restore with its line number
(exit 2). --flush empties the table first. Refusals by the kernel are printed
with their line number (exit 1). On a terminal, progress is shown on standard
error.
`,
  apply: `Usage: ipvs-ts apply FILE [--dry-run] [--prune owned|all|none] [--owner NAME] [--json]

Makes the table equal to FILE with the fewest changes: missing services and
real servers are created, differing ones edited in place (connections and
counters stay), and left-out ones deleted according to --prune:
  owned  (default) only those that earlier applies with the same owner created
  all    every entry FILE leaves out
  none   nothing
FILE (- for standard input) is JSON — {"owner": "web", "services": [...]},
a bare array of services, or what \`ipvs-ts list --json\` prints — or rules
in the \`ipvsadm -S\` format. --owner overrides the file's owner (default
"default"). --dry-run prints the plan without changing anything. --json
prints the plan as JSON. Exit status 1 when a step failed. See docs/apply.md.
`,
  conns: `Usage: ipvs-ts conns [-t|-u|--sctp-service VIP:PORT] [-r ADDRESS[:PORT]] [--no-templates] [--json]

Prints the IPVS connection table of the namespace (what ipvsadm -Lcn shows),
one entry per line: protocol, state, time to expiry, client, virtual service
and real server; persistence templates (client port 0) are marked. -t, -u
and --sctp-service keep the entries of one service; -r those of one real
server (any port unless given; an IPv6 address in brackets with a port).
--no-templates leaves the templates out. --json prints {"connections": [...]}
with each entry as ipvs.connections() returns it (expiresMs in ms).
`,
  drain: `Usage: ipvs-ts drain -t|-u|--sctp-service VIP:PORT -r ADDRESS[:PORT]
                     [--until idle|no-active] [--timeout SECONDS] [--interval SECONDS] [--remove] [--json]

Drains a real server gracefully: its weight goes to 0, so new connections go
to the others while established ones and persistent clients stay; then its
connection counts are printed every --interval (default 1 s) until it is
idle (no active, inactive or persistent connections; --until no-active: no
active ones) or --timeout passes. --remove deletes it once drained. Exit 0
when drained, 1 when the timeout passed first (the weight stays 0). Ctrl-C
(SIGINT) or SIGTERM puts the weight back. --json prints JSON lines.
`,
  run: `Usage: ipvs-ts run FILE [--owner NAME] [--prune owned|all|none] [--json] [--restore-on-exit]
                   [--metrics ADDRESS:PORT]

Applies FILE (JSON, what apply reads, whose services and real servers may
carry "check" and "sorryServer" settings: docs/health.md), then probes every
checked real server from the namespace's side and changes the table as they
go down and come back, logging each change on one line (--json: JSON lines)
until stopped. A bad FILE is refused with every problem and its field path
(exit 2). SIGHUP reloads FILE: the new table is applied and real servers in
both keep their check state (one that is down stays at weight 0); a bad new
FILE is logged and the running one kept. SIGTERM or SIGINT stops (exit 0),
leaving the table as it is; --restore-on-exit first puts every real server
back as FILE configures it and takes the sorry servers out. Runs in the
foreground and logs to standard output, as systemd expects. --metrics serves
Prometheus metrics there too, the checks' states included (docs/metrics.md).
`,
  top: `Usage: ipvs-ts top [--interval SECONDS] [--sort KEY] [--count N]

The IPVS table with the kernel's rates, refreshed every --interval seconds
(default 1): services and their real servers, weights, active and inactive
connections, connections/s, packets/s and bytes/s in and out, connections in
all. On a terminal it takes the screen: q quits, s changes the sort, arrows,
space and page keys scroll, g goes to the top; columns are dropped from the
right on a narrow terminal; NO_COLOR turns bold off. Otherwise (or with
--count N, N refreshes then exit) it prints the table every interval.
KEY: ${SORT_KEYS.join(', ')} (table: the kernel's order; the others largest first).
`,
  metrics: `Usage: ipvs-ts metrics --listen ADDRESS:PORT

Serves the IPVS table of the namespace as Prometheus metrics on
http://ADDRESS:PORT/metrics until SIGTERM or SIGINT: per service and per real
server, counters of connections, packets and bytes, the kernel's rates,
active/inactive connections and weights (docs/metrics.md). Each scrape reads
the table once; scrapes at the same moment share the read. It listens on
ADDRESS only ([::1]:9100 for IPv6).
`,
  import: `Usage: ipvs-ts import keepalived FILE

Prints keepalived.conf's virtual_server blocks as a FILE for \`ipvs-ts run\`
(JSON, docs/health.md): lb_algo, lb_kind, protocol, persistence, delay_loop,
sorry_server, real servers with their weights, TCP_CHECK, HTTP_GET and
SSL_GET (connect_port, connect_timeout, retry, url path and status_code),
inhibit_on_failure. What has no equivalent (MISC_CHECK, include,
virtual_server_group, digest, …) is refused with its line number (exit 2);
other blocks (global_defs, vrrp_instance, …) are skipped and named on
standard error. The result is checked as \`ipvs-ts check\` would.
`,
  check: `Usage: ipvs-ts check FILE [--owner NAME] [--json]

Validates FILE (- for standard input; what apply reads) without a kernel:
the same rules as apply checks before it sends anything, with every service
and every real server checked on its own, so one mistake does not hide the
next. Prints each problem with its field path (services[0].destinations[2].weight),
or a one-line summary when there is none. Exit status 0 when FILE is valid,
2 when it is not. --json prints {"file", "valid", "services", "destinations",
"problems": [{"field", "message"}]}. Usable in CI: no root, no IPVS needed.
`,
  realserver: `Usage: ipvs-ts realserver setup --vip ADDRESS [--vip ADDRESS]... [--dev IFACE]... [--tunnel] [--state FILE]
       ipvs-ts realserver restore [--state FILE]

setup prepares this host (or --netns) as an LVS direct-routing real server:
arp_ignore=1 and arp_announce=2 on "all" and each --dev, each VIP on lo
(lo:0, lo:1, …); with --tunnel, LVS-TUN (VIPs on tunl0, rp_filter off). What
it changed is recorded in the state file (default
/run/ipvs-ts/realserver/netns-INODE.json for the namespace), and restore puts
exactly that back: added addresses deleted, links it brought up set down,
sysctls set to their old values.

The state file and every folder above it must be owned by root (or you) and
writable by no one else (root-owned sticky folders like /tmp aside); links
are not followed. setup claims the file before it changes anything, so a
second setup at the same time is refused. restore checks every field against
what setup can write, and that the file is for this namespace (with --netns,
that one), before it changes anything. See docs/cli.md.
`,
};

/** Bad usage of a friendly command: message, then exit 2. */
class UsageError extends Error {}

/** A --netns that cannot be used, with the errno of the check that failed. */
class NetnsError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code: string,
    readonly errno: number,
  ) {
    super(message);
  }
}

/** What went wrong, for the one line (or JSON object) the CLI prints, and its exit status. */
function classify(e: unknown): { kind: 'usage' | 'namespace' | 'kernel' | 'state' | 'internal'; exitCode: number; message: string } {
  if (e instanceof UsageError) return { kind: 'usage', exitCode: 2, message: e.message };
  if (e instanceof NetnsError) return { kind: 'namespace', exitCode: e.exitCode, message: e.message };
  if (e instanceof IpvsError) return { kind: 'kernel', exitCode: 1, message: e.message };
  if (e instanceof RealServerStateError || e instanceof StateFileError) return { kind: 'state', exitCode: 1, message: e.message };
  return { kind: 'internal', exitCode: 1, message: e instanceof Error ? e.message : String(e) };
}

/**
 * Why --netns NAME cannot be used, told apart: a namespace that does not
 * exist is bad input (exit 2); one that exists but may not be read (another
 * process's namespace without the right to enter it) is a refusal (exit 1).
 */
function netnsProblem(netns: string, path: string): NetnsError | undefined {
  try {
    statSync(path);
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const code = err.code ?? 'EIO';
    const errno = -(err.errno ?? 0);
    if (code === 'ENOENT' || code === 'ENOTDIR') return new NetnsError(`no network namespace '${netns}' (${path} does not exist)`, 2, code, errno);
    if (code === 'EACCES' || code === 'EPERM')
      return new NetnsError(
        `network namespace '${netns}': permission denied on ${path} (${code}): another process's namespace needs root, or CAP_SYS_ADMIN and the right to trace that process`,
        1,
        code,
        errno,
      );
    return new NetnsError(`network namespace '${netns}': ${path}: ${err.message.replace(/^\w+: /, '')}`, 1, code, errno);
  }
}

interface Ctx {
  io: CliIo;
  /** The process's own streams: long commands stop cleanly on SIGINT and SIGTERM. */
  signals: boolean;
  netns?: string;
  ipvs(): Promise<Ipvs>;
}

function parse(
  command: string,
  args: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  allowPositionals: boolean,
): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
    return { values: r.values as Record<string, unknown>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split('\n')[0]}\nTry 'ipvs-ts ${command} --help'.`);
  }
}

async function list(ctx: Ctx, args: string[]): Promise<number> {
  const { values } = parse('list', args, { stats: { type: 'boolean' }, rate: { type: 'boolean' }, exact: { type: 'boolean' }, json: { type: 'boolean' } }, false);
  if (values.help) return help(ctx, 'list');
  if (values.stats && values.rate) throw new UsageError('--stats and --rate do not go together');
  const ipvs = await ctx.ipvs();
  const [info, table] = await Promise.all([ipvs.info(), ipvs.snapshot()]);
  if (values.json) {
    ctx.io.stdout.write(toJson({ ipvs: info, services: glibcMergeSort(table, compareServices) }));
  } else {
    ctx.io.stdout.write(formatListing(info, table, { stats: values.stats === true, rate: values.rate === true, exact: values.exact === true }));
  }
  return 0;
}

async function save(ctx: Ctx, args: string[]): Promise<number> {
  const { values } = parse('save', args, {}, false);
  if (values.help) return help(ctx, 'save');
  ctx.io.stdout.write(formatIpvsadmRules(await (await ctx.ipvs()).snapshot()));
  return 0;
}

/** Runs ops in chunks (each pipelined), showing progress on a terminal. */
async function runBatch(ctx: Ctx, label: string, ops: BatchOp[]): Promise<Awaited<ReturnType<Ipvs['batch']>>> {
  const ipvs = await ctx.ipvs();
  const bar = progress(ctx.io, label);
  const results: Awaited<ReturnType<Ipvs['batch']>> = [];
  try {
    for (let start = 0; start < ops.length; start += 2000) {
      results.push(...(await ipvs.batch(ops.slice(start, start + 2000))));
      bar.update(results.length, ops.length);
    }
  } finally {
    bar.end();
  }
  return results;
}

async function restore(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse('restore', args, { flush: { type: 'boolean' } }, true);
  if (values.help) return help(ctx, 'restore');
  if (positionals.length > 1) throw new UsageError('restore takes at most one FILE');
  const text = await readInput(ctx.io, positionals[0] ?? '-');
  let rules;
  try {
    rules = parseIpvsadmRules(text);
  } catch (e) {
    if (e instanceof IpvsadmRulesError) throw new UsageError(`${positionals[0] ?? 'stdin'}: ${e.message}`);
    throw e;
  }
  const ops: BatchOp[] = rules.map((r) =>
    r.kind === 'service' ? { type: 'addService', service: r.service } : { type: 'addDestination', service: r.service, destination: r.destination },
  );
  const ipvs = await ctx.ipvs();
  if (values.flush) await ipvs.flush();
  const results = await runBatch(ctx, 'restore', ops);
  let failed = 0;
  results.forEach((r, i) => {
    if (r.ok) return;
    failed++;
    ctx.io.stderr.write(`ipvs-ts restore: line ${rules[i]?.line}: ${r.error.message}\n`);
  });
  return failed ? 1 : 0;
}

async function apply(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse(
    'apply',
    args,
    { 'dry-run': { type: 'boolean' }, prune: { type: 'string' }, owner: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  if (values.help) return help(ctx, 'apply');
  if (positionals.length !== 1) throw new UsageError('apply needs exactly one FILE (- for standard input)\nTry \'ipvs-ts apply --help\'.');
  const prune = (values.prune ?? 'owned') as PruneMode;
  if (!['owned', 'all', 'none'].includes(prune)) throw new UsageError(`--prune must be owned, all or none, got '${prune}'`);
  const file = positionals[0] as string;
  let desired;
  try {
    desired = parseDesired(await readInput(ctx.io, file));
  } catch (e) {
    if (e instanceof DesiredFileError || e instanceof IpvsadmRulesError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
  const bar = progress(ctx.io, 'apply');
  let plan: ApplyPlan;
  try {
    plan = await applyDesired(await ctx.ipvs(), desired, {
      dryRun: values['dry-run'] === true,
      prune,
      ...(typeof values.owner === 'string' ? { owner: values.owner } : {}),
      onProgress: (done, total) => bar.update(done, total),
    });
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  } finally {
    bar.end();
  }
  if (values.json) {
    ctx.io.stdout.write(toJson(plan));
  } else {
    ctx.io.stdout.write(describePlan(plan));
    const count = (a: string): number => plan.steps.filter((s) => s.action === a).length;
    const failed = plan.steps.filter((s) => s.status === 'failed').length;
    const summary = `${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete`;
    ctx.io.stdout.write(
      plan.dryRun
        ? `dry run: ${summary}; nothing changed\n`
        : plan.steps.length === 0
          ? 'nothing to do: the table is as desired\n'
          : `${summary.replaceAll(' to ', ' ').replace('create', 'created').replace('update', 'updated').replace('delete', 'deleted')}${failed ? `, ${failed} failed` : ''}\n`,
    );
  }
  return plan.ok ? 0 : 1;
}

/** `ADDRESS:PORT`, `[IPv6]:PORT`, or (port optional) a bare address; undefined when it is none of these. */
function hostPort(text: string, portOptional: boolean): { address: string; port?: number } | undefined {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text) ?? (portOptional ? /^([^[\]]+)()$/.exec(text) : null);
  if (!m || (!portOptional && !m[2])) return undefined;
  return m[2] ? { address: m[1] as string, port: Number(m[2]) } : { address: m[1] as string };
}

async function conns(ctx: Ctx, args: string[]): Promise<number> {
  const { values } = parse(
    'conns',
    args,
    { ...SERVICE_OPTIONS, 'no-templates': { type: 'boolean' }, json: { type: 'boolean' } },
    false,
  );
  if (values.help) return help(ctx, 'conns');
  const filter: ConnectionFilter = {};
  const service = serviceOption('conns', values, false);
  if (service) filter.service = service;
  if (typeof values['real-server'] === 'string') {
    const at = hostPort(values['real-server'], true);
    if (!at) throw new UsageError(`--real-server must be ADDRESS or ADDRESS:PORT, got '${values['real-server']}'`);
    filter.destination = at;
  }
  if (values['no-templates']) filter.templates = false;
  const ipvs = await ctx.ipvs();
  let entries: Connection[];
  try {
    entries = await ipvs.connections(filter);
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  if (values.json) {
    ctx.io.stdout.write(`${JSON.stringify({ connections: entries }, null, 2)}\n`);
    return 0;
  }
  const end = (e: { address: string; port: number }): string => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);
  const expiry = (ms: number): string => {
    const s = Math.round(ms / 1000);
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  };
  const rows = entries.map((c) => [c.protocol.toUpperCase(), c.template ? `${c.state} (template)` : c.state, expiry(c.expiresMs), end(c.client), end(c.virtual), end(c.destination)]);
  const head = ['pro', 'state', 'expires', 'client', 'virtual', 'real server'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const r of [head, ...rows]) ctx.io.stdout.write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number))).join('  ')}\n`);
  const templates = entries.filter((c) => c.template).length;
  ctx.io.stdout.write(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}${templates ? ` (${templates} persistence template${templates === 1 ? '' : 's'})` : ''}\n`);
  return 0;
}

/** The service of -t/-u/--sctp-service, or a usage error naming the command. */
function serviceOption(command: string, values: Record<string, unknown>, required: boolean): AddressServiceKey | undefined {
  const given = (['tcp', 'udp', 'sctp'] as const).filter((p) => values[`${p}-service`] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of -t, -u and --sctp-service\nTry 'ipvs-ts ${command} --help'.`);
  const protocol = given[0];
  if (protocol === undefined) {
    if (required) throw new UsageError(`${command} needs a service: -t, -u or --sctp-service VIP:PORT\nTry 'ipvs-ts ${command} --help'.`);
    return undefined;
  }
  const text = values[`${protocol}-service`] as string;
  const at = hostPort(text, false);
  if (!at) throw new UsageError(`--${protocol}-service must be VIP:PORT (an IPv6 VIP in brackets), got '${text}'`);
  return { protocol, address: at.address, port: at.port as number };
}

const SERVICE_OPTIONS = {
  'tcp-service': { type: 'string', short: 't' },
  'udp-service': { type: 'string', short: 'u' },
  'sctp-service': { type: 'string' },
  'real-server': { type: 'string', short: 'r' },
} as const;

/** Seconds given on the command line, as ms; a usage error naming the option otherwise. */
function secondsOption(name: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n < min || n > 2147483) {
    throw new UsageError(`--${name} must be a number of seconds ${min}–2147483, got '${String(value)}'`);
  }
  return Math.round(n * 1000);
}

async function drain(ctx: Ctx, args: string[]): Promise<number> {
  const { values } = parse(
    'drain',
    args,
    { ...SERVICE_OPTIONS, until: { type: 'string' }, timeout: { type: 'string' }, interval: { type: 'string' }, remove: { type: 'boolean' }, json: { type: 'boolean' } },
    false,
  );
  if (values.help) return help(ctx, 'drain');
  const service = serviceOption('drain', values, true) as AddressServiceKey;
  if (typeof values['real-server'] !== 'string') throw new UsageError("drain needs the real server: -r ADDRESS[:PORT]\nTry 'ipvs-ts drain --help'.");
  const destination = hostPort(values['real-server'], true);
  if (!destination) throw new UsageError(`--real-server must be ADDRESS or ADDRESS:PORT, got '${values['real-server']}'`);
  const until = (values.until ?? 'idle') as DrainUntil;
  if (until !== 'idle' && until !== 'no-active') throw new UsageError(`--until must be idle or no-active, got '${String(values.until)}'`);
  const timeout = secondsOption('timeout', values.timeout, 0);
  const interval = secondsOption('interval', values.interval, 0.01);
  const json = values.json === true;
  const name = destination.port === undefined ? destination.address : `${destination.address}:${destination.port}`;
  const say = (text: string, data: object): void => {
    ctx.io.stdout.write(json ? `${JSON.stringify(data)}\n` : `${text}\n`);
  };

  const ipvs = await ctx.ipvs();
  const abort = new AbortController();
  const stop = (signal: NodeJS.Signals): void => abort.abort(new UsageError(`${signal}: drain stopped, the weight put back`));
  const signals = ctx.signals ? (['SIGINT', 'SIGTERM'] as const) : [];
  for (const s of signals) process.once(s, stop);
  let first = true;
  try {
    const result = await ipvs.drainDestination(service, destination, {
      until,
      remove: values.remove === true,
      signal: abort.signal,
      ...(timeout === undefined ? {} : { timeout }),
      ...(interval === undefined ? {} : { interval }),
      onProgress: (p) => {
        if (first) {
          first = false;
          say(`${name}: weight 0; waiting until ${until === 'idle' ? 'idle' : 'no connection is active'}`, { event: 'start', realServer: name, until });
        }
        say(`${(p.elapsedMs / 1000).toFixed(1).padStart(6)} s  ${p.activeConnections} active, ${p.inactiveConnections} inactive, ${p.persistentConnections} persistent`, { event: 'progress', ...p });
      },
    });
    const was = `(weight was ${result.previousWeight})`;
    if (result.drained) say(`${name}: drained in ${(result.elapsedMs / 1000).toFixed(1)} s${result.removed ? ', removed' : ''} ${was}`, { event: 'drained', ...result });
    else say(`${name}: not drained after ${(result.elapsedMs / 1000).toFixed(1)} s; weight left at 0 ${was}`, { event: 'timeout', ...result });
    return result.drained ? 0 : 1;
  } catch (e) {
    if (abort.signal.aborted && e === abort.signal.reason) {
      ctx.io.stderr.write(`ipvs-ts drain: ${(e as Error).message}\n`);
      return 130;
    }
    if (e instanceof TypeError || e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  } finally {
    for (const s of signals) process.off(s, stop);
  }
}

async function run(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse(
    'run',
    args,
    { owner: { type: 'string' }, prune: { type: 'string' }, json: { type: 'boolean' }, 'restore-on-exit': { type: 'boolean' }, metrics: { type: 'string' } },
    true,
  );
  if (values.help) return help(ctx, 'run');
  const metricsAt = values.metrics === undefined ? undefined : listenOption('metrics', values.metrics);
  if (positionals.length !== 1) throw new UsageError("run needs exactly one FILE\nTry 'ipvs-ts run --help'.");
  const prune = (values.prune ?? 'owned') as PruneMode;
  if (!['owned', 'all', 'none'].includes(prune)) throw new UsageError(`--prune must be owned, all or none, got '${prune}'`);
  if (!ctx.signals) throw new UsageError('run needs the process: it stops on SIGTERM or SIGINT');
  const file = positionals[0] as string;
  // Read once before the handle is opened: a missing FILE is exit 2 at once.
  await readInput(ctx.io, file);
  let onReload: () => void = () => undefined;
  const hup = (): void => onReload();
  process.on('SIGHUP', hup);
  let stop: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const term = (): void => stop('SIGTERM');
  const int = (): void => stop('SIGINT');
  process.on('SIGTERM', term);
  process.on('SIGINT', int);
  try {
    return await runChecks({
      io: ctx.io,
      ipvs: await ctx.ipvs(),
      file,
      read: () => readInput(ctx.io, file),
      owner: typeof values.owner === 'string' ? values.owner : undefined,
      prune,
      json: values.json === true,
      restoreOnExit: values['restore-on-exit'] === true,
      ...(metricsAt ? { metrics: metricsAt } : {}),
      signals: { stopped, onReload: (reload) => (onReload = reload) },
    });
  } finally {
    process.off('SIGHUP', hup);
    process.off('SIGTERM', term);
    process.off('SIGINT', int);
  }
}

/** The address and port of --listen / --metrics, or a usage error. */
function listenOption(option: string, value: unknown): { host: string; port: number } {
  const at = typeof value === 'string' ? hostPort(value, false) : undefined;
  if (!at || at.port === undefined || at.port < 1 || at.port > 65535) {
    throw new UsageError(`--${option} must be ADDRESS:PORT (an IPv6 address in brackets), got '${String(value)}'`);
  }
  return { host: at.address, port: at.port };
}

/** Resolves with the first of SIGTERM / SIGINT (handlers removed by `done`). */
function untilStopped(): { stopped: Promise<string>; done: () => void } {
  let stop: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const term = (): void => stop('SIGTERM');
  const int = (): void => stop('SIGINT');
  process.on('SIGTERM', term);
  process.on('SIGINT', int);
  return {
    stopped,
    done: () => {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
    },
  };
}

async function metrics(ctx: Ctx, args: string[]): Promise<number> {
  const { values } = parse('metrics', args, { listen: { type: 'string' } }, false);
  if (values.help) return help(ctx, 'metrics');
  if (values.listen === undefined) throw new UsageError("metrics needs --listen ADDRESS:PORT (nothing listens by default)\nTry 'ipvs-ts metrics --help'.");
  const listen = listenOption('listen', values.listen);
  if (!ctx.signals) throw new UsageError('metrics needs the process: it stops on SIGTERM or SIGINT');
  const ipvs = await ctx.ipvs();
  const stop = untilStopped();
  try {
    const server = await serveMetrics(ipvs, listen);
    const shown = server.address.host.includes(':') ? `[${server.address.host}]` : server.address.host;
    ctx.io.stdout.write(`serving http://${shown}:${server.address.port}/metrics\n`);
    const signal = await stop.stopped;
    await server.close();
    ctx.io.stdout.write(`${signal}: stopped\n`);
    return 0;
  } finally {
    stop.done();
  }
}

async function top(ctx: Ctx, args: string[]): Promise<number> {
  const { values } = parse('top', args, { interval: { type: 'string' }, sort: { type: 'string' }, count: { type: 'string' } }, false);
  if (values.help) return help(ctx, 'top');
  const intervalMs = secondsOption('interval', values.interval, 0.1) ?? 1000;
  const sort = (values.sort ?? 'table') as SortKey;
  if (!SORT_KEYS.includes(sort)) throw new UsageError(`--sort must be one of ${SORT_KEYS.join(', ')}, got '${String(values.sort)}'`);
  let count: number | undefined;
  if (values.count !== undefined) {
    count = Number(values.count);
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000) throw new UsageError(`--count must be an integer 1–1000000, got '${String(values.count)}'`);
  }
  const ipvs = await ctx.ipvs();
  const stop = ctx.signals ? untilStopped() : { stopped: new Promise<string>(() => undefined), done: () => undefined };
  try {
    return await runTop({ io: ctx.io, ipvs, intervalMs, sort, count, stopped: stop.stopped });
  } finally {
    stop.done();
  }
}

async function importCommand(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse('import', args, {}, true);
  if (values.help) return help(ctx, 'import');
  if (positionals[0] !== 'keepalived' || positionals.length !== 2) {
    throw new UsageError("import needs: keepalived FILE\nTry 'ipvs-ts import --help'.");
  }
  const file = positionals[1] as string;
  const { file: converted, problems, skipped } = importKeepalived(await readInput(ctx.io, file));
  for (const s of skipped) ctx.io.stderr.write(`ipvs-ts import: ${file}: skipped ${s}: only virtual_server blocks are imported\n`);
  const checked = problems.length ? [] : (await planRun(converted, undefined)).problems.map((p) => p.message);
  for (const p of [...problems, ...checked]) ctx.io.stderr.write(`ipvs-ts import: ${file}: ${p}\n`);
  if (problems.length || checked.length) return 2;
  ctx.io.stdout.write(`${JSON.stringify(converted, null, 2)}\n`);
  return 0;
}

async function check(ctx: Ctx, args: string[]): Promise<number> {
  const { values, positionals } = parse('check', args, { owner: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (values.help) return help(ctx, 'check');
  if (positionals.length !== 1) throw new UsageError("check needs exactly one FILE (- for standard input)\nTry 'ipvs-ts check --help'.");
  const file = positionals[0] as string;
  const text = await readInput(ctx.io, file);
  let problems: DesiredStateProblem[];
  let services = 0;
  let destinations = 0;
  try {
    const desired = parseDesired(text);
    const owner = typeof values.owner === 'string' ? values.owner : undefined;
    // A JSON object may be a run FILE too: its health-check settings are checked with the rest.
    const runFile = text.trimStart().startsWith('{') && desired.services.some((s) => typeof s === 'object' && s !== null && ('check' in s || 'sorryServer' in s || (Array.isArray(s.destinations) && s.destinations.some((d) => typeof d === 'object' && d !== null && 'check' in d))));
    problems = runFile ? (await planRun(JSON.parse(text), owner)).problems : await checkDesiredState(desired, owner === undefined ? {} : { owner });
    if (Array.isArray(desired.services)) {
      services = desired.services.length;
      for (const svc of desired.services) if (Array.isArray(svc?.destinations)) destinations += svc.destinations.length;
    }
  } catch (e) {
    if (!(e instanceof DesiredFileError || e instanceof IpvsadmRulesError)) throw e;
    problems = [{ field: '', message: e.message }];
  }
  if (values.json) {
    ctx.io.stdout.write(`${JSON.stringify({ file, valid: problems.length === 0, services, destinations, problems }, null, 2)}\n`);
  } else if (problems.length === 0) {
    ctx.io.stdout.write(`${file}: valid: ${services} service${services === 1 ? '' : 's'}, ${destinations} real server${destinations === 1 ? '' : 's'}\n`);
  } else {
    for (const p of problems) ctx.io.stdout.write(`${file}: ${p.message}\n`);
    ctx.io.stderr.write(`ipvs-ts check: ${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  }
  return problems.length === 0 ? 0 : 2;
}

async function realserver(ctx: Ctx, args: string[]): Promise<number> {
  try {
    return await realserverCommand(ctx, args);
  } catch (e) {
    // An unsafe state file or folder is refused in words, not with a stack.
    if (e instanceof StateFileError) {
      ctx.io.stderr.write(`ipvs-ts realserver: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function realserverCommand(ctx: Ctx, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') return help(ctx, 'realserver');
  const stateDir = process.env.IPVS_TS_STATE_DIR ?? '/run/ipvs-ts';
  if (sub === 'setup') {
    const { values } = parse(
      'realserver',
      rest,
      { vip: { type: 'string', multiple: true }, dev: { type: 'string', multiple: true }, tunnel: { type: 'boolean' }, state: { type: 'string' } },
      false,
    );
    if (values.help) return help(ctx, 'realserver');
    const vips = (values.vip as string[] | undefined) ?? [];
    if (!vips.length) throw new UsageError('realserver setup needs at least one --vip ADDRESS');
    const statePath = (values.state as string | undefined) ?? (await defaultStatePath(ctx.netns, stateDir));
    const state = await realServerSetup({
      vips,
      interfaces: (values.dev as string[] | undefined) ?? [],
      tunnel: values.tunnel === true,
      statePath,
      ...(ctx.netns === undefined ? {} : { netns: ctx.netns }),
    });
    for (const s of state.sysctls) ctx.io.stdout.write(`sysctl ${s.key}: ${s.before} -> ${s.after}\n`);
    for (const a of state.addresses) ctx.io.stdout.write(`address ${a.address}/${a.prefixLength} added to ${a.label ?? a.dev}\n`);
    for (const l of state.links) ctx.io.stdout.write(`link ${l} set up\n`);
    ctx.io.stdout.write(`recorded in ${statePath}; \`ipvs-ts realserver restore\` undoes it\n`);
    return 0;
  }
  if (sub === 'restore') {
    const { values } = parse('realserver', rest, { state: { type: 'string' } }, false);
    if (values.help) return help(ctx, 'realserver');
    const statePath = (values.state as string | undefined) ?? (await defaultStatePath(ctx.netns, stateDir));
    const { state, failures } = await realServerRestore(statePath, ctx.netns === undefined ? {} : { netns: ctx.netns });
    for (const f of failures) ctx.io.stderr.write(`ipvs-ts realserver restore: ${f}\n`);
    if (failures.length) {
      ctx.io.stderr.write(`ipvs-ts realserver restore: ${statePath} kept for another try\n`);
      return 1;
    }
    ctx.io.stdout.write(
      `restored: ${state.addresses.length} address(es) deleted, ${state.links.length} link(s) set down, ${state.sysctls.length} sysctl(s) put back\n`,
    );
    return 0;
  }
  throw new UsageError(`unknown realserver command '${sub}' (setup or restore)\nTry 'ipvs-ts realserver --help'.`);
}

function help(ctx: Ctx, command?: string): number {
  ctx.io.stdout.write((command && HELP[command]) || USAGE);
  return 0;
}

/** Options of {@link main}. */
export interface MainOptions {
  /** Where to read and write; default the process's streams. */
  io?: CliIo;
}

/**
 * Runs the `ipvs-ts` command line (the words after the program name) and
 * resolves to the exit status. Never exits the process and never throws for
 * bad usage or refusals; an unexpected failure is printed and gives 1.
 *
 * @param argv - The arguments, such as `['adm', '-Ln']` or `['--netns', 'lab', 'list', '--json']`.
 * @param options - Streams to use instead of the process's.
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo();
  let args = [...argv];
  let netns: string | undefined;
  // --netns goes before the command (or right after `adm`, before ipvsadm's own words).
  const takeNetns = (): boolean => {
    const a = args[0];
    if (a === '--netns' && args[1] !== undefined) {
      netns = args[1];
      args = args.slice(2);
      return true;
    }
    if (a?.startsWith('--netns=')) {
      netns = a.slice('--netns='.length);
      args = args.slice(1);
      return true;
    }
    return false;
  };
  while (takeNetns());
  let handle: Ipvs | undefined;
  const ctx: Ctx = {
    io,
    signals: options.io === undefined,
    ...(netns === undefined ? {} : { netns }),
    ipvs: async () => (handle ??= await Ipvs.open(netns === undefined ? {} : { netns })),
  };
  const command = args.shift();
  if (command === 'adm') while (takeNetns());
  try {
    if (netns !== undefined) {
      let path: string;
      try {
        path = resolveNetnsPath(netns);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const problem = netnsProblem(netns, path);
      if (problem) throw problem;
    }
    switch (command) {
      case 'adm':
        return await runAdm(args, {
          io,
          ipvs: ctx.ipvs,
          program: 'ipvs-ts adm',
          version: VERSION,
          ...(netns === undefined ? {} : { netns }),
        });
      case 'list':
        return await list(ctx, args);
      case 'save':
        return await save(ctx, args);
      case 'restore':
        return await restore(ctx, args);
      case 'apply':
        return await apply(ctx, args);
      case 'check':
        return await check(ctx, args);
      case 'conns':
        return await conns(ctx, args);
      case 'drain':
        return await drain(ctx, args);
      case 'run':
        return await run(ctx, args);
      case 'import':
        return await importCommand(ctx, args);
      case 'metrics':
        return await metrics(ctx, args);
      case 'top':
        return await top(ctx, args);
      case 'realserver':
        return await realserver(ctx, args);
      case 'version':
      case '--version':
      case '-v':
        io.stdout.write(`ipvs-ts ${VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        if (args[0] === 'adm') return await runAdm(['-h'], { io, ipvs: ctx.ipvs, program: 'ipvs-ts adm', version: VERSION });
        return help(ctx, args[0]);
      default:
        throw new UsageError(`unknown command '${command}'\nTry 'ipvs-ts --help'.`);
    }
  } catch (e) {
    const name = command && !command.startsWith('-') ? `ipvs-ts ${command}` : 'ipvs-ts';
    if (e instanceof InputError) e = new UsageError(e.message);
    const failure = classify(e);
    if (command !== 'adm' && args.includes('--json')) {
      const { kind, exitCode, message } = failure;
      const details = e instanceof IpvsError ? { errno: e.errno, code: e.code, op: e.op } : e instanceof NetnsError ? { errno: e.errno, code: e.code } : {};
      io.stderr.write(`${JSON.stringify({ error: { command: name, message, exitCode, kind, ...details } })}\n`);
    } else {
      io.stderr.write(`${name}: ${failure.kind === 'internal' && e instanceof Error ? (e.stack ?? e.message) : failure.message}\n`);
    }
    return failure.exitCode;
  } finally {
    handle?.close();
  }
}
