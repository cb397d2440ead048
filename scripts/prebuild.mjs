#!/usr/bin/env node
// `npm run prebuild`: builds the prebuilt N-API binaries that ship in the package,
//
//   prebuilds/linux-x64/ipvs-ts.glibc.node     (x86-64, glibc)
//   prebuilds/linux-arm64/ipvs-ts.glibc.node   (AArch64, glibc)
//
// with node-gyp and binding.gyp — the same build as a source install — one
// staging folder per target under build/prebuild/ (the developer's
// build/Release is left alone). The host's own architecture uses the native
// compiler ($CC/$CXX, default gcc/g++); the other one Debian's cross compiler
// (`apt-get install g++-aarch64-linux-gnu`, or g++-x86-64-linux-gnu on an arm64
// host). Headers come from the local node installation when it has them
// (/usr/include/node here), so nothing is downloaded. Each result is checked to
// be an ELF shared object for its machine, stripped of its symbol table
// (dynamic symbols stay) and written under prebuilds/. The names come from
// lib/loader.ts (through dist/, so `npm run build:ts` first; npm ci does it).
//
//   node scripts/prebuild.mjs                 both targets
//   node scripts/prebuild.mjs --arch arm64    one (x64, arm64; comma-separated)
//   node scripts/prebuild.mjs --jobs 4        parallel compile jobs (default: CPUs)
//
// See docs/install.md.

import { spawnSync } from 'node:child_process';

import { localNodedir } from './node-gyp.mjs';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** Toolchain prefixes of Debian's cross compilers, by node's arch name. */
const CROSS_PREFIX = { x64: 'x86_64-linux-gnu-', arm64: 'aarch64-linux-gnu-' };
const CROSS_PACKAGE = { x64: 'g++-x86-64-linux-gnu', arm64: 'g++-aarch64-linux-gnu' };
/** ELF e_machine values. */
const ELF_MACHINE = { x64: 62, arm64: 183 };

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

/** Class, byte order, type and machine of an ELF file, or null when it is not one. */
function elfHeader(file) {
  const b = fs.readFileSync(file).subarray(0, 20);
  if (b.length < 20 || b.readUInt32BE(0) !== 0x7f454c46) return null;
  const le = b[5] === 1;
  return {
    bits: b[4] === 2 ? 64 : 32,
    littleEndian: le,
    type: le ? b.readUInt16LE(16) : b.readUInt16BE(16), // 3 = ET_DYN (shared object)
    machine: le ? b.readUInt16LE(18) : b.readUInt16BE(18),
  };
}

function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function nodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
    fail('node-gyp is not installed: run `npm ci` (it is a devDependency)');
  }
}

async function main() {
  const args = process.argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  let loader;
  try {
    loader = await import(pathToFileURL(path.join(root, 'dist/loader.js')).href);
  } catch (e) {
    fail(`cannot import dist/loader.js (${e.message}); run \`npm run build:ts\` first`);
  }
  if (process.platform !== 'linux' || loader.detectLibc() !== 'glibc') {
    fail('builds the glibc Linux binaries, so it runs on a glibc Linux host (Debian 12 here)');
  }
  const wanted = (opt('--arch') ?? loader.PREBUILT_TARGETS.map((t) => t.arch).join(',')).split(',');
  const jobs = Number(opt('--jobs') ?? os.availableParallelism());
  const targets = wanted.map((arch) => {
    const t = loader.PREBUILT_TARGETS.find((x) => x.arch === arch);
    if (!t) fail(`no prebuilt target for arch ${arch}; known: ${loader.PREBUILT_TARGETS.map((x) => x.arch).join(', ')}`);
    return t;
  });

  const gyp = nodeGyp();
  const nodedir = localNodedir();
  if (!nodedir) console.warn('prebuild: no local node headers; node-gyp will download them (needs the network)');

  const results = [];
  for (const t of targets) {
    const name = `${t.platform}-${t.arch}`;
    const native = t.arch === process.arch;
    const prefix = native ? '' : CROSS_PREFIX[t.arch];
    if (prefix === undefined) fail(`no cross compiler known for ${t.arch}`);
    const cc = native ? (process.env.CC ?? 'gcc') : `${prefix}gcc`;
    const cxx = native ? (process.env.CXX ?? 'g++') : `${prefix}g++`;
    const strip = `${prefix}strip`;
    for (const tool of [cc, cxx, strip]) {
      if (!has(tool)) {
        fail(`${tool} not found; ${native ? 'apt-get install build-essential' : `apt-get install ${CROSS_PACKAGE[t.arch]}`}`);
      }
    }

    // A staging folder with binding.gyp and a link to native/: node-gyp always
    // builds into ./build, and the developer's build/Release must stay theirs.
    const stage = path.join(root, 'build/prebuild', name);
    fs.rmSync(stage, { recursive: true, force: true });
    fs.mkdirSync(stage, { recursive: true });
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
    fs.symlinkSync(path.relative(stage, path.join(root, 'native')), path.join(stage, 'native'));

    const gypArgs = [gyp, 'rebuild', `--arch=${t.arch}`, `--jobs=${jobs}`, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
    console.log(`\n=== ${name}: ${cxx}, node-gyp ${gypArgs.slice(1).join(' ')}`);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, gypArgs, {
      cwd: stage,
      stdio: 'inherit',
      env: { ...process.env, CC: cc, CXX: cxx },
    });
    if (r.status !== 0) fail(`node-gyp failed for ${name} (exit ${r.status ?? r.signal})`);
    const built = path.join(stage, 'build/Release/ipvs_native.node');

    const elf = elfHeader(built);
    if (!elf || elf.bits !== 64 || !elf.littleEndian || elf.type !== 3 || elf.machine !== ELF_MACHINE[t.arch]) {
      fail(`${built} is not a 64-bit little-endian ELF shared object for ${t.arch}: ${JSON.stringify(elf)}`);
    }
    const out = path.join(root, loader.prebuildPath(t.platform, t.arch, t.libc));
    const tmp = `${out}.tmp`;
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.copyFileSync(built, tmp);
    const s = spawnSync(strip, ['--strip-unneeded', tmp], { stdio: 'inherit' });
    if (s.status !== 0) fail(`${strip} failed on ${tmp}`);
    fs.renameSync(tmp, out);
    results.push({ name, file: path.relative(root, out), before: fs.statSync(built).size, size: fs.statSync(out).size, seconds: (Date.now() - t0) / 1000 });
  }

  console.log('\n── prebuilds ──');
  for (const r of results) {
    console.log(`  ${r.name.padEnd(12)} ${r.file}  ${(r.size / 1024).toFixed(0)} KiB (${(r.before / 1024).toFixed(0)} KiB before strip), ${r.seconds.toFixed(1)} s`);
  }
}

await main();
