// Helpers for the CLI kernel tests: a built copy of the `ipvs-ts` command to
// run as a real process (inside a test namespace, as scripts would), and
// side-by-side runs of `ipvsadm` and `ipvs-ts adm`.
//
// `npm test` builds dist/ first, and bin/ipvs-ts.js runs that; otherwise the
// command is compiled from lib/ with tsc into .cache/cli/ (dist/ is left
// alone), with bin/ipvs-ts.js beside it and the addon's build/ linked in.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type ExecResult, type FreshNetns, run } from './support.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cache = join(repo, '.cache', 'cli');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Path of a runnable `ipvs-ts` over a build of lib/ no older than its
 * sources: the repository's own bin/ and dist/ when `npm test` has just built
 * them (its pretest step), else a build of its own in .cache/cli/.
 */
export function buildCli(): string {
  const sources = Math.max(newest(join(repo, 'lib')), newest(join(repo, 'bin')), statSync(join(repo, 'package.json')).mtimeMs);
  const built = join(repo, 'dist', 'cli', 'main.js');
  if (existsSync(built) && statSync(built).mtimeMs >= sources) return join(repo, 'bin', 'ipvs-ts.js');
  const stamp = join(cache, '.stamp');
  const bin = join(cache, 'bin', 'ipvs-ts.js');
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= sources) return bin;
  rmSync(join(cache, 'dist'), { recursive: true, force: true });
  mkdirSync(join(cache, 'bin'), { recursive: true });
  execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json'), '--outDir', join(cache, 'dist'), '--sourceMap', 'false', '--declaration', 'false'], {
    stdio: 'inherit',
  });
  copyFileSync(join(repo, 'bin', 'ipvs-ts.js'), bin);
  copyFileSync(join(repo, 'package.json'), join(cache, 'package.json'));
  if (!existsSync(join(cache, 'build'))) symlinkSync(join(repo, 'build'), join(cache, 'build'));
  writeFileSync(stamp, '');
  return bin;
}

/** `ipvs-ts ARGS` inside the namespace (as `ip netns exec NS ipvs-ts …`); never throws. */
export function ipvsTs(ns: FreshNetns, bin: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): ExecResult {
  const r = ns.exec(process.execPath, [bin, ...args], options);
  r.command = `[netns ${ns.name}] ipvs-ts ${args.join(' ')}`;
  return r;
}

/** `ipvs-ts ARGS` outside any test namespace (the namespace given by --netns, if any). */
export function ipvsTsHere(bin: string, args: readonly string[], options: { input?: string } = {}): ExecResult {
  const r = run(process.execPath, [bin, ...args], options);
  r.command = `ipvs-ts ${args.join(' ')}`;
  return r;
}

/** What both tools did with the same command line, program names made equal. */
export interface Side {
  stdout: string;
  stderr: string;
  status: number | null;
}

/** ipvsadm's and ipvs-ts adm's output, with each program's own name replaced by `PROG`. */
export function normalize(r: ExecResult, program: 'ipvsadm' | 'ipvs-ts adm'): Side {
  const fix = (s: string): string => s.split(program === 'ipvsadm' ? '/usr/sbin/ipvsadm' : 'ipvs-ts adm').join('PROG').split(program).join('PROG');
  return { stdout: fix(r.stdout), stderr: fix(r.stderr), status: r.status };
}

/** Runs `ipvs-ts ARGS` in this process (lib/cli/main.ts), stdin from `input`. */
export async function ipvsTsInProcess(args: readonly string[], input = ''): Promise<ExecResult> {
  const { main } = await import('../../lib/cli/main.js');
  let stdout = '';
  let stderr = '';
  const status = await main(args, {
    io: {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      readStdin: async () => input,
    },
  });
  return { stdout, stderr, status, command: `ipvs-ts ${args.join(' ')}` };
}

/** `ipvsadm ARGS` in the namespace, stdin from `input`. */
export function ipvsadmIn(ns: FreshNetns, args: readonly string[], input?: string): ExecResult {
  return ns.exec('ipvsadm', args, input === undefined ? {} : { input });
}

/** Both tools on one command line: ipvsadm in `a`, `ipvs-ts --netns B adm` (in process) on `b` (may be `a`). */
export async function bothAdm(a: FreshNetns, b: FreshNetns, args: readonly string[], input?: string): Promise<{ ipvsadm: Side; ipvsTs: Side }> {
  const x = ipvsadmIn(a, args, input);
  const y = await ipvsTsInProcess(['--netns', b.name, 'adm', ...args], input ?? '');
  return { ipvsadm: normalize(x, 'ipvsadm'), ipvsTs: normalize(y, 'ipvs-ts adm') };
}

/** Routes and links the tests' real servers need in a namespace (as the fixture capture had them). */
export function labLinks(ns: FreshNetns): void {
  const sh = (cmd: string): void => {
    const r = ns.exec('sh', ['-c', cmd]);
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  sh(
    [
      'ip link set lo up',
      'ip link add dummy0 type dummy',
      'ip link set dummy0 up',
      'ip addr add 192.168.0.1/16 dev dummy0',
      'ip route add 10.0.0.0/24 dev dummy0',
      'ip route add 10.1.0.0/16 dev dummy0',
      'ip route add 10.9.0.0/16 dev dummy0',
      'ip route add 100.64.0.0/16 dev dummy0',
      'ip -6 addr add 2001:db8::fffe/32 dev dummy0 nodad',
      'ip -6 route add fd00::/8 dev dummy0',
      'ip link add veth0 type veth peer name veth1',
      'ip link set veth0 up',
      'ip link set veth1 up',
      'ip addr add 172.31.0.1/24 dev veth0',
      'ip -6 addr add fd01::1/64 dev veth0 nodad',
    ].join(' && '),
  );
}

/** The dist/ folder beside a command from {@link buildCli}: child processes import the library from it. */
export function distOf(bin: string): string {
  return join(dirname(bin), '..', 'dist');
}
