#!/usr/bin/env node
// `npm run build:ts`: compiles lib/ twice —
//   dist/      ES modules   (tsconfig.json)      for `import 'ipvs-ts'`
//   dist/cjs/  CommonJS     (tsconfig.cjs.json)  for `require('ipvs-ts')`
// and writes dist/cjs/package.json ({"type": "commonjs"}) so node and
// TypeScript read dist/cjs/*.js and *.d.ts as CommonJS. See docs/install.md.
//
//   --clean   delete dist/ first (prepare does: a file removed from lib/ must
//             not linger in the package)

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

if (process.argv.includes('--clean')) fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });

for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build-ts: tsc -p ${project} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
fs.writeFileSync(path.join(root, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');
// lib/here.ts reads import.meta.url, which a CommonJS file cannot: its
// CommonJS build gives __dirname instead (same export, same .d.ts).
fs.writeFileSync(
  path.join(root, 'dist/cjs/here.js'),
  '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.moduleDir = __dirname;\n',
);
