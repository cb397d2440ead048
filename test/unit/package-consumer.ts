// Helpers for the package tests (test/unit/package-install.test.ts,
// test/kernel/consumer.test.ts): pack this repository the way `npm publish`
// would, and install the tarball into a fresh project like a user does.
//
// The consumer's npm runs with the machine's own configuration (~/.npmrc) and
// none of the npm_* variables of the `npm test` around us (npm_config_local_prefix
// would point it at this repository). The tarball's one dependency,
// node-addon-api, comes from npm's cache: on the host `--prefer-offline` (npm
// ci caches the package but not its registry metadata, which a fresh machine
// fetches once, here), in the UML guest, which has no network, `--offline`
// (the host's run before it left both in the cache).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  command: string;
}

/** The environment of a user's shell: ours without npm's lifecycle variables. */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE_OPTIONS' || k.startsWith('VITEST') || k === 'IPVS_TS_BUILD_FROM_SOURCE') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv(), timeoutMs = 300_000): Run {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : ''), command: `${cmd} ${args.join(' ')} (in ${cwd})` };
}

export function ok(r: Run): string {
  if (r.status === 0) return r.stdout;
  throw new Error(`\`${r.command}\` failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`.trimEnd());
}

/**
 * `npm pack --ignore-scripts` of this repository into a new temporary folder:
 * dist/ (`npm test` builds it first) and prebuilds/ (`npm run prebuilds`) as
 * they are. Returns the tarball's path and a cleanup function.
 */
export function packRepo(): { tarball: string; dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-ts-pack-'));
  const out = ok(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], repoRoot));
  const [{ filename }] = JSON.parse(out) as [{ filename: string }];
  return { tarball: path.join(dir, filename), dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Consumer {
  dir: string;
  /** The installed package folder. */
  pkgDir: string;
  /** The output of `npm install`. */
  install: Run;
  cleanup(): void;
}

/**
 * A fresh project with `npm install <tarball>`, from npm's cache (see above).
 * `scripts`: 'default' leaves allowScripts alone (npm's default: this npm
 * runs unreviewed install scripts with a warning, future ones skip them);
 * 'denied' denies ipvs-ts's scripts in allowScripts (as npm does for a
 * package it blocks: no install script at all).
 */
export function makeConsumer(tarball: string, scripts: 'default' | 'denied'): Consumer {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ipvs-ts-consumer-${scripts}-`));
  const pkg: Record<string, unknown> = { name: `consumer-${scripts}`, version: '1.0.0', private: true };
  // A file: tarball is identified by its resolved path in allowScripts.
  if (scripts === 'denied') pkg.allowScripts = { [`file:${tarball}`]: false };
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  const cache = process.env.IPVS_UML === '1' ? '--offline' : '--prefer-offline';
  const install = run('npm', ['install', tarball, cache, '--no-audit', '--no-fund'], dir);
  ok(install);
  return { dir, pkgDir: path.join(dir, 'node_modules/ipvs-ts'), install, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The `.node` files mapped into a process, from /proc/self/maps (a line of JS for the scripts below). */
const ADDONS_JS = `[...new Set(readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.trim().split(/\\s+/)[5]).filter((p) => p && p.endsWith('.node')))]`;

/**
 * Writes esm.mjs and cjs.cjs into the consumer: each imports ipvs-ts its own
 * way, opens a handle (in the namespace named by argv[2], if any), calls
 * info() and prints {format, info, addons} as JSON, `addons` being the .node
 * files the process mapped. With argv[2] === '--load-only' it only loads
 * the addon (which happens at the first call: an open of a namespace path
 * that does not exist, refused with ENOENT).
 */
export function writeConsumerScripts(dir: string): { esm: string; cjs: string } {
  const body = (format: string) => `
  const netns = process.argv[2];
  let info = null;
  if (netns === '--load-only') {
    await Ipvs.open({ netns: '/nonexistent/netns' }).catch((e) => { if (e.code !== 'ENOENT') throw e; });
  } else {
    const ipvs = await Ipvs.open(netns ? { netns } : {});
    try { info = await ipvs.info(); } finally { ipvs.close(); }
  }
  console.log(JSON.stringify({ format: '${format}', ipvs: typeof Ipvs.open, error: typeof IpvsError, info, addons: ${ADDONS_JS} }));
`;
  const esm = path.join(dir, 'esm.mjs');
  const cjs = path.join(dir, 'cjs.cjs');
  writeFileSync(esm, `import { Ipvs, IpvsError } from 'ipvs-ts';\nimport { readFileSync } from 'node:fs';\n${body('esm')}`);
  writeFileSync(
    cjs,
    `'use strict';\nconst { Ipvs, IpvsError } = require('ipvs-ts');\nconst { readFileSync } = require('node:fs');\n(async () => {${body('cjs')}})().catch((e) => { console.error(e); process.exit(1); });\n`,
  );
  return { esm, cjs };
}

export interface ConsumerOutput {
  format: 'esm' | 'cjs';
  ipvs: string;
  error: string;
  info: { version: string; connectionTableSize: number } | null;
  addons: string[];
}

/** Runs one of the scripts of writeConsumerScripts() and parses its output. */
export function runConsumer(consumer: Consumer, script: string, arg?: string): ConsumerOutput {
  const out = ok(run(process.execPath, [script, ...(arg === undefined ? [] : [arg])], consumer.dir));
  return JSON.parse(out.trim().split('\n').pop() ?? '') as ConsumerOutput;
}

/** Does the installed package have a build/ folder (did anything compile)? */
export function hasBuildDir(consumer: Consumer): boolean {
  return readdirSync(consumer.pkgDir).includes('build');
}
