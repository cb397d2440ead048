// node-gyp as the build scripts run it (scripts/prebuild.mjs, build-peer.mjs,
// build-asan.mjs): this node's own headers when they are installed (no
// download: CI machines and the guest have no network for it), else
// node-gyp's default.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** A node-gyp nodedir with the headers of this node, when installed locally (no download). */
export function localNodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include/node/node_api.h')) ? prefix : null;
}

/** node-gyp's entry point, from the project's devDependencies. */
export function nodeGypScript() {
  return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
}

/** Runs `node-gyp ARGS` (with --nodedir when local headers exist); returns its exit status. */
export function runNodeGyp(args, options = {}) {
  const nodedir = localNodedir();
  const r = spawnSync(process.execPath, [nodeGypScript(), ...args, ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
    stdio: 'inherit',
    ...options,
  });
  return r.status ?? 1;
}
