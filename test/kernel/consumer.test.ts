// Issue 6: a user's project installs the packed ipvs-ts with npm's default
// settings, imports it (ESM and CommonJS) and talks to the real kernel, through
// the prebuilt binary — no compiler involved.
//
// `npm pack` of this checkout (dist/ from `npm test`'s build, prebuilds/ from
// `npm run prebuilds`), then `npm install <tarball> --offline` into a fresh
// project, twice:
//   - default: no allowScripts entry. This npm (11.x) runs the unreviewed
//     install script with a warning: scripts/install.mjs finds the prebuilt
//     binary loads and compiles nothing;
//   - denied:  allowScripts denies ipvs-ts, so npm runs no script of it (what
//     "blocked by default" means for a package nobody approved).
// In both, node_modules/ipvs-ts has no build/ and the process maps
// prebuilds/linux-<arch>/ipvs-ts.glibc.node.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  hasBuildDir,
  makeConsumer,
  ok as okRun,
  packRepo,
  run,
  runConsumer,
  writeConsumerScripts,
  type Consumer,
} from '../unit/package-consumer.js';
import { ok, useFreshNetns } from './support.js';

const ns = useFreshNetns();
const prebuild = `prebuilds/linux-${process.arch}/ipvs-ts.glibc.node`;

let pack: ReturnType<typeof packRepo> | undefined;
beforeAll(() => {
  pack = packRepo();
}, 120_000);
afterAll(() => pack?.cleanup());

describe.each(['default', 'denied'] as const)('installed from the tarball, install scripts %s', (mode) => {
  let consumer: Consumer | undefined;
  let scripts: { esm: string; cjs: string };
  beforeAll(() => {
    if (!pack) throw new Error('npm pack failed');
    consumer = makeConsumer(pack.tarball, mode);
    scripts = writeConsumerScripts(consumer.dir);
  }, 180_000);
  afterAll(() => consumer?.cleanup());

  it('installs without compiling: no build/, the prebuilt binary is there', () => {
    const c = consumer!;
    expect(existsSync(path.join(c.pkgDir, prebuild)), `${prebuild} in the installed package`).toBe(true);
    expect(hasBuildDir(c)).toBe(false);
    // Nobody approved ipvs-ts's scripts: npm lists it as unreviewed, unless denied.
    // (`ls` reads the lockfile, which has no script bodies, and shows the
    // binding.gyp default `node-gyp rebuild`; npm runs scripts/install.mjs.)
    const pending = okRun(run('npm', ['install-scripts', 'ls'], c.dir));
    if (mode === 'default') expect(pending).toMatch(/ipvs-ts@\d+\.\d+\.\d+ \(install:/);
    else expect(pending).not.toContain('ipvs-ts');
  });

  it.each(['esm', 'cjs'] as const)('%s: Ipvs.open() + info() in the real kernel, through the prebuilt binary', (format) => {
    const c = consumer!;
    const out = runConsumer(c, scripts[format], ns.name);
    expect(out.format).toBe(format);
    expect(out.info).toEqual({ version: '1.2.1', connectionTableSize: 4096 });
    const header = ok(ns.ipvsadm('-Ln')).split('\n')[0];
    expect(header).toBe(`IP Virtual Server version ${out.info?.version} (size=${out.info?.connectionTableSize})`);
    expect(out.addons).toEqual([realpathSync(path.join(c.pkgDir, prebuild))]);
  });
});
