#!/usr/bin/env node
// Regenerates test/peer/fixtures/*.json: the scenarios of
// test/peer/scenarios.ts against the real kernel, through a recording proxy
// peer (test/peer/record.rec.ts). On a host without IPVS it runs inside
// User-Mode Linux, as the kernel tests do. Review the diff before committing:
// test/unit/peer-replay.test.ts and peer-model.test.ts check against these.
//
//   node scripts/record-peer-fixtures.mjs [-t scenario]

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

import { buildPeer } from './build-peer.mjs';
import { hostIpvs, repoRoot, runInUml } from './uml.mjs';

const vitest = path.join(path.dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const argv = [process.execPath, vitest, 'run', '--project', 'record', ...process.argv.slice(2)];

if (process.env.IPVS_UML !== '1') {
  const built = buildPeer();
  if (built !== 0) process.exit(built);
  if (!hostIpvs().ok) {
    console.log('record: the host kernel has no IPVS; recording inside User-Mode Linux');
    process.exit(await runInUml(argv, { cwd: repoRoot }));
  }
}
process.exit(spawnSync(argv[0], argv.slice(1), { cwd: repoRoot, stdio: 'inherit' }).status ?? 1);
