// What `npm pack` would publish (scripts/check-package.mjs): the real package
// passes, and each rule catches what it is there for.
import { describe, expect, it } from 'vitest';

import { readFileSync } from 'node:fs';

// @ts-expect-error: a plain .mjs script without types
import { BUDGET, SIZE_MARKERS, checkPackList, checkPackage } from '../../scripts/check-package.mjs';

interface Result {
  errors: string[];
  warnings: string[];
  stats: { packedBytes: number; unpackedBytes: number; files: number } | null;
}

describe('the package this repository packs', () => {
  it('passes scripts/check-package.mjs, within its size budget', async () => {
    const r = (await checkPackage()) as Result;
    console.log(
      `package: ${r.stats?.files} files, ${((r.stats?.packedBytes ?? 0) / 1000).toFixed(0)} kB packed, ${((r.stats?.unpackedBytes ?? 0) / 1000).toFixed(0)} kB unpacked` +
        (r.warnings.length ? `\nwarnings:\n  ${r.warnings.join('\n  ')}` : ''),
    );
    expect(r.errors).toEqual([]);
    expect(r.stats!.packedBytes).toBeLessThanOrEqual(BUDGET.packedBytes);
  }, 60_000);

  it("docs/install.md's sizes are still true (within 10 %; `npm run check:package -- --update-docs` rewrites them)", async () => {
    const r = (await checkPackage()) as Result & { stats: { prebuiltBytes: number } };
    const doc = readFileSync(new URL('../../docs/install.md', import.meta.url), 'utf8');
    const [open, close] = SIZE_MARKERS as [string, string];
    const sentence = doc.slice(doc.indexOf(open) + open.length, doc.indexOf(close));
    const m = /about (\d+) files, (\d+) kB packed, ([\d.]+) MB unpacked; each prebuilt binary is about (\d+) kB/.exec(sentence);
    expect(m, sentence).not.toBeNull();
    const near = (said: number, actual: number) => expect(Math.abs(said - actual) / actual, `${said} vs ${actual}`).toBeLessThanOrEqual(0.1);
    near(Number(m![1]), r.stats!.files);
    near(Number(m![2]) * 1000, r.stats!.packedBytes);
    near(Number(m![3]) * 1e6, r.stats!.unpackedBytes);
    near(Number(m![4]) * 1000, r.stats!.prebuiltBytes);
  }, 60_000);
});

// A small, correct package; each test breaks one thing.
const ELF = (machine: number) => {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(machine, 18);
  return b;
};

function fixture() {
  const pkg = {
    name: 'ipvs-ts',
    license: 'MIT',
    type: 'module',
    main: './dist/cjs/index.js',
    types: './dist/cjs/index.d.ts',
    gypfile: true,
    exports: {
      '.': {
        import: { types: './dist/index.d.ts', default: './dist/index.js' },
        require: { types: './dist/cjs/index.d.ts', default: './dist/cjs/index.js' },
      },
      './package.json': './package.json',
    },
    scripts: { install: 'node scripts/install.mjs', test: 'vitest' } as Record<string, string>,
    dependencies: { 'node-addon-api': '^8' } as Record<string, string>,
  };
  const content: Record<string, string | Buffer> = {
    'package.json': '', // replaced below
    'README.md': '# ipvs-ts',
    LICENSE: 'MIT',
    'dist/index.js': "export { Ipvs } from './ipvs.js';\nimport fs from 'node:fs';\n",
    'dist/index.d.ts': "export { Ipvs } from './ipvs.js';\n",
    'dist/ipvs.js': "/** import { Ipvs } from 'ipvs-ts' */\nexport class Ipvs {}\n",
    'dist/ipvs.d.ts': 'export declare class Ipvs {}\n',
    'dist/cjs/package.json': '{ "type": "commonjs" }',
    'dist/cjs/index.js': 'const { Ipvs } = require("./ipvs.js");\nexports.Ipvs = Ipvs;\n',
    'dist/cjs/index.d.ts': "export { Ipvs } from './ipvs.js';\n",
    'dist/cjs/ipvs.js': 'exports.Ipvs = class {};\n',
    'dist/cjs/ipvs.d.ts': 'export declare class Ipvs {}\n',
    'scripts/install.mjs': "import fs from 'node:fs';\n",
    'binding.gyp': JSON.stringify({ targets: [{ target_name: 'x', sources: ['native/a.cc'], include_dirs: ['<!(node -p "1")', 'native'] }] }),
    'native/a.cc': '#include "nl/b.h"\n#include <vector>\n',
    'native/nl/b.h': '#include "c.h"\n',
    'native/nl/c.h': '',
    'prebuilds/linux-x64/ipvs-ts.glibc.node': ELF(62),
    'prebuilds/linux-arm64/ipvs-ts.glibc.node': ELF(183),
  };
  return { pkg, content };
}

