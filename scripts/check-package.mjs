#!/usr/bin/env node
// `npm run check:package`: what `npm pack` would publish is what a user needs
// and nothing else (a publint-style check of our own; test/unit/package-contents
// runs it, `npm pack` runs it with --strict as postpack). It checks the file
// list of `npm pack --dry-run --json --ignore-scripts` against package.json:
//
//  - every target of "exports", "main", "types", "bin" and the install script
//    is in the package; each exports conditions object lists "types" first
//    and "default" last; "import" and "require" each have their own types, and
//    their files are ESM / CommonJS where they are (nearest package.json
//    "type", or .mjs/.cjs/.d.mts/.d.cts);
//  - every relative import of a packed .js / .d.ts resolves to a packed file,
//    and every bare import of a packed .js is a node builtin or a dependency;
//  - the source build works: README, LICENSE, binding.gyp, each of its
//    sources and each header they include (transitively) are packed;
//  - the prebuilt binaries of lib/loader.ts's PREBUILT_TARGETS are packed and
//    are ELF shared objects for their machine; --strict (publishing) also
//    fails when one is older than binding.gyp or a packed native source;
//  - nothing for developers: tests, build/ intermediates, .cache, docs, lib/
//    sources, source maps, CI files, configs, scripts other than the install
//    script, native/fuzz, stray .node files;
//  - runtime dependencies are only those in ALLOWED_DEPENDENCIES;
//  - size budget: packed, unpacked, file count.
//
//   node scripts/check-package.mjs            report; exit 1 on an error
//   node scripts/check-package.mjs --strict   stale prebuilds are errors too
//   node scripts/check-package.mjs --json     the result as JSON
//
// From JavaScript: `checkPackage({ root, strict })` and the pure
// `checkPackList(pkg, pack, readFile)`.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Tripwires, first set at about 1.5x the package of the time (412 kB, 1.42 MB,
 * 150 files); raised from 650 kB / 2.2 MB / 250 files to about 1.1x the
 * package (662 kB, 2.2 MB, 233 files) when health checks, the connection
 * table, metrics, top, routes and VIP moves came in. Two prebuilt binaries
 * (~400 kB each) are most of it; the rest is the TypeScript built twice (ESM
 * and CommonJS) and the native sources for a build from source.
 */
export const BUDGET = { packedBytes: 720_000, unpackedBytes: 2_450_000, files: 260 };

/**
 * Runtime dependencies a consumer's `npm install` fetches. node-addon-api
 * (headers only, no dependencies) is needed by a source build; node-gyp is
 * not (npm brings its own). A new one is a decision: add it here, with why.
 */
export const ALLOWED_DEPENDENCIES = ['node-addon-api'];

