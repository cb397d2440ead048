#!/usr/bin/env node
// Builds the netlink test peer (test/peer: test only, never in the package)
// into test/peer/build/Release/ipvs_test_peer.node, unless a build newer than
// its sources (test/peer and native/) is there.
//
//   node scripts/build-peer.mjs [--force]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { runNodeGyp } from './node-gyp.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'test', 'peer');
const out = path.join(dir, 'build', 'Release', 'ipvs_test_peer.node');

function newest(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return /\.(cc|h|gyp)$/.test(p) ? st.mtimeMs : 0;
  if (path.basename(p) === 'build' || path.basename(p) === 'fixtures') return 0;
  return Math.max(0, ...fs.readdirSync(p).map((e) => newest(path.join(p, e))));
}

export function buildPeer({ force = false } = {}) {
  const sources = Math.max(newest(dir), newest(path.join(root, 'native')));
  if (!force && fs.existsSync(out) && fs.statSync(out).mtimeMs >= sources) return 0;
  console.log('── building the netlink test peer (test/peer) ──');
  return runNodeGyp(['rebuild', '-j', '2', `--directory=${dir}`]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  process.exit(buildPeer({ force: process.argv.includes('--force') }));
}
