#!/usr/bin/env node
// `npm test`: unit tests on the host, then kernel tests against a real kernel with
// IPVS — the host's own when it has IPVS (and we are root), else User-Mode Linux
// (scripts/uml.mjs), after the host-side tests of that harness. See docs/testing.md.
//
//   npm test                                   everything
//   npm test -- test/kernel/harness.test.ts    one file (only its suite runs)
//   npm test -- --unit | --harness | --kernel  one suite
//   npm test -- -t 'pattern'                   any other argument goes to vitest
//
// Environment:
//   IPVS_KERNEL=auto|host|uml  where kernel tests run (default auto)
//   IPVS_REQUIRE_KERNEL=1      no kernel with IPVS is a failure (CI sets it); always wins;
//                              so is a kernel suite that ran no test or skipped one
//   IPVS_SKIP_KERNEL=1         no kernel with IPVS: skip kernel tests with a loud warning
//                              (without it the run fails with instructions)
//   IPVS_TEST_SANITIZE=0       leave out the kernel suite's second run over the addon built
//                              with sanitizers (UBSan in User-Mode Linux, ASan+UBSan on a host)
//   IPVS_UML_*                 see scripts/uml.mjs

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { buildPeer } from './build-peer.mjs';
import { asanRuntime, buildSanitized, sanitizedAddon } from './build-sanitized.mjs';
import { INSTALL_HINT, preloadHostModules, repoRoot, runInUml, selectKernel } from './uml.mjs';

const require = createRequire(import.meta.url);
const env = process.env;
const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
const out = (s = '') => process.stdout.write(s + '\n');
const loud = (lines) => {
  const bar = '!'.repeat(78);
  process.stderr.write(`\n${bar}\n${lines.map((l) => `!! ${l}`).join('\n')}\n${bar}\n\n`);
};

// --- arguments -------------------------------------------------------------
const userArgs = [];
const chosen = new Set();
for (const a of process.argv.slice(2)) {
  if (a === '--unit') chosen.add('unit');
  else if (a === '--harness') chosen.add('harness');
  else if (a === '--kernel') chosen.add('kernel');
  else userArgs.push(a);
}
if (!chosen.size) {
  // Paths under test/unit, test/harness or test/kernel select their suite; anything else runs all.
  const kinds = new Set(
    userArgs.filter((a) => !a.startsWith('-')).map((a) => /(^|\/)test\/(unit|harness|kernel)(\/|$)/.exec(a)?.[2] ?? 'other'),
  );
  if (kinds.size && !kinds.has('other')) kinds.forEach((k) => chosen.add(k));
  else ['unit', 'harness', 'kernel'].forEach((k) => chosen.add(k));
}

let vitestBin;
try {
  vitestBin = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
} catch {
  console.error('test: vitest is not installed; run `npm install` (or `npm ci`) first');
  process.exit(1);
}

const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipvs-test-'));
process.on('exit', () => fs.rmSync(reportDir, { recursive: true, force: true }));

const hasReporter = userArgs.some((a) => a === '--reporter' || a.startsWith('--reporter='));
function vitestArgv(project, name = project) {
  const json = path.join(reportDir, `${name}.json`);
  return {
    json,
    argv: [
      process.execPath, vitestBin, 'run', '--project', project, '--passWithNoTests',
      ...(hasReporter ? [] : ['--reporter=default']),
      '--reporter=json', `--outputFile.json=${json}`,
      ...userArgs,
    ],
  };
}

