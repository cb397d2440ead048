// Issue 5: `npm run demo` runs in CI — here, inside the kernel test run, on
// the same kernel (it does not boot one of its own when IPVS_UML=1 or the host
// has IPVS). It must finish well under a minute, print the ipvsadm-style
// --stats table with the three weighted real servers, say what happened, and
// leave no namespace behind.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect, it } from 'vitest';

import { buildCli } from './cli-support.js';
import { ok, run } from './support.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** scripts/demo.mjs beside a build as new as lib/: the repository's (npm test builds dist/), else a copy beside .cache/cli's. */
function demoScript(): string {
  const bin = buildCli();
  const root = join(dirname(bin), '..');
  if (root === repo) return join(repo, 'scripts', 'demo.mjs');
  mkdirSync(join(root, 'scripts', 'uml'), { recursive: true });
  for (const f of ['demo.mjs', 'demo-health.mjs', 'demo-failover.mjs', 'demo-scale-out.mjs', 'uml.mjs']) copyFileSync(join(repo, 'scripts', f), join(root, 'scripts', f));
  // uml.mjs imports its helpers from scripts/uml/.
  for (const f of readdirSync(join(repo, 'scripts', 'uml'))) copyFileSync(join(repo, 'scripts', 'uml', f), join(root, 'scripts', 'uml', f));
  return join(root, 'scripts', 'demo.mjs');
}

it('npm run demo: the origin setup with real traffic, the --stats table, a summary, then nothing left', () => {
  const before = ok(run('ip', ['netns', 'list']));
  const r = run(process.execPath, [demoScript()], { timeoutMs: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status, r.stdout).toBe(0);
  expect(r.stdout).toMatch(/^Prot LocalAddress:Port {15}Conns {3}InPkts {2}OutPkts {2}InBytes OutBytes$/m);
  expect(r.stdout).toMatch(/^TCP {2}10\.77\.0\.100:22136 +690 +\d+ +0 +\d+ +0$/m);
  expect(r.stdout.match(/^ {2}-> 10\.77\.0\.1[123]:22136 +[1-9]\d* /gm)).toHaveLength(3);
  expect(r.stdout).toContain('The counters above agree with what the client saw');
  expect(r.stdout).toMatch(/weight 1000\) \d+ .*weight 500\) \d+ .*weight 800\) \d+/);
  expect(ok(run('ip', ['netns', 'list']))).toBe(before);
}, 90_000);

it('npm run demo -- health: a door fails and returns, the sorry server takes over, traffic flows throughout', () => {
  const before = ok(run('ip', ['netns', 'list']));
  const r = run(process.execPath, [demoScript(), 'health'], { timeoutMs: 90_000 });
  expect(r.stderr).toBe('');
  expect(r.status, r.stdout).toBe(0);
  expect(r.stdout).toMatch(/ down 10\.77\.0\.12: refused → weight 0$/m);
  expect(r.stdout).toMatch(/ up {3}10\.77\.0\.12: healthy → weight 500$/m);
  expect(r.stdout).toMatch(/sorry server 10\.77\.0\.14 added: every door is down$/m);
  expect(r.stdout).toMatch(/sorry server 10\.77\.0\.14 removed: a door is back$/m);
  expect(r.stdout).toMatch(/then it got 0 new connections while down/);
  expect(r.stdout).toMatch(/the sorry server rs4 answered [1-9]\d* connections/);
  expect(ok(run('ip', ['netns', 'list']))).toBe(before);
}, 120_000);

it('npm run demo -- failover: both tables before and after, and every live connection survives', () => {
  const before = ok(run('ip', ['netns', 'list']));
  const r = run(process.execPath, [demoScript(), 'failover'], { timeoutMs: 90_000 });
  expect(r.stderr).toBe('');
  expect(r.status, r.stdout).toBe(0);
  expect(r.stdout).toMatch(/── before: A carries the traffic/);
  expect(r.stdout).toMatch(/announced by gratuitous ARP from [0-9a-f:]{17}$/m);
  expect(r.stdout).toMatch(/director B \(\S+\): 60 established echo connections in its table/);
  expect(r.stdout).toMatch(/^60\/60 connections survived the failover$/m);
  expect(ok(run('ip', ['netns', 'list']))).toBe(before);
}, 120_000);

it('npm run demo -- scale-out: per-director counts before and after a director loss, and every connection survives', () => {
  const before = ok(run('ip', ['netns', 'list']));
  const r = run(process.execPath, [demoScript(), 'scale-out'], { timeoutMs: 90_000 });
  expect(r.stderr).toBe('');
  expect(r.status, r.stdout).toBe(0);
  expect(r.stdout.match(/^ {3}d[123] \(10\.77\.0\.[123]\): +\d+ established/gm)).toHaveLength(6);
  expect(r.stdout).toMatch(/^200\/200 connections survived$/m);
  expect(ok(run('ip', ['netns', 'list']))).toBe(before);
}, 120_000);
