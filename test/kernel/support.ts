// Helpers for kernel tests (test/kernel/**): every test file gets its own network
// namespace, hence its own, empty IPVS table.
//
//   import { useFreshNetns, ok, listServices } from './support.js';
//   const ns = useFreshNetns();            // at the top of the file
//   it('…', () => { ok(ns.ipvsadm('-A', '-t', '10.0.0.1:80', '-s', 'rr')); });
//
// Tests may use child_process freely (only lib/ must not). These helpers need
// root, iproute2 and ipvsadm: `npm test` provides them (on the host when its
// kernel has IPVS, else inside User-Mode Linux, see docs/testing.md).

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when killed by a signal or not started (see `error`). */
  status: number | null;
  /** Set when the command could not be started (e.g. ENOENT) or timed out. */
  error?: Error;
  /** The command line, for messages. */
  command: string;
}

export interface FreshNetns {
  /** Name under /run/netns. */
  readonly name: string;
  /** /run/netns/NAME */
  readonly path: string;
  /** Run a command inside the namespace (`ip netns exec NAME cmd args…`); never throws. */
  exec(cmd: string, args?: readonly string[], options?: { input?: string; timeoutMs?: number }): ExecResult;
  /** `ipvsadm args…` inside the namespace; never throws. */
  ipvsadm(...args: string[]): ExecResult;
  /** Start a long-running command inside the namespace; killed in afterAll. */
  spawn(cmd: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
}

/** Is this test process running inside the User-Mode Linux guest of scripts/uml.mjs? */
export const inUml = process.env.IPVS_UML === '1';

const NOT_INSTALLED: Record<string, string> = {
  ip: 'iproute2 is not installed (sudo apt-get install iproute2)',
  ipvsadm: 'ipvsadm is not installed (sudo apt-get install ipvsadm)',
};

/** Run a command on the host (or guest) side, outside any test namespace; never throws. */
export function run(cmd: string, args: readonly string[] = [], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ExecResult {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    input: options.input,
    ...(options.env ? { env: options.env } : {}),
    timeout: options.timeoutMs ?? 30_000,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const command = [cmd, ...args].join(' ');
  const out: ExecResult = { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status, command };
  if (r.error) out.error = r.error;
  return out;
}

/** Throw (with the command, status and stderr) unless the command succeeded; return its stdout. */
export function ok(r: ExecResult): string {
  if (r.status === 0 && !r.error) return r.stdout;
  const why = r.error ? r.error.message : `exit status ${r.status}`;
  throw new Error(`\`${r.command}\` failed (${why})${r.stderr ? `:\n${r.stderr.trimEnd()}` : ''}`);
}

/**
 * The services in `ipvsadm -Ln` output, one string each with single spaces,
 * e.g. "TCP 10.1.2.3:80 mh" (flags kept, destinations and headers dropped).
 */
export function listServices(ipvsadmLn: string): string[] {
  return ipvsadmLn
    .split('\n')
    .filter((l) => /^(TCP|UDP|SCTP|FWM)\s/.test(l))
    .map((l) => l.trim().replace(/\s+/g, ' '));
}

let counter = 0;

function notInstalled(r: ExecResult, tool: string): never | void {
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(NOT_INSTALLED[tool] ?? `${tool} is not installed`);
}

/**
 * Create a uniquely named network namespace before the file's tests (beforeAll)
 * and delete it after them (afterAll). Fails the file unless the namespace has
 * IPVS and its table is empty.
 */
export function useFreshNetns(prefix = 'ipvsts'): FreshNetns {
  const name = `${prefix}-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
  const children = new Set<ChildProcess>();

  const ns: FreshNetns = {
    name,
    path: `/run/netns/${name}`,
    exec(cmd, args = [], options = {}) {
      const r = run('ip', ['netns', 'exec', name, cmd, ...args], options);
      r.command = `[netns ${name}] ${[cmd, ...args].join(' ')}`;
      // `ip netns exec` reports a missing command as a failure with "exec of … failed".
      if (r.status !== 0 && /^exec of ".*" failed: No such file/m.test(r.stderr)) r.error = Object.assign(new Error(`${cmd}: not found`), { code: 'ENOENT' });
      return r;
    },
    ipvsadm(...args) {
      const r = ns.exec('ipvsadm', args);
      notInstalled(r, 'ipvsadm');
      return r;
    },
    spawn(cmd, args = [], options = {}) {
      const child = spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: 'ignore', ...options });
      children.add(child);
      child.on('exit', () => children.delete(child));
      return child;
    },
  };

  beforeAll(() => {
    const add = run('ip', ['netns', 'add', name]);
    notInstalled(add, 'ip');
    if (add.status !== 0) {
      throw new Error(
        `cannot create network namespace ${name} (${add.stderr.trim() || add.error?.message}).\n` +
          'Kernel tests need root on a kernel with IPVS: run them with `npm test` or `npm run test:kernel`, ' +
          'which boot User-Mode Linux when this kernel cannot (docs/testing.md).',
      );
    }
    if (!existsSync(ns.path)) throw new Error(`ip netns add ${name} succeeded but ${ns.path} is missing`);
    const probe = ns.exec('cat', ['/proc/net/ip_vs']);
    if (probe.status !== 0) {
      throw new Error(
        `this kernel has no IPVS (ip_vs not loaded: ${probe.stderr.trim()}).\n` +
          'Run kernel tests with `npm test` or `npm run test:kernel`: they use User-Mode Linux when the host kernel has no IPVS.',
      );
    }
    const services = listServices(ok(ns.ipvsadm('-Ln')));
    if (services.length) throw new Error(`fresh namespace ${name} is not empty: ${services.join('; ')}`);
  });

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    const del = run('ip', ['netns', 'delete', name]);
    if (del.status !== 0 && existsSync(ns.path)) throw new Error(`cannot delete network namespace ${name}: ${del.stderr.trim()}`);
  });

  return ns;
}