function runHost(argv, childEnv = process.env) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: repoRoot, stdio: 'inherit', env: childEnv });
    child.on('error', (e) => {
      console.error(`test: cannot run ${argv[0]}: ${e.message}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal] ?? 1)));
  });
}

function readCounts(json) {
  try {
    const r = JSON.parse(fs.readFileSync(json, 'utf8'));
    return {
      files: r.testResults?.length ?? 0,
      failedFiles: r.testResults?.filter((f) => f.status === 'failed').length ?? 0,
      total: r.numTotalTests ?? 0,
      passed: r.numPassedTests ?? 0,
      failed: r.numFailedTests ?? 0,
      skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0),
    };
  } catch {
    return null;
  }
}

// --- prebuilt binaries -----------------------------------------------------
// Unit tests check the binaries the package ships and install the packed
// package, so they must exist and be built from the current native/ sources:
// a fresh clone has none (prebuilds/ is not committed), and a stale one would
// test old code. Built here, so that `npm install && npm test` is enough.

/** Newest modification time (ms) of the files below `dir` (or of `dir` itself). */
function newestMtime(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const e of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, e)));
  return newest;
}

async function ensurePrebuilds() {
  const { PREBUILT_TARGETS, prebuildPath } = await import(path.join(repoRoot, 'dist', 'loader.js'));
  const sources = Math.max(newestMtime(path.join(repoRoot, 'native')), newestMtime(path.join(repoRoot, 'binding.gyp')));
  const stale = PREBUILT_TARGETS.filter((t) => {
    const file = path.join(repoRoot, prebuildPath(t.platform, t.arch, t.libc));
    return !fs.existsSync(file) || fs.statSync(file).mtimeMs < sources;
  });
  if (!stale.length) return 0;
  out(`── prebuilds: ${stale.map((t) => `${t.platform}-${t.arch}`).join(', ')} missing or older than native/ — building ──`);
  return runHost([process.execPath, path.join(repoRoot, 'scripts', 'prebuild.mjs'), '--arch', stale.map((t) => t.arch).join(',')]);
}

// --- run -------------------------------------------------------------------
const results = []; // { suite, where, code, counts, seconds, note }

if (chosen.has('unit')) {
  const code = await ensurePrebuilds();
  if (code !== 0) {
    console.error(`test: npm run prebuilds failed (exit ${code}); see docs/install.md for the cross compiler it needs`);
    process.exit(code);
  }
  // The unit suite runs the native client against the netlink test peer.
  const peer = buildPeer();
  if (peer !== 0) {
    console.error(`test: building the netlink test peer (scripts/build-peer.mjs) failed (exit ${peer})`);
    process.exit(peer);
  }
}

if (chosen.has('unit')) {
  out('── unit tests (host) ──');
  const t = Date.now();
  const { json, argv } = vitestArgv('unit');
  const code = await runHost(argv);
  results.push({ suite: 'unit', where: 'host', code, counts: readCounts(json), seconds: (Date.now() - t) / 1000 });
}

const needsKernel = chosen.has('kernel') || chosen.has('harness');
const sel = needsKernel ? selectKernel() : null;

if (sel && sel.where === null) {
  const mustHave = env.IPVS_REQUIRE_KERNEL === '1';
  const skip = !mustHave && env.IPVS_SKIP_KERNEL === '1';
  const lines = [
    `NO KERNEL WITH IPVS: kernel tests ${skip ? 'SKIPPED (IPVS_SKIP_KERNEL=1)' : 'cannot run'}.`,
    ...sel.reason.split('\n'),
    '',
    `To run them: install User-Mode Linux (${INSTALL_HINT}),`,
    'or run as root on a Linux host whose kernel has ip_vs.',
    ...(skip ? [] : mustHave ? ['IPVS_REQUIRE_KERNEL=1 is set: failing.'] : ['To skip them knowingly: IPVS_SKIP_KERNEL=1 npm test']),
  ];
  loud(lines);
  results.push({ suite: 'kernel', where: '-', code: skip ? 0 : 1, counts: null, seconds: 0, note: skip ? 'SKIPPED (IPVS_SKIP_KERNEL=1): no kernel with IPVS' : 'NOT RUN: no kernel with IPVS' });
}

// The harness tests boot User-Mode Linux themselves: they run where the kernel
// suite is about to run in it (or when asked for by name).
if (sel?.where === 'uml' && chosen.has('harness')) {
  out('── User-Mode Linux harness tests (host, each boots the guest) ──');
  const t = Date.now();
  const { json, argv } = vitestArgv('harness');
  const code = await runHost(argv);
  results.push({ suite: 'harness', where: 'host', code, counts: readCounts(json), seconds: (Date.now() - t) / 1000 });
} else if (sel?.where === 'host' && chosen.has('harness') && !chosen.has('kernel')) {
  results.push({ suite: 'harness', where: '-', code: 0, counts: null, seconds: 0, note: 'not run: the kernel tests run on the host kernel, not in User-Mode Linux' });
}

if (sel?.where && chosen.has('kernel')) {
  const where = sel.where === 'host' ? 'host kernel' : `User-Mode Linux ${sel.uml.version}`;
  out(`── kernel tests on ${where} ──`);
  out(`   (${sel.reason})`);
  if (sel.where === 'host') {
    const missing = preloadHostModules();
    if (missing.length) out(`   (could not load ${missing.join(', ')}: the tests that need them will fail)`);
  }
  // The same suite once more over the addon built with sanitizers: ASan and
  // UBSan on a host kernel; UBSan alone in User-Mode Linux, whose 39-bit user
  // address space has no room for ASan's shadow (memory errors are what the
  // peer_selftest and the host runs against the test peer catch there).
  // consumer.test.ts is left out: it checks that the packed prebuilt binary
  // is the one loaded, which an addon named by IPVS_TS_ADDON replaces.
  // In User-Mode Linux the two passes run at once, each guest on a CPU of its
  // own (a guest is one CPU), and the second pass's output follows the first's.
  let sanitized = null;
  if (env.IPVS_TEST_SANITIZE !== '0') {
    const flavour = sel.where === 'host' ? 'asan' : 'ubsan';
    const label = flavour === 'asan' ? 'kernel+asan' : 'kernel+ubsan';
    const built = buildSanitized(flavour);
    const runtime = flavour === 'asan' ? asanRuntime() : null;
    if (built !== 0 || (flavour === 'asan' && !runtime)) {
      sanitized = { label, failed: `NOT RUN: the ${flavour} build of the addon failed (scripts/build-sanitized.mjs)` };
    } else {
      const { json, argv } = vitestArgv('kernel', label);
      const sanEnv = {
        ...env,
        IPVS_TS_ADDON: sanitizedAddon(flavour),
        IPVS_TEST_EXCLUDE: 'test/kernel/consumer.test.ts',
        UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
        ...(runtime ? { LD_PRELOAD: runtime, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1' } : {}),
      };
      sanitized = { label, flavour, json, argv, env: sanEnv };
    }
  }

  const runKernel = (argv, childEnv, io = {}) =>
    sel.where === 'host' ? runHost(argv, childEnv) : runInUml(argv, { uml: sel.uml, cwd: repoRoot, env: childEnv, ...io });
  const noteFor = (counts) =>
    env.IPVS_REQUIRE_KERNEL === '1' && counts && (counts.total === 0 || counts.skipped > 0)
      ? `FAILED (IPVS_REQUIRE_KERNEL=1): ${plural(counts.total, 'test')} ran, ${counts.skipped} skipped`
      : undefined;

  const t = Date.now();
  const { json, argv } = vitestArgv('kernel');
  let second = null;
  let secondLog = null;
  if (sanitized?.argv && sel.where === 'uml') {
    secondLog = path.join(reportDir, `${sanitized.label}.log`);
    const stream = fs.createWriteStream(secondLog);
    out(`   (${sanitized.label} runs at the same time in a second guest; its output follows)`);
    second = runKernel(sanitized.argv, sanitized.env, { stdout: stream, stderr: stream, announce: false }).then(
      (code) => new Promise((resolve) => stream.end(() => resolve({ code, seconds: (Date.now() - t) / 1000 }))),
    );
  }
  const code = await runKernel(argv, env);
  const counts = readCounts(json);
  const note = noteFor(counts);
  results.push({ suite: 'kernel', where, code: note ? 1 : code, counts, seconds: (Date.now() - t) / 1000, note });

  if (sanitized?.failed) {
    results.push({ suite: sanitized.label, where, code: 1, counts: null, seconds: 0, note: sanitized.failed });
  } else if (sanitized) {
    const what = sanitized.flavour === 'asan' ? 'ASan and UBSan' : 'UBSan';
    out(`── kernel tests on ${where}, the addon built with ${what} ──`);
    let run;
    if (second) {
      run = await second;
      process.stdout.write(fs.readFileSync(secondLog));
    } else {
      const t2 = Date.now();
      run = { code: await runKernel(sanitized.argv, sanitized.env), seconds: 0 };
      run.seconds = (Date.now() - t2) / 1000;
    }
    const counts2 = readCounts(sanitized.json);
    const note2 = noteFor(counts2);
    results.push({ suite: sanitized.label, where, code: note2 ? 1 : run.code, counts: counts2, seconds: run.seconds, note: note2 });
  }
}

// --- summary ---------------------------------------------------------------
let failed = false;
const ran = results.reduce((n, r) => n + (r.counts?.total ?? 0), 0);
out('\n── ipvs-ts test summary ──');
for (const r of results) {
  let line;
  if (!r.counts) line = r.note ?? `no report (vitest exited with ${r.code})`;
  else {
    const c = r.counts;
    line = `${plural(c.total, 'test')} in ${plural(c.files, 'file')}: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}`;
    if (c.failedFiles) line += ` (${plural(c.failedFiles, 'file')} failed)`;
    if (r.note) line += ` — ${r.note}`;
  }
  const bad = r.code !== 0 || (r.counts && r.counts.failed > 0) || (!r.counts && !r.note);
  if (bad) failed = true;
  const time = r.seconds ? ` (${r.seconds.toFixed(1)} s${r.where.startsWith('User-Mode') ? ', boot included' : ''})` : '';
  const place = r.counts ? `on ${r.where.padEnd(26)}` : ''.padEnd(29);
  out(`  ${r.suite.padEnd(12)} ${place} ${line}${time}${bad ? `  ✗ exit ${r.code}` : ''}`);
}
if (ran === 0 && !results.every((r) => r.note)) {
  out('  no tests ran (did the filter match nothing?)');
  failed = true;
}
const skipped = results.some((r) => r.note?.startsWith('SKIPPED'));
out(failed ? 'FAILED' : skipped ? 'OK, BUT THE KERNEL TESTS WERE SKIPPED' : 'OK');
process.exit(failed ? 1 : 0);
