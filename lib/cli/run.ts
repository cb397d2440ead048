/**
 * `ipvs-ts run FILE`: the long-running command. FILE is a desired state
 * (what `ipvs-ts apply` reads) whose services and real servers may carry
 * health-check settings (`check`, `sorryServer`); it is applied, the checks
 * run, and every state change is logged on one line. SIGHUP reloads the
 * file (the check state of unchanged real servers is kept), SIGTERM and
 * SIGINT stop, leaving the table as it is unless --restore-on-exit.
 *
 * @internal
 * @module
 */

import { applyDesired, checkDesiredState, type DesiredService, type DesiredState, type PruneMode } from '../apply.js';
import { describeDestination, describeServiceKey } from '../convert.js';
import { HealthChecker, checkHealthSettings, type CheckedService, type HealthCheckSettings, type HealthState } from '../health.js';
import type { Ipvs } from '../ipvs.js';
import { serveMetrics } from '../metrics.js';
import { canonicalOrSelf } from '../address.js';
import type { ServiceKey } from '../types.js';
import type { CliIo } from './io.js';

export {};

/** A JSON object of the FILE, before it is checked. */
type Loose = Record<string, unknown>;
const isObject = (v: unknown): v is Loose => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a run FILE holds, split: the table for apply, and the checks. */
export interface RunPlan {
  desired: DesiredState;
  /** One entry per service of the file; undefined for a service without checks. */
  checks: (CheckedService | undefined)[];
}

/** Splits a run file's JSON (already parsed) and checks it all; every problem with its field path. */
export async function planRun(data: unknown, owner: string | undefined): Promise<{ plan?: RunPlan; problems: { field: string; message: string }[] }> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { problems: [{ field: '', message: 'a run FILE is a JSON object: {"owner", "services": [...]}' }] };
  }
  const obj = data as { owner?: unknown; services?: unknown };
  for (const k of Object.keys(obj)) {
    if (k !== 'owner' && k !== 'services') return { problems: [{ field: k, message: `unknown top-level property "${k}" (expected "owner" and "services")` }] };
  }
  if (!Array.isArray(obj.services)) return { problems: [{ field: 'services', message: '"services" must be an array' }] };
  const table: DesiredService[] = [];
  const checks: (CheckedService | undefined)[] = [];
  for (const s of obj.services as unknown[]) {
    if (!isObject(s)) {
      table.push(s as DesiredService);
      checks.push(undefined);
      continue;
    }
    const { check, sorryServer, destinations, ...service } = s;
    const plain = Array.isArray(destinations)
      ? destinations.map((d: unknown) => {
          if (!isObject(d)) return d;
          const { check: _check, ...rest } = d;
          return rest;
        })
      : destinations;
    table.push({ ...service, ...(plain === undefined ? {} : { destinations: plain }) } as DesiredService);
    const key = (
      service.fwmark !== undefined
        ? { fwmark: service.fwmark, ...(service.family === undefined ? {} : { family: service.family }) }
        : { protocol: service.protocol, address: service.address, port: service.port }
    ) as ServiceKey;
    checks.push(
      check === undefined
        ? undefined
        : ({ service: key, check, destinations: Array.isArray(destinations) ? destinations : [], ...(sorryServer === undefined ? {} : { sorryServer }) } as unknown as CheckedService),
    );
  }
  const desired: DesiredState = { services: table, ...(typeof obj.owner === 'string' ? { owner: obj.owner } : {}) };
  const problems = [...(await checkDesiredState(obj.owner === undefined || typeof obj.owner === 'string' ? desired : { ...desired, owner: obj.owner as string }, owner === undefined ? {} : { owner })), ...checkHealthSettings(checks)];
  problems.sort((a, b) => a.field.localeCompare(b.field, 'en', { numeric: true }));
  return problems.length ? { problems } : { plan: { desired, checks }, problems };
}

/**
 * The table to apply given the checks' states: a real server that is down
 * keeps weight 0 (or stays out, when going down removes it), and a sorry
 * server that is in stays in, so that a reload does not undo the checks.
 */
export function desiredWithStates(plan: RunPlan, states: readonly HealthState[]): DesiredState {
  const down = new Set(states.filter((s) => s.state === 'down').map((s) => `${describeServiceKey(s.service)} ${describeDestination(s.destination.address, s.destination.port)}`));
  const services = plan.desired.services.map((svc, i) => {
    const checked = plan.checks[i];
    if (!checked || !svc.destinations) return svc;
    const name = describeServiceKey(checked.service);
    const port = (d: { port?: number }): number => d.port ?? ('port' in checked.service ? checked.service.port : 0);
    const isDown = (d: { address: string; port?: number }): boolean => down.has(`${name} ${describeDestination(canonicalOrSelf(d.address), port(d))}`);
    const settingsOf = (j: number): Partial<HealthCheckSettings> => ({ ...checked.check, ...checked.destinations[j]?.check });
    const destinations = svc.destinations
      .map((d, j) => (isDown(d) ? (settingsOf(j).onDown === 'remove' ? undefined : { ...d, weight: 0 }) : d))
      .filter((d): d is NonNullable<typeof d> => d !== undefined);
    const allDown = checked.destinations.length > 0 && checked.destinations.every((d) => isDown(d));
    if (allDown && checked.sorryServer) destinations.push(checked.sorryServer);
    return { ...svc, destinations };
  });
  return { ...plan.desired, services };
}

