#!/usr/bin/env node
// npm run fuzz: the libFuzzer targets of native/fuzz/ (ASan + UBSan), built
// with clang into .cache/fuzz, each run in turn over the committed corpus
// (test/fuzz/corpus/<target>) and the seeds (scripts/fuzz-corpus.mjs).
//
//   npm run fuzz                              every target, 1 minute each
//   npm run fuzz -- --minutes 20              20 minutes each (the time is per target)
//   npm run fuzz -- --seconds 5 fuzz_paths    one target, 5 s
//   npm run fuzz -- --no-merge --json         leave the committed corpus alone; JSON out
//
// After a run (unless --no-merge) the corpus is merged and minimized back
// into test/fuzz/corpus/<target> (libFuzzer -merge=1: the inputs that add
// coverage). A crash, a leak, undefined behaviour or a hang (10 s) is a
// finding: the input is kept in .cache/fuzz/findings/ and the run exits 1.
// Prints per target: executions, coverage (edges), corpus size, findings.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { seedDir, writeSeeds } from './fuzz-corpus.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TARGETS = ['fuzz_ipvs_reply', 'fuzz_rtnl_reply', 'fuzz_records', 'fuzz_socket', 'fuzz_paths'];
const build = path.join(repo, '.cache', 'fuzz');
const corpusRoot = path.join(repo, 'test', 'fuzz', 'corpus');

/** Builds the targets; returns an error in words, or null. */
export function buildTargets() {
  const clang = spawnSync('clang++', ['--version'], { encoding: 'utf8' });
  if (clang.status !== 0) return 'clang++ is not installed: the fuzz targets need clang and libFuzzer (apt-get install clang libclang-rt-14-dev)';
  const env = { ...process.env, CXX: 'clang++', CC: 'clang' };
  const configure = spawnSync('cmake', ['-S', path.join(repo, 'native'), '-B', build, '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], { env, encoding: 'utf8' });
  if (configure.status !== 0) return `cmake could not configure native/ for the fuzz targets:\n${configure.stdout}${configure.stderr}`;
  const make = spawnSync('cmake', ['--build', build, '-j2', '--target', ...TARGETS], { env, encoding: 'utf8' });
  if (make.status !== 0) return `building the fuzz targets failed:\n${make.stdout.slice(-4000)}${make.stderr.slice(-4000)}`;
  return null;
}

const count = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).length : 0);
const bytes = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0) : 0);

/** Runs one target for `seconds`; returns its figures. */
export function runTarget(target, seconds, { merge = true } = {}) {
  const bin = path.join(build, target);
  const work = path.join(build, 'work', target);
  const corpus = path.join(corpusRoot, target);
  const findings = path.join(build, 'findings');
  fs.mkdirSync(work, { recursive: true });
  fs.mkdirSync(corpus, { recursive: true });
  fs.mkdirSync(findings, { recursive: true });
  const before = new Set(fs.readdirSync(findings));
  const r = spawnSync(
    bin,
    [`-max_total_time=${seconds}`, '-timeout=10', '-rss_limit_mb=4096', '-print_final_stats=1', `-artifact_prefix=${findings}/${target}-`, work, corpus, path.join(seedDir, target)],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  const log = `${r.stdout}${r.stderr}`;
  const executions = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(log)?.[1] ?? 0);
  const edges = Math.max(0, ...[...log.matchAll(/\bcov: (\d+)/g)].map((m) => Number(m[1])));
  const newFindings = fs.readdirSync(findings).filter((f) => !before.has(f));
  const summary = /SUMMARY: .*/.exec(log)?.[0];
  if (merge && r.status === 0) {
    const merged = path.join(build, 'merged', target);
    fs.rmSync(merged, { recursive: true, force: true });
    fs.mkdirSync(merged, { recursive: true });
    const m = spawnSync(bin, ['-merge=1', '-timeout=10', merged, corpus, work, path.join(seedDir, target)], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (m.status === 0) {
      // Inputs named regress-* are findings kept on purpose: a merge that
      // finds their coverage elsewhere must not drop them.
      for (const f of fs.readdirSync(corpus).filter((f) => f.startsWith('regress-'))) fs.copyFileSync(path.join(corpus, f), path.join(merged, f));
      fs.rmSync(corpus, { recursive: true, force: true });
      fs.renameSync(merged, corpus);
    }
  }
  return {
    target,
    seconds,
    executions,
    edges,
    corpusFiles: count(corpus),
    corpusBytes: bytes(corpus),
    findings: newFindings.length + (r.status !== 0 && newFindings.length === 0 ? 1 : 0),
    exitCode: r.status,
    ...(summary ? { summary } : {}),
    ...(newFindings.length ? { kept: newFindings.map((f) => path.join(findings, f)) } : {}),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { minutes: { type: 'string' }, seconds: { type: 'string' }, 'no-merge': { type: 'boolean' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  const seconds = values.seconds !== undefined ? Number(values.seconds) : Number(values.minutes ?? 1) * 60;
  if (!Number.isFinite(seconds) || seconds < 1) {
    console.error('fuzz: --minutes / --seconds must be a positive number');
    process.exit(2);
  }
  const targets = positionals.length ? positionals : TARGETS;
  for (const t of targets) {
    if (!TARGETS.includes(t)) {
      console.error(`fuzz: no target ${t}; the targets are ${TARGETS.join(', ')}`);
      process.exit(2);
    }
  }
  const error = buildTargets();
  if (error) {
    console.error(`fuzz: ${error}`);
    process.exit(2);
  }
  await writeSeeds();
  const results = [];
  for (const t of targets) {
    if (!values.json) process.stderr.write(`fuzz: ${t} for ${seconds} s…\n`);
    results.push(runTarget(t, Math.round(seconds), { merge: !values['no-merge'] }));
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else {
    console.log(`${'target'.padEnd(16)} ${'executions'.padStart(12)} ${'edges'.padStart(6)} ${'corpus'.padStart(14)}  findings`);
    for (const r of results) {
      console.log(`${r.target.padEnd(16)} ${String(r.executions).padStart(12)} ${String(r.edges).padStart(6)} ${`${r.corpusFiles} / ${(r.corpusBytes / 1024).toFixed(0)} KiB`.padStart(14)}  ${r.findings}${r.summary ? `  ${r.summary}` : ''}`);
    }
    const total = results.reduce((a, r) => a + r.executions, 0);
    console.log(`in all: ${total} executions, ${results.reduce((a, r) => a + r.findings, 0)} findings`);
  }
  process.exit(results.some((r) => r.findings) ? 1 : 0);
}