/** Paths that must not be published, with the reason. */
const FORBIDDEN = [
  [/(^|\/)(test|tests|__tests__)\//, 'a test folder'],
  [/\.(test|spec)\.[cm]?[jt]sx?$/, 'a test file'],
  [/^build\//, 'a build intermediate (build/)'],
  [/\.(o|a|mk|gypi)$|(^|\/)Makefile$/, 'a build intermediate'],
  [/^\.cache\//, 'a cache (.cache/)'],
  // The user guides the CLI's help and the loader's messages point at ship;
  // the developer documents (design, testing, fuzzing) and docs/api do not.
  [/^docs\/(?!(apply|cli|failover|health|host|install|metrics|scale-out)\.md$)/, 'developer documentation (docs/ other than the user guides apply, cli, failover, health, host, install, metrics, scale-out)'],
  [/^lib\//, 'TypeScript sources (dist/ has the compiled code)'],
  [/(?<!\.d)\.[cm]?ts$/, 'a TypeScript source'],
  [/\.map$/, 'a source map (its sources are not packed)'],
  [/^\.(ci|github|git|vscode)\//, 'CI or editor files'],
  [/(^|\/)tsconfig[^/]*\.json$|(^|\/)vitest\.config\.|(^|\/)typedoc\.json$/, 'a build or test config'],
  [/\.tgz$/, 'a packed tarball'],
  [/(^|\/)node_modules\//, 'node_modules'],
  [/^native\/fuzz\/|(^|\/)CMakeLists\.txt$/, 'the fuzzing / sanitizer build'],
];

const ELF_MACHINE = { x64: 62, arm64: 183, ia32: 3, arm: 40 };

/** `npm pack --dry-run --json --ignore-scripts` in `root`: { files: [{path, size}], size, unpackedSize, entryCount }. */
export function packList(root = repoRoot) {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed (exit ${r.status}): ${r.stderr}`);
  const [result] = JSON.parse(r.stdout);
  return { files: result.files.map((f) => ({ path: f.path, size: f.size })), size: result.size, unpackedSize: result.unpackedSize, entryCount: result.entryCount };
}

/** Every string target in an exports value, with the conditions leading to it. */
function exportTargets(value, conditions = [], out = []) {
  if (typeof value === 'string') out.push({ target: value, conditions });
  else if (Array.isArray(value)) value.forEach((v) => exportTargets(v, conditions, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) exportTargets(v, [...conditions, k], out);
  }
  return out;
}

/** Every conditions object (keys not starting with '.') in an exports value, with its path. */
function conditionObjects(value, where = 'exports', out = []) {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return out;
  const keys = Object.keys(value);
  if (keys.length && !keys[0].startsWith('.')) out.push({ where, keys });
  for (const [k, v] of Object.entries(value)) conditionObjects(v, `${where}[${JSON.stringify(k)}]`, out);
  return out;
}

const norm = (p) => p.replace(/^\.\//, '');

/**
 * Checks a pack list. `pkg` is package.json, `pack` the result of packList(),
 * `readFile(path)` returns a packed file's contents (Buffer) or null, `mtime(path)`
 * its modification time in ms. Returns { errors, warnings }.
 */
export function checkPackList(pkg, pack, readFile, { strict = false, mtime = () => 0, prebuiltTargets = [], prebuildPath } = {}) {
  const errors = [];
  const warnings = [];
  const files = new Set(pack.files.map((f) => f.path));
  const text = (p) => readFile(p)?.toString('utf8') ?? null;

  /** The module format of a packed .js/.d.ts file: nearest packed package.json "type". */
  const formatOf = (file) => {
    if (/\.(mjs|d\.mts)$/.test(file)) return 'module';
    if (/\.(cjs|d\.cts)$/.test(file)) return 'commonjs';
    for (let dir = path.posix.dirname(file); ; dir = path.posix.dirname(dir)) {
      const pj = dir === '.' ? 'package.json' : `${dir}/package.json`;
      if (files.has(pj)) {
        try {
          const type = JSON.parse(text(pj) ?? '{}').type;
          if (type !== undefined || dir === '.') return type === 'module' ? 'module' : 'commonjs';
        } catch {
          errors.push(`${pj} is not valid JSON`);
          return null;
        }
      }
      if (dir === '.') return 'commonjs';
    }
  };

  // --- entry points ---------------------------------------------------------
  const need = (file, why) => {
    if (file && !files.has(norm(file))) errors.push(`${why} ${file} is not in the package`);
  };
  if (!pkg.exports) errors.push('package.json has no "exports"');
  for (const { target, conditions } of exportTargets(pkg.exports ?? {})) {
    const label = `exports ${conditions.map((c) => JSON.stringify(c)).join(' > ')}`;
    if (!target.startsWith('./')) {
      errors.push(`${label}: target ${target} must start with ./`);
      continue;
    }
    if (target.includes('*')) {
      const re = new RegExp(`^${norm(target).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.+')}$`);
      if (![...files].some((f) => re.test(f))) errors.push(`${label}: pattern ${target} matches no packed file`);
      continue;
    }
    need(target, `${label}: target`);
    const fmt = files.has(norm(target)) ? formatOf(norm(target)) : null;
    if (conditions.includes('require') && fmt === 'module') errors.push(`${label}: ${target} is an ES module, but "require" needs CommonJS`);
    if (conditions.includes('import') && fmt === 'commonjs' && /\.(js|d\.ts)$/.test(target)) {
      errors.push(`${label}: ${target} is CommonJS under "import" (dual types/format mismatch)`);
    }
  }
  for (const { where, keys } of conditionObjects(pkg.exports ?? {})) {
    if (keys.includes('types') && keys[0] !== 'types') errors.push(`${where}: "types" must be the first condition (TypeScript takes the first match)`);
    if (keys.includes('default') && keys[keys.length - 1] !== 'default') errors.push(`${where}: "default" must be the last condition`);
  }
  const root = pkg.exports?.['.'];
  if (root && typeof root === 'object' && ('import' in root || 'require' in root)) {
    for (const branch of ['import', 'require']) {
      const b = root[branch];
      if (!b) errors.push(`exports["."] has no "${branch}" condition: both ESM import and CommonJS require are supported`);
      else if (typeof b !== 'object' || !b.types) errors.push(`exports["."]["${branch}"] has no "types" of its own`);
    }
  }
  need(pkg.main, '"main"');
  need(pkg.types ?? pkg.typings, '"types"');
  if (pkg.types && files.has(norm(pkg.types)) && pkg.main && formatOf(norm(pkg.types)) !== formatOf(norm(pkg.main))) {
    errors.push(`"types" (${pkg.types}) and "main" (${pkg.main}) are not the same module format`);
  }
  const bins = typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : (pkg.bin ?? {});
  for (const [name, file] of Object.entries(bins)) need(file, `bin ${name}:`);

  // Install-time lifecycle scripts run from the package: the files they name must be there.
  const installScripts = ['preinstall', 'install', 'postinstall'].map((k) => pkg.scripts?.[k]).filter(Boolean);
  const installFiles = new Set();
  for (const s of installScripts) {
    for (const m of s.matchAll(/(?:^|\s)node\s+([^\s;&|]+)/g)) {
      installFiles.add(norm(m[1]));
      need(m[1], `the install script "${s}" runs`);
    }
  }

  // --- documents the code points at -----------------------------------------
  // Help texts and loader messages say "see docs/apply.md": each must ship.
  const mentioned = new Set();
  for (const f of files) {
    if (!/\.(js|cjs|mjs)$/.test(f)) continue;
    for (const m of (text(f) ?? '').matchAll(/docs\/[a-z0-9-]+\.md/g)) mentioned.add(m[0]);
  }
  for (const doc of mentioned) {
    if (!files.has(doc)) errors.push(`${doc} is named by the packed code but not in the package`);
  }

  // --- README, LICENSE -----------------------------------------------------
  const top = [...files].filter((f) => !f.includes('/'));
  if (!top.some((f) => /^readme(\.|$)/i.test(f))) errors.push('no README in the package');
  if (pkg.license !== 'UNLICENSED' && !top.some((f) => /^(license|licence|copying)(\.|$)/i.test(f))) {
    errors.push(`no LICENSE file in the package (package.json says ${pkg.license ?? 'nothing'}; the license text must ship with it)`);
  }

  // --- forbidden -----------------------------------------------------------
  for (const f of files) {
    const hit = FORBIDDEN.find(([re]) => re.test(f));
    if (hit) errors.push(`${f} should not be published: ${hit[1]}`);
    else if (f.startsWith('scripts/') && !installFiles.has(f)) errors.push(`${f} should not be published: a script that install does not run`);
    else if (f.endsWith('.node') && !f.startsWith('prebuilds/')) errors.push(`${f} should not be published: a .node file outside prebuilds/`);
  }

  // --- imports resolve ------------------------------------------------------
  const deps = new Set(Object.keys(pkg.dependencies ?? {}));
  const builtins = new Set(builtinModules);
  const resolveRel = (from, spec, exts) => {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
    const stem = base.replace(/\.(m|c)?js$/, '');
    return exts.map((e) => (e === '' ? base : stem + e)).find((c) => files.has(c));
  };
  const importRe = /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[^\w.])require\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
  for (const f of files) {
    const isDts = /\.d\.[cm]?ts$/.test(f);
    const isJs = /\.[cm]?js$/.test(f);
    if (!isDts && !isJs) continue;
    const src = text(f) ?? '';
    // Comments can quote code (`import { Ipvs } from 'ipvs-ts'` in TSDoc): drop them first.
    const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\\])\/\/.*$/gm, '$1');
    for (const m of code.matchAll(importRe)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4];
      if (spec.startsWith('.')) {
        const hit = isDts ? resolveRel(f, spec, ['.d.ts', '.d.mts', '.d.cts', '']) : resolveRel(f, spec, ['']);
        if (!hit) errors.push(`${f} imports ${spec}, which is not in the package`);
      } else if (isJs) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!spec.startsWith('node:') && !builtins.has(name) && !deps.has(name) && name !== pkg.name) {
          errors.push(`${f} imports ${spec}, which is neither a node builtin nor a dependency`);
        }
      }
    }
  }

  // --- source build --------------------------------------------------------
  if (files.has('binding.gyp')) {
    let gyp = null;
    try {
      // gyp files are Python literals: drop # comments and trailing commas; JSON is the common case.
      const src = (text('binding.gyp') ?? '').replace(/^\s*#.*$/gm, '').replace(/,(\s*[}\]])/g, '$1');
      try {
        gyp = JSON.parse(src);
      } catch {
        gyp = JSON.parse(src.replace(/'/g, '"'));
      }
    } catch (e) {
      errors.push(`binding.gyp could not be read as JSON (${e.message}); cannot check its sources`);
    }
    for (const target of gyp?.targets ?? []) {
      const includeDirs = (target.include_dirs ?? []).filter((d) => !d.startsWith('<'));
      const seen = new Set();
      const queue = [...(target.sources ?? [])];
      for (const s of queue) need(s, `binding.gyp source`);
      while (queue.length) {
        const file = norm(queue.shift());
        if (seen.has(file) || !files.has(file)) continue;
        seen.add(file);
        for (const m of (text(file) ?? '').matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
          const cands = [path.posix.join(path.posix.dirname(file), m[1]), ...includeDirs.map((d) => path.posix.join(d, m[1]))].map((c) => path.posix.normalize(c));
          const hit = cands.find((c) => files.has(c));
          if (hit) queue.push(hit);
          else errors.push(`${file} includes "${m[1]}", which is not in the package (the source build would fail)`);
        }
      }
    }
  } else if (pkg.gypfile || /node-gyp/.test(installScripts.join(' '))) {
    errors.push('binding.gyp is not in the package: a source build is impossible');
  }
  for (const d of Object.keys(pkg.dependencies ?? {})) {
    if (!ALLOWED_DEPENDENCIES.includes(d)) {
      errors.push(`dependency ${d} is not allowed (ALLOWED_DEPENDENCIES in scripts/check-package.mjs): every consumer would install it; build tools belong in devDependencies`);
    }
  }

  // --- prebuilt binaries ---------------------------------------------------
  const nativeSources = [...files].filter((f) => f === 'binding.gyp' || /^native\/.*\.(cc|cpp|c|h|hpp)$/.test(f));
  const newestSource = Math.max(0, ...nativeSources.map((f) => mtime(f)));
  for (const t of prebuiltTargets) {
    const file = prebuildPath(t.platform, t.arch, t.libc);
    if (!files.has(file)) {
      errors.push(`prebuilt binary ${file} is not in the package: run \`npm run prebuilds\``);
      continue;
    }
    const b = readFile(file);
    const machine = b && b.length >= 20 && b.readUInt32BE(0) === 0x7f454c46 ? b.readUInt16LE(18) : null;
    if (machine !== ELF_MACHINE[t.arch] || b[4] !== 2 || b.readUInt16LE(16) !== 3) {
      errors.push(`${file} is not a 64-bit ELF shared object for ${t.arch} (e_machine ${machine})`);
    }
    if (mtime(file) < newestSource) {
      const newer = nativeSources.filter((f) => mtime(f) > mtime(file));
      const msg = `${file} is older than ${newer.slice(0, 3).join(', ')}${newer.length > 3 ? ` and ${newer.length - 3} more` : ''}: run \`npm run prebuilds\``;
      (strict ? errors : warnings).push(msg);
    }
  }

  // --- size ------------------------------------------------------------------
  if (pack.size > BUDGET.packedBytes) errors.push(`packed size ${pack.size} B is over the budget of ${BUDGET.packedBytes} B`);
  if (pack.unpackedSize > BUDGET.unpackedBytes) errors.push(`unpacked size ${pack.unpackedSize} B is over the budget of ${BUDGET.unpackedBytes} B`);
  if (pack.files.length > BUDGET.files) errors.push(`${pack.files.length} files is over the budget of ${BUDGET.files}`);

  return { errors, warnings };
}

/** Packs `root` (dry run) and checks it. Returns { errors, warnings, stats }. */
export async function checkPackage({ root = repoRoot, strict = false } = {}) {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const pack = packList(root);
  let loader = null;
  try {
    loader = await import(pathToFileURL(path.join(root, 'dist/loader.js')).href);
  } catch (e) {
    return { errors: [`cannot import dist/loader.js (${e.message}): run \`npm run build:ts\``], warnings: [], stats: null };
  }
  const readFile = (p) => {
    try {
      return fs.readFileSync(path.join(root, p));
    } catch {
      return null;
    }
  };
  const mtime = (p) => {
    try {
      return fs.statSync(path.join(root, p)).mtimeMs;
    } catch {
      return 0;
    }
  };
  const result = checkPackList(pkg, pack, readFile, { strict, mtime, prebuiltTargets: loader.PREBUILT_TARGETS, prebuildPath: loader.prebuildPath });
  const prebuilt = pack.files.filter((f) => /^prebuilds\/.*\.node$/.test(f.path)).map((f) => f.size);
  return {
    ...result,
    stats: {
      packedBytes: pack.size,
      unpackedBytes: pack.unpackedSize,
      files: pack.files.length,
      prebuiltBytes: prebuilt.length ? Math.max(...prebuilt) : 0,
    },
  };
}

// docs/install.md states the package's size in a sentence this script writes
// (--update-docs) between these markers; test/unit/package-contents.test.ts
// checks that it is still true.
export const SIZE_MARKERS = ['<!-- package-size: npm run check:package -- --update-docs -->', '<!-- /package-size -->'];

/** The sentence on the package's size, rounded (kB to 10, MB to 0.1). */
export function sizeSentence(stats) {
  const kb = (n) => `${Math.round(n / 10_000) * 10} kB`;
  return (
    `\`npm pack\` publishes about ${Math.round(stats.files / 10) * 10} files, ${kb(stats.packedBytes)} packed, ` +
    `${(stats.unpackedBytes / 1e6).toFixed(1)} MB unpacked; each prebuilt binary is about ${kb(stats.prebuiltBytes)}.`
  );
}

/** docs/install.md with its size sentence rewritten from `stats`. */
export function withSizeSentence(doc, stats) {
  const [open, close] = SIZE_MARKERS;
  const a = doc.indexOf(open);
  const b = doc.indexOf(close);
  if (a < 0 || b < a) throw new Error(`docs/install.md has no ${open} … ${close} block`);
  return `${doc.slice(0, a + open.length)}\n${sizeSentence(stats)}\n${doc.slice(b)}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const r = await checkPackage({ strict: args.includes('--strict') });
  if (args.includes('--update-docs') && r.stats) {
    const doc = path.join(repoRoot, 'docs', 'install.md');
    fs.writeFileSync(doc, withSizeSentence(fs.readFileSync(doc, 'utf8'), r.stats));
    console.log(`check-package: wrote the size sentence of docs/install.md: ${sizeSentence(r.stats)}`);
  }
  if (args.includes('--json')) console.log(JSON.stringify(r, null, 2));
  else {
    const s = r.stats;
    if (s) console.log(`check-package: ${s.files} files, ${(s.packedBytes / 1000).toFixed(0)} kB packed, ${(s.unpackedBytes / 1000).toFixed(0)} kB unpacked (budget ${BUDGET.files} files, ${BUDGET.packedBytes / 1000} kB, ${BUDGET.unpackedBytes / 1000} kB)`);
    for (const w of r.warnings) console.log(`  warning: ${w}`);
    for (const e of r.errors) console.log(`  error:   ${e}`);
    console.log(r.errors.length ? `check-package: ${r.errors.length} error(s)` : 'check-package: OK');
  }
  process.exit(r.errors.length ? 1 : 0);
}