const targets = [
  { platform: 'linux', arch: 'x64', libc: 'glibc' },
  { platform: 'linux', arch: 'arm64', libc: 'glibc' },
];
const prebuildPath = (p: string, a: string, l: string) => `prebuilds/${p}-${a}/ipvs-ts.${l}.node`;

function check(f: ReturnType<typeof fixture>, opts: { strict?: boolean; mtime?: (p: string) => number; size?: number } = {}) {
  const content = { ...f.content, 'package.json': JSON.stringify(f.pkg) };
  const pack = {
    files: Object.entries(content).map(([path, c]) => ({ path, size: c.length })),
    size: opts.size ?? 1000,
    unpackedSize: 2000,
  };
  const read = (p: string) => (p in content ? Buffer.from(content[p]!) : null);
  return checkPackList(f.pkg, pack, read, { strict: opts.strict, mtime: opts.mtime, prebuiltTargets: targets, prebuildPath }) as Result;
}

describe('scripts/check-package.mjs rules', () => {
  it('a correct package passes', () => {
    expect(check(fixture())).toEqual({ errors: [], warnings: [] });
  });

  it.each([
    ['test/unit/x.test.ts', /test\/unit\/x\.test\.ts should not be published: a test folder/],
    ['dist/x.test.js', /a test file/],
    ['build/Release/obj.target/x.o', /build intermediate/],
    ['.cache/sanitize/x', /a cache/],
    ['docs/api/index.html', /developer documentation/],
    ['docs/design.md', /developer documentation/],
    ['lib/index.ts', /TypeScript sources/],
    ['dist/index.js.map', /a source map/],
    ['scripts/prebuild.mjs', /a script that install does not run/],
    ['tsconfig.json', /a build or test config/],
    ['native/fuzz/fuzz.cc', /fuzzing/],
    ['native/ipvs_native.node', /a \.node file outside prebuilds/],
  ])('%s is refused', (file, message) => {
    const f = fixture();
    f.content[file] = 'x';
    const { errors } = check(f);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  it('a user guide ships; one the code names but the package lacks is refused', () => {
    const f = fixture();
    f.content['docs/apply.md'] = '# apply';
    f.content['dist/cli.js'] = "console.log('see docs/apply.md and docs/cli.md')";
    expect(check(f).errors).toEqual(['docs/cli.md is named by the packed code but not in the package']);
  });

  it('an exports target that is not packed', () => {
    const f = fixture();
    delete f.content['dist/cjs/index.js'];
    expect(check(f).errors).toContainEqual(expect.stringMatching(/exports "\." > "require" > "default": target \.\/dist\/cjs\/index\.js is not in the package/));
  });

  it('"types" not first, "default" not last', () => {
    const f = fixture();
    f.pkg.exports['.'].import = { default: './dist/index.js', types: './dist/index.d.ts' };
    const { errors } = check(f);
    expect(errors).toContainEqual(expect.stringMatching(/"types" must be the first condition/));
    expect(errors).toContainEqual(expect.stringMatching(/"default" must be the last condition/));
  });

  it('"require" pointing at ES modules, and a "require" without its own types', () => {
    const f = fixture();
    f.pkg.exports['.'].require = { default: './dist/index.js' } as never;
    const { errors } = check(f);
    expect(errors).toContainEqual(expect.stringMatching(/dist\/index\.js is an ES module, but "require" needs CommonJS/));
    expect(errors).toContainEqual(expect.stringMatching(/exports\["\."\]\["require"\] has no "types" of its own/));
  });

  it('CommonJS types without dist/cjs/package.json', () => {
    const f = fixture();
    delete f.content['dist/cjs/package.json'];
    expect(check(f).errors).toContainEqual(expect.stringMatching(/dist\/cjs\/index\.js is an ES module, but "require" needs CommonJS/));
  });

  it('a .d.ts import that does not resolve, and a runtime import of a devDependency', () => {
    const f = fixture();
    f.content['dist/index.d.ts'] += "export type { X } from './types.js';\n";
    f.content['dist/ipvs.js'] += "import { it } from 'vitest';\n";
    const { errors } = check(f);
    expect(errors).toContainEqual('dist/index.d.ts imports ./types.js, which is not in the package');
    expect(errors).toContainEqual('dist/ipvs.js imports vitest, which is neither a node builtin nor a dependency');
  });

  it('the source build: a missing binding.gyp source or included header', () => {
    const f = fixture();
    delete f.content['native/nl/c.h'];
    expect(check(f).errors).toEqual(['native/nl/b.h includes "c.h", which is not in the package (the source build would fail)']);
    const g = fixture();
    delete g.content['native/a.cc'];
    expect(check(g).errors).toEqual(['binding.gyp source native/a.cc is not in the package']);
  });

  it('a missing or wrong prebuilt binary', () => {
    const f = fixture();
    delete f.content['prebuilds/linux-arm64/ipvs-ts.glibc.node'];
    f.content['prebuilds/linux-x64/ipvs-ts.glibc.node'] = ELF(183);
    const { errors } = check(f);
    expect(errors).toContainEqual('prebuilt binary prebuilds/linux-arm64/ipvs-ts.glibc.node is not in the package: run `npm run prebuilds`');
    expect(errors).toContainEqual(expect.stringMatching(/prebuilds\/linux-x64\/ipvs-ts\.glibc\.node is not a 64-bit ELF shared object for x64/));
  });

  it('a prebuilt binary older than the native sources: a warning, an error with --strict', () => {
    const mtime = (p: string) => (p.startsWith('prebuilds/') ? 1 : p === 'native/nl/c.h' ? 2 : 0);
    expect(check(fixture(), { mtime }).warnings).toHaveLength(2);
    expect(check(fixture(), { mtime }).errors).toEqual([]);
    expect(check(fixture(), { mtime, strict: true }).errors).toEqual([
      'prebuilds/linux-x64/ipvs-ts.glibc.node is older than native/nl/c.h: run `npm run prebuilds`',
      'prebuilds/linux-arm64/ipvs-ts.glibc.node is older than native/nl/c.h: run `npm run prebuilds`',
    ]);
  });

  it('README and LICENSE', () => {
    const f = fixture();
    delete f.content['README.md'];
    delete f.content.LICENSE;
    expect(check(f).errors).toEqual(['no README in the package', 'no LICENSE file in the package (package.json says MIT; the license text must ship with it)']);
  });

  it('a runtime dependency that is not allowed (node-gyp: npm brings its own)', () => {
    const f = fixture();
    f.pkg.dependencies['node-gyp'] = '^11';
    expect(check(f).errors).toEqual([expect.stringMatching(/^dependency node-gyp is not allowed/)]);
  });

  it('the install script must be packed', () => {
    const f = fixture();
    delete f.content['scripts/install.mjs'];
    expect(check(f).errors).toEqual(['the install script "node scripts/install.mjs" runs scripts/install.mjs is not in the package']);
  });

  it('the size budget', () => {
    expect(check(fixture(), { size: BUDGET.packedBytes + 1 }).errors).toEqual([`packed size ${BUDGET.packedBytes + 1} B is over the budget of ${BUDGET.packedBytes} B`]);
  });
});
