// The addon is loaded on first use, from a path lib/here.ts gives per module
// format: importing the package (ESM or CommonJS) maps no .node file, pure
// helpers such as formatListing never load it, and finding it needs no
// stack frames (Error.stackTraceLimit = 0, as some bundles set).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');
const ADDONS = `[...new Set(require('fs').readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.trim().split(/\\s+/)[5]).filter((p) => p && p.endsWith('.node')))]`;

function node(code: string, type: 'module' | 'commonjs'): unknown {
  const r = spawnSync(process.execPath, ['--input-type', type, '-e', code], { cwd: repo, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('loading the addon', () => {
  it('ESM: importing the package and formatting a listing loads nothing native', () => {
    const code = `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);
      const m = await import('${repo}/dist/index.js');
      const text = m.formatListing({ version: '1.2.1', connectionTableSize: 4096 }, [], { numeric: true });
      console.log(JSON.stringify({ text: typeof text, addons: ${ADDONS} }));`;
    expect(node(code, 'module')).toEqual({ text: 'string', addons: [] });
  });

  it('CommonJS: require() loads nothing native until the first call, then the build', async () => {
    const code = `const m = require('${repo}/dist/cjs/index.js');
      const before = ${ADDONS};
      m.Ipvs.open({ netns: '/nonexistent' }).catch(() => {
        console.log(JSON.stringify({ before, after: ${ADDONS} }));
      });`;
    const out = node(code, 'commonjs') as { before: string[]; after: string[] };
    expect(out.before).toEqual([]);
    expect(out.after).toHaveLength(1);
    expect(out.after[0]).toMatch(/ipvs_native\.node$|ipvs-ts\.glibc\.node$/);
  });

  it.each(['module', 'commonjs'] as const)('%s: the package is found with no stack frames at all', (type) => {
    const load =
      type === 'module' ? `const m = await import('${repo}/dist/index.js');` : `const m = require('${repo}/dist/cjs/index.js');`;
    const code = `Error.stackTraceLimit = 0; Error.prepareStackTrace = () => 'nothing';
      ${type === 'module' ? '' : '(async () => {'}
      ${load}
      const e = await m.Ipvs.open({ netns: '/nonexistent' }).then(() => null, (x) => x);
      console.log(JSON.stringify({ code: e && e.code }));
      ${type === 'module' ? '' : '})();'}`;
    // ENOENT from the namespace path: the addon was found and loaded.
    expect(node(code, type)).toEqual({ code: 'ENOENT' });
  });
});
