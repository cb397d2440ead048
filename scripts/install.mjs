#!/usr/bin/env node
// The package's "install" script: compile the addon only when no prebuilt
// binary fits.
//
// npm runs it when install scripts are allowed for ipvs-ts. When the prebuilt
// binary for this platform (prebuilds/<platform>-<arch>/ipvs-ts.<libc>.node)
// exists and loads, there is nothing to do, so installing needs no compiler.
// Otherwise — no binary for this platform, or it does not load (glibc too
// old, …), or a source build is asked for — it runs `node-gyp rebuild`
// (npm's own node-gyp), which needs python3, make and g++; the loader then
// prefers that build/Release/ipvs_native.node. A failed build fails the install.
//
// Ask for a source build with IPVS_TS_BUILD_FROM_SOURCE=1 (or npm's
// --build-from-source, which npm passes as npm_config_build_from_source):
//   IPVS_TS_BUILD_FROM_SOURCE=1 npm rebuild ipvs-ts
// In a fresh checkout dist/ is not built yet when npm ci runs this, so it
// compiles, as a developer wants. See docs/install.md.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const say = (s) => console.log(`ipvs-ts: ${s}`);
const truthy = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';

async function prebuiltFits() {
  let loader;
  try {
    loader = await import(pathToFileURL(path.join(root, 'dist/loader.js')).href);
  } catch {
    say('dist/ is not built (a fresh checkout?): building the addon from source');
    return false;
  }
  const ctx = loader.loaderContext({ root });
  const rel = loader.prebuildPath(ctx.platform, ctx.arch, ctx.libc);
  if (!fs.existsSync(path.join(root, rel))) {
    say(`no prebuilt binary for ${ctx.platform}-${ctx.arch}${ctx.libc ? ` (${ctx.libc})` : ''}: building the addon from source`);
    return false;
  }
  try {
    ctx.load(path.join(root, rel));
  } catch (e) {
    say(`the prebuilt binary ${rel} does not load here (${String(e.message).split('\n')[0]}): building the addon from source`);
    return false;
  }
  say(`using the prebuilt binary ${rel}; nothing to compile`);
  return true;
}

const fromSource = truthy(env.IPVS_TS_BUILD_FROM_SOURCE) || truthy(env.npm_config_build_from_source);
if (fromSource) say('a source build was asked for (IPVS_TS_BUILD_FROM_SOURCE / --build-from-source)');
if (!fromSource && (await prebuiltFits())) process.exit(0);

// npm sets npm_config_node_gyp to its bundled node-gyp and puts a `node-gyp`
// shim on PATH for lifecycle scripts.
const gypArgs = ['rebuild'];
if (!env.npm_config_nodedir) {
  // The local node's headers, when installed (Debian: /usr/include/node): no download.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) gypArgs.push(`--nodedir=${prefix}`);
}
const r = env.npm_config_node_gyp
  ? spawnSync(process.execPath, [env.npm_config_node_gyp, ...gypArgs], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', gypArgs, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(
    [
      `ipvs-ts: the source build failed (node-gyp ${gypArgs.join(' ')}: ${r.error ? r.error.message : `exit ${r.status ?? r.signal}`}).`,
      'It needs python3, make and a C++17 compiler (g++): `apt-get install python3 make g++`',
      '(Alpine: `apk add python3 make g++ linux-headers`). Then: npm rebuild ipvs-ts',
    ].join('\n'),
  );
  process.exit(1);
}
