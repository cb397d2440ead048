// lib/loader.ts: which file it loads, and what its errors tell the user.
// Platform, arch, libc, the file system and the loading are injected.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { detectLibc, libcFromReport, loadNative, missingAddonMessage, packageRoot, prebuildPath, type LoaderContext } from '../../lib/loader.js';
import { repoRoot } from './package-consumer.js';

const root = '/opt/app/node_modules/ipvs-ts';
const build = `${root}/build/Release/ipvs_native.node`;

function ctx(over: Partial<LoaderContext> & { files?: string[] }): Partial<LoaderContext> & { loaded: string[] } {
  const files = new Set(over.files ?? []);
  const loaded: string[] = [];
  return {
    root,
    platform: 'linux',
    arch: 'x64',
    libc: 'glibc',
    exists: (f) => files.has(f),
    load: (f) => {
      loaded.push(f);
      return { from: f };
    },
    ...over,
    loaded,
  };
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('did not throw');
}

describe('no binary and no build', () => {
  it('names the fix: approve the install script, rebuild, and the toolchain it needs', () => {
    const err = thrown(() => loadNative(ctx({ arch: 'riscv64' })));
    expect(err.code).toBe('IPVS_TS_NO_ADDON');
    expect(err.message).toMatch(/^ipvs-ts: no native addon for linux-riscv64 \(glibc\)\./);
    expect(err.message).toContain('There is no prebuilt binary for linux-riscv64 (glibc) (prebuilt: linux-x64 (glibc), linux-arm64 (glibc))');
    expect(err.message).toContain('npm install-scripts approve ipvs-ts');
    expect(err.message).toContain('npm rebuild ipvs-ts');
    expect(err.message).toMatch(/python3, make and a C\+\+17 compiler \(g\+\+\)/);
    expect(err.message).toContain(`looked for ${build}`);
    expect(err.message).toContain(`and ${root}/prebuilds/linux-riscv64/ipvs-ts.glibc.node`);
  });

  it('on musl says the prebuilt binaries are glibc-only (and looks for a musl one)', () => {
    const err = thrown(() => loadNative(ctx({ libc: 'musl' })));
    expect(err.message).toMatch(/^ipvs-ts: no native addon for linux-x64 \(musl\)\./);
    expect(err.message).toContain('The prebuilt binaries are for glibc and this system uses musl libc');
    expect(err.message).toContain(`${root}/prebuilds/linux-x64/ipvs-ts.musl.node`);
    expect(err.message).toContain('npm install-scripts approve ipvs-ts');
    expect(err.message).toContain('apk add python3 make g++ linux-headers');
  });

  it('a musl binary, when one exists, is used', () => {
    const c = ctx({ libc: 'musl', files: [`${root}/prebuilds/linux-x64/ipvs-ts.musl.node`] });
    expect(loadNative(c)).toEqual({ from: `${root}/prebuilds/linux-x64/ipvs-ts.musl.node` });
  });

  it('outside Linux there is no libc tag', () => {
    expect(prebuildPath('darwin', 'arm64', null)).toBe('prebuilds/darwin-arm64/ipvs-ts.node');
    expect(missingAddonMessage({ root, platform: 'darwin', arch: 'arm64', libc: null })).toMatch(/^ipvs-ts: no native addon for darwin-arm64\./);
  });
});

describe('which file', () => {
  const prebuilt = `${root}/prebuilds/linux-x64/ipvs-ts.glibc.node`;

  it('the prebuilt binary for platform, arch and libc', () => {
    const c = ctx({ files: [prebuilt] });
    expect(loadNative(c)).toEqual({ from: prebuilt });
    expect(c.loaded).toEqual([prebuilt]);
  });

  it('a local build/Release wins over the prebuilt binary', () => {
    const c = ctx({ files: [prebuilt, build] });
    expect(loadNative(c)).toEqual({ from: build });
    expect(c.loaded).toEqual([build]);
  });

  it('arm64 looks for the arm64 binary', () => {
    const arm = `${root}/prebuilds/linux-arm64/ipvs-ts.glibc.node`;
    expect(loadNative(ctx({ arch: 'arm64', files: [prebuilt, arm] }))).toEqual({ from: arm });
  });

  it('a prebuilt binary that does not load: the reason, the glibc it needs, and the source build', () => {
    const cause = new Error(`/lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.34' not found (required by ${prebuilt})`);
    const err = thrown(() =>
      loadNative(
        ctx({
          files: [prebuilt],
          load: () => {
            throw cause;
          },
        }),
      ),
    );
    expect(err.code).toBe('IPVS_TS_ADDON_LOAD_FAILED');
    expect(err.cause).toBe(cause);
    expect(err.message).toContain(`the native addon ${prebuilt} failed to load: ${cause.message}`);
    expect(err.message).toContain('glibc >= 2.34');
    expect(err.message).toContain('npm install-scripts approve ipvs-ts');
    expect(err.message).toContain('npm rebuild ipvs-ts');
  });

  it('a local build that does not load is not silently replaced by the prebuilt binary', () => {
    const err = thrown(() =>
      loadNative(
        ctx({
          files: [prebuilt, build],
          load: () => {
            throw new Error('invalid ELF header');
          },
        }),
      ),
    );
    expect(err.message).toContain(`${build} failed to load: invalid ELF header`);
    expect(err.message).toContain(`delete ${root}/build to use the prebuilt binary`);
  });
});

describe('this process', () => {
  it('glibc on this Debian machine; no libc outside Linux', () => {
    expect(detectLibc()).toBe('glibc'); // from /usr/bin/ldd
    expect(libcFromReport()).toBe('glibc'); // the fallback without ldd agrees
    expect((process.report as { excludeNetwork?: boolean }).excludeNetwork).toBe(false); // and is left as it was
    expect(detectLibc('darwin')).toBeNull();
  });

  it('finds the package root from lib/, dist/ (ESM) and dist/cjs/ (CommonJS)', () => {
    expect(packageRoot()).toBe(repoRoot);
    const esm = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const l = await import(${JSON.stringify(path.join(repoRoot, 'dist/loader.js'))}); console.log(l.packageRoot())`],
      { encoding: 'utf8' },
    );
    expect(esm.stderr).toBe('');
    expect(esm.stdout.trim()).toBe(repoRoot);
    const cjs = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(path.join(repoRoot, 'dist/cjs/loader.js'))}).packageRoot())`], {
      encoding: 'utf8',
    });
    expect(cjs.stderr).toBe('');
    expect(cjs.stdout.trim()).toBe(repoRoot);
  });
});