/** Options of {@link runChecks}. */
export interface RunOptions {
  io: CliIo;
  ipvs: Ipvs;
  file: string;
  read: () => Promise<string>;
  owner: string | undefined;
  prune: PruneMode;
  json: boolean;
  restoreOnExit: boolean;
  /** Serve Prometheus metrics (with the checks' states) here. */
  metrics?: { host: string; port: number };
  /** Resolves with the signal that asks to stop; `reload` is called for each SIGHUP. */
  signals: { stopped: Promise<string>; onReload: (reload: () => void) => void };
}

/** Runs until a stop signal; returns the exit status. */
export async function runChecks(o: RunOptions): Promise<number> {
  const log = (event: string, fields: Record<string, unknown>, text: string): void => {
    const time = new Date().toISOString();
    if (o.json) o.io.stdout.write(`${JSON.stringify({ time, event, ...fields })}\n`);
    else o.io.stdout.write(`${time} ${event} ${text}\n`);
  };

  const load = async (): Promise<RunPlan | undefined> => {
    let data: unknown;
    try {
      data = JSON.parse(await o.read());
    } catch (e) {
      o.io.stderr.write(`ipvs-ts run: ${o.file}: ${e instanceof SyntaxError ? `not valid JSON: ${e.message}` : (e as Error).message}\n`);
      return undefined;
    }
    const { plan, problems } = await planRun(data, o.owner);
    for (const p of problems) o.io.stderr.write(`ipvs-ts run: ${o.file}: ${p.message}\n`);
    return plan;
  };

  const start = async (plan: RunPlan, previous: readonly HealthState[]): Promise<HealthChecker> => {
    const desired = desiredWithStates(plan, previous);
    const applied = await applyDesired(o.ipvs, desired, { prune: o.prune, ...(o.owner === undefined ? {} : { owner: o.owner }) });
    const count = (a: string): number => applied.steps.filter((s) => s.action === a).length;
    log('applied', { created: count('create'), updated: count('update'), deleted: count('delete'), ok: applied.ok }, `${count('create')} created, ${count('update')} updated, ${count('delete')} deleted${applied.ok ? '' : ' (some steps failed)'}`);
    const checker = new HealthChecker(o.ipvs, plan.checks.filter((c): c is CheckedService => c !== undefined), { previous });
    const where = (e: { service: Parameters<typeof describeServiceKey>[0]; destination: { address: string; port: number } }): string =>
      `${describeServiceKey(e.service)} ${describeDestination(e.destination.address, e.destination.port)}`;
    checker.on('down', (e) => log('down', { service: describeServiceKey(e.service), realServer: describeDestination(e.destination.address, e.destination.port), reason: e.reason, action: e.action }, `${where(e)}: ${e.reason} (${e.action})`));
    checker.on('up', (e) => log('up', { service: describeServiceKey(e.service), realServer: describeDestination(e.destination.address, e.destination.port), reason: e.reason, action: e.action }, `${where(e)}: ${e.reason} (${e.action})`));
    checker.on('sorry', (e) => log('sorry', { service: describeServiceKey(e.service), realServer: describeDestination(e.destination.address, e.destination.port), active: e.active }, `${where(e)}: sorry server ${e.active ? 'in' : 'out'}`));
    checker.on('failed', (f) => log('failed', { what: f.what, error: f.error.message }, `${f.what}: ${f.error.message}`));
    checker.start();
    const servers = checker.states().length;
    log('checking', { realServers: servers }, `${servers} real server${servers === 1 ? '' : 's'} under check`);
    return checker;
  };

  const first = await load();
  if (!first) return 2;
  let checker = await start(first, []);
  const server = o.metrics ? await serveMetrics(o.ipvs, { ...o.metrics, health: () => checker.states() }) : undefined;
  if (server) log('metrics', { listen: `${server.address.host}:${server.address.port}` }, `serving /metrics on ${server.address.host}:${server.address.port}`);
  let reloading = Promise.resolve();
  o.signals.onReload(() => {
    reloading = reloading.then(async () => {
      log('reload', { file: o.file }, o.file);
      const plan = await load();
      if (!plan) {
        log('reload-failed', { file: o.file }, `${o.file}: kept the running configuration`);
        return;
      }
      const previous = checker.states();
      await checker.stop();
      checker = await start(plan, previous);
    });
  });
  const signal = await o.signals.stopped;
  await reloading;
  await server?.close();
  await checker.stop({ restore: o.restoreOnExit });
  log('stopped', { signal, restored: o.restoreOnExit }, `${signal}${o.restoreOnExit ? ': configured weights restored' : ': table left as it is'}`);
  return 0;
}
