// The API reference builds without a warning: every public export has TSDoc,
// every {@link} resolves, and nothing public refers to a type left out of it
// (typedoc.json's validation, here treated as errors).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');
const typedoc = path.join(path.dirname(createRequire(import.meta.url).resolve('typedoc/package.json')), 'bin', 'typedoc');

it('typedoc: no warning (documented exports, links that resolve)', () => {
  const r = spawnSync(process.execPath, [typedoc, '--emit', 'none', '--treatWarningsAsErrors'], { cwd: repo, encoding: 'utf8' });
  expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
  expect(r.status).toBe(0);
}, 120_000);
