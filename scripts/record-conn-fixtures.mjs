#!/usr/bin/env node
// Regenerates test/unit/fixtures/ip_vs_conn/: /proc/net/ip_vs_conn and
// `ipvsadm -Lcn` of a lab director (direct routing, rr with persistence,
// three requests from one client), IPv4 and IPv6, read in a real kernel
// (User-Mode Linux, scripts/uml.mjs). test/unit/connections.test.ts parses
// these exactly as the kernel wrote them.
//
//   npm run build:ts && node scripts/record-conn-fixtures.mjs

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(repo, 'test', 'unit', 'fixtures', 'ip_vs_conn');

if (process.argv[2] === '--in-guest') {
  const { createLab } = await import(path.join(repo, 'dist', 'host', 'index.js'));
  const tables = {};
  for (const family of ['inet', 'inet6']) {
    const lab = await createLab({ forwarding: 'route', family, realServers: [{ weight: 1 }, { weight: 1 }], port: 22136 });
    try {
      await lab.ipvs.updateService({ ...lab.service, scheduler: 'rr', persistence: { timeout: 300 } });
      for (let i = 0; i < 3; i++) await lab.request();
      const inDirector = (...args) => execFileSync('ip', ['netns', 'exec', lab.director.netns, ...args], { encoding: 'utf8' });
      tables[family] = inDirector('cat', '/proc/net/ip_vs_conn');
      tables[`${family}-ipvsadm`] = inDirector('ipvsadm', '-Lcn');
    } finally {
      await lab.destroy();
    }
  }
  process.stdout.write(JSON.stringify(tables));
} else {
  const { runInUml } = await import('./uml.mjs');
  let json = '';
  const sink = { write: (d) => ((json += d), true) };
  const code = await runInUml([process.execPath, fileURLToPath(import.meta.url), '--in-guest'], { cwd: repo, stdout: sink });
  if (code !== 0) process.exit(code);
  fs.mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(JSON.parse(json))) fs.writeFileSync(path.join(out, `${name}.txt`), text);
  console.log(`wrote ${Object.keys(JSON.parse(json)).length} files to ${path.relative(repo, out)}/`);
}
