#!/usr/bin/env node
// Builds the addon with sanitizers, from binding.gyp's own sources and
// settings, for a kernel test run under them (scripts/test.mjs --sanitize):
//
//   asan   AddressSanitizer + UndefinedBehaviorSanitizer, .cache/asan/…; node
//          must have the ASan runtime preloaded:
//            IPVS_TS_ADDON=.cache/asan/build/Release/ipvs_native.node \
//            LD_PRELOAD=$(gcc -print-file-name=libasan.so) node …
//   ubsan  UndefinedBehaviorSanitizer alone, .cache/ubsan/…: for User-Mode
//          Linux, whose 39-bit user address space has no room for ASan's
//          fixed shadow (it aborts: "Shadow memory range interleaves").
//
//   node scripts/build-sanitized.mjs [asan|ubsan]
//
// Not the production build: that is binding.gyp as it is, by node-gyp.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { runNodeGyp } from './node-gyp.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FLAVOURS = {
  asan: { sanitize: 'address,undefined', dir: path.join(root, '.cache', 'asan') },
  ubsan: { sanitize: 'undefined', dir: path.join(root, '.cache', 'ubsan') },
};

/** Where the build of a flavour puts the addon. */
export const sanitizedAddon = (flavour) => path.join(FLAVOURS[flavour].dir, 'build', 'Release', 'ipvs_native.node');

function newest(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...fs.readdirSync(p).map((e) => newest(path.join(p, e))));
}

/** The sanitizer runtime to preload into node (gcc's libasan). */
export function asanRuntime() {
  const r = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' });
  const file = (r.stdout ?? '').trim();
  return r.status === 0 && path.isAbsolute(file) && fs.existsSync(file) ? fs.realpathSync(file) : null;
}

export function buildSanitized(flavour = 'asan') {
  const { sanitize, dir } = FLAVOURS[flavour];
  const SAN = [`-fsanitize=${sanitize}`, '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', '-g'];
  const addon = sanitizedAddon(flavour);
  const sources = Math.max(newest(path.join(root, 'native')), newest(path.join(root, 'binding.gyp')));
  if (fs.existsSync(addon) && fs.statSync(addon).mtimeMs >= sources) return 0;
  const gyp = JSON.parse(
    fs
      .readFileSync(path.join(root, 'binding.gyp'), 'utf8')
      .replace(/^\s*#.*$/gm, ''),
  );
  const target = gyp.targets[0];
  const up = path.relative(dir, root);
  target.sources = target.sources.map((s) => path.join(up, s));
  target.include_dirs = target.include_dirs.map((d) => (d.startsWith('<!') ? d : path.join(up, d)));
  target.cflags_cc = [...target.cflags_cc.filter((f) => !/^-O/.test(f)), '-O1', ...SAN];
  target.cflags = [...(target.cflags ?? []), ...SAN];
  target.ldflags = [...(target.ldflags ?? []), `-fsanitize=${sanitize}`];
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'binding.gyp'), JSON.stringify(gyp, null, 2));
  fs.writeFileSync(path.join(dir, 'package.json'), `{ "name": "ipvs-ts-${flavour}", "private": true }\n`);
  console.log(`── building the addon with -fsanitize=${sanitize} (${path.relative(root, dir)}) ──`);
  return runNodeGyp(['rebuild', '-j', '2', `--directory=${dir}`], { cwd: root });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const flavour = process.argv[2] ?? 'asan';
  if (!FLAVOURS[flavour]) {
    console.error('usage: node scripts/build-sanitized.mjs [asan|ubsan]');
    process.exit(2);
  }
  process.exit(buildSanitized(flavour));
}
