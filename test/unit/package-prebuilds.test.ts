// The prebuilt binaries of `npm run prebuilds` (scripts/prebuild.mjs), read
// with binutils' readelf: the right machine, the N-API entry point, only
// N-API symbols node exports, the libraries and the glibc the loader's error
// message promises. The one for this machine's arch also loads (the kernel
// test test/kernel/consumer.test.ts uses it from an installed tarball).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { PREBUILT_TARGETS, prebuildPath } from '../../lib/loader.js';
import { repoRoot } from './package-consumer.js';

const MACHINE: Record<string, string> = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' };

function readelf(...args: string[]): string {
  const r = spawnSync('readelf', ['-W', ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`readelf: ${r.error.message} (apt-get install binutils)`);
  if (r.status !== 0) throw new Error(`readelf ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Dynamic symbols: name -> 'UND' or the defining section. */
function dynSyms(file: string): Map<string, { ndx: string; type: string; bind: string }> {
  const out = new Map<string, { ndx: string; type: string; bind: string }>();
  for (const line of readelf('--dyn-syms', file).split('\n')) {
    const f = line.trim().split(/\s+/);
    // Num: Value Size Type Bind Vis Ndx Name
    if (f.length >= 8 && /^\d+:$/.test(f[0] ?? '')) out.set((f[7] ?? '').replace(/@.*$/, ''), { type: f[3]!, bind: f[4]!, ndx: f[6]! });
  }
  return out;
}

const napiNeeded = (file: string) =>
  [...dynSyms(file)].filter(([name, s]) => s.ndx === 'UND' && /^(napi|node_api)_/.test(name)).map(([name]) => name).sort();

const versionCmp = (a: string, b: string) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};
const maxVersion = (versions: string[]) => versions.sort(versionCmp).at(-1);

let nodeExports: ReturnType<typeof dynSyms> | undefined;

const files = PREBUILT_TARGETS.map((t) => ({ ...t, file: path.join(repoRoot, prebuildPath(t.platform, t.arch, t.libc)) }));

describe.each(files.map((f) => [`prebuilds/${f.platform}-${f.arch} (${f.libc})`, f] as const))('%s', (_name, { arch, file }) => {
  it('exists (`npm run prebuilds` builds it)', () => {
    expect(existsSync(file), `${file}: run \`npm run prebuilds\``).toBe(true);
  });

  it(`is a 64-bit little-endian ELF shared object for ${arch}`, () => {
    const h = readelf('-h', file);
    expect(h).toMatch(/Class:\s+ELF64/);
    expect(h).toMatch(/Data:\s+2's complement, little endian/);
    expect(h).toMatch(/Type:\s+DYN \(Shared object file\)/);
    expect(h).toMatch(new RegExp(`Machine:\\s+${MACHINE[arch]}\\n`));
  });

  it('exports the N-API entry points and needs only N-API symbols that node exports', () => {
    const syms = dynSyms(file);
    for (const entry of ['napi_register_module_v1', 'node_api_module_get_api_version_v1']) {
      expect(syms.get(entry), entry).toMatchObject({ type: 'FUNC', bind: 'GLOBAL' });
      expect(syms.get(entry)?.ndx).not.toBe('UND');
    }
    const needed = napiNeeded(file);
    expect(needed.length).toBeGreaterThan(40);
    nodeExports ??= dynSyms(process.execPath);
    const missing = needed.filter((n) => !nodeExports!.has(n) || nodeExports!.get(n)?.ndx === 'UND');
    expect(missing, `N-API symbols this node does not export`).toEqual([]);
  });

  it('links only libc, libstdc++, libgcc_s and libm, needing glibc <= 2.34 and GLIBCXX <= 3.4.29', () => {
    const needed = [...readelf('-d', file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(needed.filter((l) => !['libc.so.6', 'libstdc++.so.6', 'libgcc_s.so.1', 'libm.so.6'].includes(l!))).toEqual([]);
    const v = readelf('-V', file);
    const glibc = maxVersion([...v.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]!));
    const glibcxx = maxVersion([...v.matchAll(/\bGLIBCXX_(\d+(?:\.\d+)+)/g)].map((m) => m[1]!));
    // lib/loader.ts tells users the prebuilt binary needs glibc >= 2.34 and GCC >= 11's libstdc++.
    expect(versionCmp(glibc ?? '0', '2.34')).toBeLessThanOrEqual(0);
    expect(versionCmp(glibcxx ?? '0', '3.4.29')).toBeLessThanOrEqual(0);
  });
});

it('x64 and arm64 need the same N-API functions (one source, two compilers)', () => {
  const [a, b] = files.map((f) => napiNeeded(f.file));
  expect(a).toEqual(b);
});

it(`the ${process.arch} binary loads into node and has the addon's functions`, () => {
  const mine = files.find((f) => f.arch === process.arch);
  expect(mine, `a prebuilt binary for ${process.arch}`).toBeDefined();
  const r = spawnSync(
    process.execPath,
    ['-e', `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(mine!.file)}); console.log(Object.keys(m.exports).sort().join(' '))`],
    { encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  expect(r.stdout.trim().split(' ')).toEqual(expect.arrayContaining(['setErrorClass', 'open', 'close', 'info', 'listServices', 'mutate', 'host']));
});
