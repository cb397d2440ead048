// The published declarations stand on their own: a strict TypeScript
// project with only the ES2022 library — no @types/node, no lib setting for
// disposables — type-checks code that uses the package, `await using`
// included. (dist/ipvs.d.ts carries `/// <reference lib="esnext.disposable" />`.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');

it('dist/index.d.ts type-checks with lib ES2022 and no @types at all', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-types-'));
  try {
    writeFileSync(
      path.join(dir, 'use.mts'),
      `import { Ipvs, IpvsError, formatListing, type ServiceSpec } from ${JSON.stringify(path.join(repo, 'dist/index.js'))};
export async function main(): Promise<string> {
  const spec: ServiceSpec = { protocol: 'tcp', address: '192.0.2.1', port: 80, scheduler: 'wlc' };
  await using ipvs = await Ipvs.open({ replyTimeout: 5000 });
  try { await ipvs.addService(spec); } catch (e) { if (e instanceof IpvsError) return e.code; }
  return formatListing(await ipvs.info(), await ipvs.snapshot({ consistent: true }));
}
`,
    );
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: [], noEmit: true },
        files: ['use.mts'],
      }),
    );
    const r = spawnSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(dir, 'tsconfig.json')], {
      encoding: 'utf8',
    });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
