// The XSAVE shim (scripts/uml/xstate-shim.c) as the harness uses it: build it
// once per source and compiler, decide whether to preload it, and read what it
// reports once the guest runs.
//
// IPVS_UML_XSTATE=auto (default)  preload the shim; it widens UML's short
//                                 XSAVE buffer only where the host's is larger
// IPVS_UML_XSTATE=force           preload it and route every save/restore
//                                 through the full-size buffer (tests the path)
// IPVS_UML_XSTATE=off             boot linux.uml as it is

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SHIM_SOURCE = path.join(here, 'xstate-shim.c');
export const XSTATE_MODES = ['auto', 'force', 'off'];

function findCompiler() {
  for (const name of ['cc', 'gcc', 'clang']) {
    const r = spawnSync(name, ['--version'], { stdio: 'ignore', timeout: 20_000 });
    if (r.status === 0) return name;
  }
  return null;
}

/**
 * Builds the shim into cacheDir unless a build of the same source by the same
 * compiler is there already.
 * @returns {{ path: string } | { error: string }}
 */
export function buildShim(cacheDir) {
  const cc = findCompiler();
  if (!cc) return { error: 'no C compiler (cc, gcc or clang) to build it' };
  const source = fs.readFileSync(SHIM_SOURCE);
  const version = spawnSync(cc, ['--version'], { encoding: 'utf8', timeout: 20_000 }).stdout ?? '';
  const key = createHash('sha256').update(source).update(version).digest('hex').slice(0, 16);
  const out = path.join(cacheDir, `xstate-shim-${key}.so`);
  if (fs.existsSync(out)) return { path: out };
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-shared', '-fPIC', '-o', tmp, SHIM_SOURCE, '-ldl'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    return { error: `${cc} failed to build ${path.basename(SHIM_SOURCE)}: ${(r.stderr || String(r.error ?? '')).trim()}` };
  }
  fs.renameSync(tmp, out);
  return { path: out };
}

/**
 * What to preload for one boot.
 * @returns {{ mode: string, env: Record<string, string>, note?: string, error?: string }}
 *   env: variables for the linux.uml process; note: why nothing is preloaded
 */
export function shimForBoot({ mode = 'auto', cacheDir, reportPath }) {
  if (!XSTATE_MODES.includes(mode)) return { mode, env: {}, error: `IPVS_UML_XSTATE=${mode}: expected auto, force or off` };
  if (mode === 'off') return { mode, env: {}, note: 'off (IPVS_UML_XSTATE=off)' };
  const built = buildShim(cacheDir);
  if ('error' in built) {
    if (mode === 'force') return { mode, env: {}, error: `IPVS_UML_XSTATE=force, but ${built.error}` };
    return { mode, env: {}, note: `not available: ${built.error}` };
  }
  return {
    mode,
    env: { LD_PRELOAD: built.path, IPVS_UML_XSTATE_MODE: mode, IPVS_UML_XSTATE_REPORT: reportPath },
  };
}

/**
 * The shim's report, once UML has made its first XSAVE call.
 * @returns {{ host: number, guest: number, mode: 'widen'|'pass'|'force', calls: number, widened: number } | null}
 */
export function readReport(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const fields = Object.fromEntries([...text.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  if (!fields.host || !fields.guest || !fields.mode) return null;
  return {
    host: Number(fields.host),
    guest: Number(fields.guest),
    mode: fields.mode,
    calls: Number(fields.calls ?? 0),
    widened: Number(fields.widened ?? 0),
  };
}

/** One line for the run header: the sizes and what the shim does with them. */
export function describeReport(r) {
  const sizes = `host XSAVE area ${r.host} bytes, UML's buffer ${r.guest} bytes`;
  if (r.mode === 'force') return `${sizes}: ptrace shim forced on every save/restore (IPVS_UML_XSTATE=force)`;
  if (r.mode === 'widen') return `${sizes}: ptrace shim widens each save/restore to the host's size`;
  return `${sizes}: no workaround needed (shim passes through)`;
}
