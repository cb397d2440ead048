// The README's first example must compile against the real API.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

it('the README example type-checks against lib/', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example).toBeTruthy();
  const dir = mkdtempSync(path.join(tmpdir(), 'ipvs-readme-'));
  try {
    const file = path.join(dir, 'example.mts');
    writeFileSync(file, example!.replace("from 'ipvs-ts'", `from ${JSON.stringify(path.join(root, 'lib/index.js'))}`) + '\nexport {};\n');
    const tsc = spawnSync(
      process.execPath,
      [path.join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'ES2022', '--module', 'NodeNext',
        '--moduleResolution', 'NodeNext', '--lib', 'ES2022,ESNext.Disposable', '--types', 'node', '--skipLibCheck',
        '--typeRoots', path.join(root, 'node_modules/@types'), file],
      { encoding: 'utf8' },
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
