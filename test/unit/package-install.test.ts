// The packed tarball, installed into a fresh project on the host with npm's
// default settings: types for ESM and CommonJS, both formats load the prebuilt
// binary without compiling, and a source build stays possible once the install
// script is approved. (The real-kernel half is test/kernel/consumer.test.ts.)
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  hasBuildDir,
  makeConsumer,
  ok,
  packRepo,
  repoRoot,
  run,
  runConsumer,
  userEnv,
  writeConsumerScripts,
  type Consumer,
} from './package-consumer.js';

const prebuild = `prebuilds/linux-${process.arch}/ipvs-ts.glibc.node`;
const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');

let pack: ReturnType<typeof packRepo> | undefined;
let consumer: Consumer | undefined;
let scripts: { esm: string; cjs: string };

beforeAll(() => {
  pack = packRepo();
  consumer = makeConsumer(pack.tarball, 'default');
  scripts = writeConsumerScripts(consumer.dir);
}, 120_000);
afterAll(() => {
  consumer?.cleanup();
  pack?.cleanup();
});

describe('installed from the tarball with npm defaults', () => {
  it('brings only node-addon-api along and compiles nothing', () => {
    const c = consumer!;
    expect(c.install.stdout).toMatch(/added 2 packages/);
    expect(existsSync(path.join(c.dir, 'node_modules/node-addon-api'))).toBe(true);
    expect(existsSync(path.join(c.dir, 'node_modules/node-gyp'))).toBe(false);
    expect(hasBuildDir(c)).toBe(false);
  });

  it.each(['esm', 'cjs'] as const)('%s: import / require load the prebuilt binary', (format) => {
    const c = consumer!;
    const out = runConsumer(c, scripts[format], '--load-only');
    expect(out).toMatchObject({ format, ipvs: 'function', error: 'function' });
    expect(out.addons).toEqual([realpathSync(path.join(c.pkgDir, prebuild))]);
  });

  it('TypeScript resolves the ESM types for .mts and the CommonJS types for .cts, both strict', () => {
    const c = consumer!;
    const use = `
const spec: OpenOptions = { netns: 'lb' };
export async function main(): Promise<string> {
  await using ipvs: Ipvs = await Ipvs.open(spec);
  const info = await ipvs.info();
  const n: number = info.connectionTableSize;
  // @ts-expect-error: version is a string
  const v: number = info.version;
  try { await ipvs.flush(); } catch (e) { if (e instanceof IpvsError) return e.code + n + v; }
  return info.version;
}
`;
    writeFileSync(path.join(c.dir, 'use-esm.mts'), `import { Ipvs, IpvsError, type OpenOptions } from 'ipvs-ts';\n${use}`);
    writeFileSync(path.join(c.dir, 'use-cjs.cts'), `import { Ipvs, IpvsError, type OpenOptions } from 'ipvs-ts';\n${use}`);
    writeFileSync(
      path.join(c.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'ESNext.Disposable'],
          types: ['node'],
          typeRoots: [path.join(repoRoot, 'node_modules/@types')],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['use-esm.mts', 'use-cjs.cts'],
      }),
    );
    const out = ok(run(process.execPath, [tsc, '-p', '.', '--explainFiles'], c.dir));
    const pkg = realpathSync(c.pkgDir);
    expect(out).toContain(`${path.relative(c.dir, pkg)}/dist/index.d.ts`);
    expect(out).toContain(`${path.relative(c.dir, pkg)}/dist/cjs/index.d.ts`);
    expect(out).toMatch(/dist\/index\.d\.ts\n\s+Imported via 'ipvs-ts' from file 'use-esm\.mts' with packageId 'ipvs-ts\/dist\/index\.d\.ts@[\d.]+'/);
    expect(out).toMatch(/dist\/cjs\/index\.d\.ts\n\s+Imported via 'ipvs-ts' from file 'use-cjs\.cts' with packageId 'ipvs-ts\/dist\/cjs\/index\.d\.ts@[\d.]+'/);
  });

  it('a source build once the install script is approved: IPVS_TS_BUILD_FROM_SOURCE=1 npm rebuild ipvs-ts', () => {
    const c = consumer!;
    ok(run('npm', ['install-scripts', 'approve', 'ipvs-ts'], c.dir));
    const r = run('npm', ['rebuild', 'ipvs-ts', '--foreground-scripts'], c.dir, userEnv({ IPVS_TS_BUILD_FROM_SOURCE: '1' }));
    ok(r);
    expect(r.stdout).toContain('ipvs-ts: a source build was asked for');
    const built = path.join(c.pkgDir, 'build/Release/ipvs_native.node');
    expect(existsSync(built)).toBe(true);
    // The loader prefers the local build over the prebuilt binary.
    expect(runConsumer(c, scripts.cjs, '--load-only').addons).toEqual([realpathSync(built)]);
    expect(runConsumer(c, scripts.esm, '--load-only').addons).toEqual([realpathSync(built)]);
  }, 300_000);
});
