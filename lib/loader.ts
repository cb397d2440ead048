/**
 * Finds and loads the native addon, in this order:
 *
 * 0. `$IPVS_TS_ADDON`, when set: a build of one's own (the sanitizer build
 *    of `scripts/build-sanitized.mjs`, a debug build).
 * 1. `build/Release/ipvs_native.node` — a source build (`node-gyp rebuild`,
 *    `npm rebuild ipvs-ts`). It wins when present: it only exists because
 *    someone compiled on this machine on purpose, and in a checkout it is the
 *    developer's fresh build.
 * 2. `prebuilds/<platform>-<arch>/ipvs-ts.<libc>.node` — the binary shipped
 *    in the package (`scripts/prebuild.mjs`; linux-x64 and linux-arm64, glibc).
 * 3. Otherwise an Error that says what to run (see {@link missingAddonMessage}).
 *
 * The same code is compiled twice (ESM `dist/`, CommonJS `dist/cjs/`); the
 * package root is found from lib/here.ts, whose CommonJS build uses
 * `__dirname` where the ES module reads `import.meta.url` (see
 * {@link packageRoot}). See docs/install.md.
 *
 * @internal
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { moduleDir } from './here.js';

/** The package name, as in package.json; used to find the package root. */
export const PACKAGE_NAME = 'ipvs-ts';

/** Where a source build puts the addon, relative to the package root. */
export const BUILD_PATH = 'build/Release/ipvs_native.node';

/** The platforms that ship a prebuilt binary (`scripts/prebuild.mjs` builds them). */
export const PREBUILT_TARGETS: readonly { platform: string; arch: string; libc: Libc }[] = [
  { platform: 'linux', arch: 'x64', libc: 'glibc' },
  { platform: 'linux', arch: 'arm64', libc: 'glibc' },
];

/** The C library the addon links against; null outside Linux. */
export type Libc = 'glibc' | 'musl' | null;

/** What the loader looks at; every field can be injected (tests). */
export interface LoaderContext {
  /** The package root (the folder of ipvs-ts's package.json). */
  root: string;
  platform: string;
  arch: string;
  libc: Libc;
  exists(file: string): boolean;
  /** Loads a `.node` file and returns its exports. */
  load(file: string): unknown;
}

/** The prebuilt binary's path relative to the package root, e.g. `prebuilds/linux-x64/ipvs-ts.glibc.node`. */
export function prebuildPath(platform: string, arch: string, libc: Libc): string {
  return `prebuilds/${platform}-${arch}/${PACKAGE_NAME}${libc ? `.${libc}` : ''}.node`;
}

/**
 * glibc or musl on Linux, null elsewhere. Like detect-libc: `/usr/bin/ldd`
 * names its C library (cheap); failing that, node's report header, which has
 * `glibcVersionRuntime` only on glibc (built without the network section,
 * whose reverse DNS lookups of open sockets can be slow).
 */
export function detectLibc(platform: string = process.platform): Libc {
  if (platform !== 'linux') return null;
  try {
    const ldd = readFileSync('/usr/bin/ldd', 'latin1');
    if (ldd.includes('musl')) return 'musl';
    if (ldd.includes('GNU C Library') || ldd.includes('GLIBC')) return 'glibc';
  } catch {
    // no ldd (a minimal container): ask node
  }
  return libcFromReport();
}

/** glibc when node's report header has a glibc runtime version, else musl (Linux only). */
export function libcFromReport(): Libc {
  // excludeNetwork: node >= 20.13 (missing from @types/node 20).
  const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
  const saved = report.excludeNetwork;
  try {
    report.excludeNetwork = true;
    const header = (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
    return header?.glibcVersionRuntime ? 'glibc' : 'musl';
  } finally {
    report.excludeNetwork = saved;
  }
}

let rootCache: string | undefined;

/**
 * The folder of ipvs-ts's package.json: the nearest ancestor of this
 * module's folder (`dist/`, `dist/cjs/` or `lib/`, from lib/here.ts) whose
 * package.json is named `ipvs-ts` (`dist/cjs/package.json` has no name).
 */
export function packageRoot(): string {
  if (rootCache !== undefined) return rootCache;
  for (let dir = moduleDir; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
      if (pkg.name === PACKAGE_NAME) return (rootCache = dir);
    } catch {
      // no package.json here, or not JSON: keep going up
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`${PACKAGE_NAME}: no package.json named ${PACKAGE_NAME} above ${moduleDir}`);
    }
  }
}

/** The loader's view of this process, with `overrides` taking precedence (tests inject them). */
export function loaderContext(overrides: Partial<LoaderContext> = {}): LoaderContext {
  const root = overrides.root ?? packageRoot();
  const platform = overrides.platform ?? process.platform;
  return {
    root,
    platform,
    arch: overrides.arch ?? process.arch,
    libc: overrides.libc !== undefined ? overrides.libc : detectLibc(platform),
    exists: overrides.exists ?? existsSync,
    load: overrides.load ?? ((file) => createRequire(path.join(root, 'package.json'))(file) as unknown),
  };
}

/** `linux-x64 (glibc)` */
function targetName(platform: string, arch: string, libc: Libc): string {
  return `${platform}-${arch}${libc ? ` (${libc})` : ''}`;
}

/** The commands that build the addon from source in a project that depends on ipvs-ts. */
export const SOURCE_BUILD_HELP = [
  'Build it from source: in your project, allow the package\'s install script and run it:',
  `    npm install-scripts approve ${PACKAGE_NAME}`,
  `    npm rebuild ${PACKAGE_NAME}`,
  'The build needs python3, make and a C++17 compiler (g++), e.g. `apt-get install python3 make g++`',
  '(Alpine: `apk add python3 make g++ linux-headers`).',
  `More: docs/install.md in the package (node_modules/${PACKAGE_NAME}/docs/install.md).`,
].join('\n');

/** The message of the Error thrown when there is no addon to load. */
export function missingAddonMessage(ctx: Pick<LoaderContext, 'root' | 'platform' | 'arch' | 'libc'>): string {
  const here = targetName(ctx.platform, ctx.arch, ctx.libc);
  const shipped = PREBUILT_TARGETS.map((t) => targetName(t.platform, t.arch, t.libc)).join(', ');
  const sameCpu = PREBUILT_TARGETS.some((t) => t.platform === ctx.platform && t.arch === ctx.arch);
  const why =
    ctx.libc === 'musl' && sameCpu
      ? 'The prebuilt binaries are for glibc and this system uses musl libc (Alpine?), so none fits'
      : `There is no prebuilt binary for ${here} (prebuilt: ${shipped})`;
  return [
    `${PACKAGE_NAME}: no native addon for ${here}.`,
    `${why}, and no source build:`,
    `  looked for ${path.join(ctx.root, BUILD_PATH)}`,
    `         and ${path.join(ctx.root, prebuildPath(ctx.platform, ctx.arch, ctx.libc))}`,
    'npm skips the install scripts of dependencies that allowScripts does not approve (and all of',
    'them with --ignore-scripts), so the source build did not run; or it ran and failed.',
    SOURCE_BUILD_HELP,
  ].join('\n');
}

/** Which file {@link loadNative} would load, and why; null when there is none. */
export function findNative(ctx: LoaderContext): { file: string; kind: 'build' | 'prebuild' | 'override' } | null {
  // A build of one's own (the sanitizer build of scripts/build-sanitized.mjs, a debug build).
  const override = process.env.IPVS_TS_ADDON;
  if (override) return { file: path.resolve(override), kind: 'override' };
  const build = path.join(ctx.root, BUILD_PATH);
  if (ctx.exists(build)) return { file: build, kind: 'build' };
  const prebuild = path.join(ctx.root, prebuildPath(ctx.platform, ctx.arch, ctx.libc));
  if (ctx.exists(prebuild)) return { file: prebuild, kind: 'prebuild' };
  return null;
}

/**
 * Loads the addon (see the module comment for the order) and returns its
 * exports. Throws an Error that says what to do when there is nothing to
 * load, or when the file found does not load (wrong glibc, …).
 */
export function loadNative<T>(overrides: Partial<LoaderContext> = {}): T {
  const ctx = loaderContext(overrides);
  const found = findNative(ctx);
  if (!found) {
    throw Object.assign(new Error(missingAddonMessage(ctx)), { code: 'IPVS_TS_NO_ADDON' });
  }
  let binding: unknown;
  try {
    binding = ctx.load(found.file);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const advice =
      found.kind === 'override'
        ? 'It was named by IPVS_TS_ADDON; unset it to use the package\'s own binary.'
        : found.kind === 'build'
          ? `Rebuild it (\`npm rebuild ${PACKAGE_NAME}\`, or \`npm run build\` in a checkout), or delete ${path.join(ctx.root, 'build')} to use the prebuilt binary.`
          : `The prebuilt binary needs glibc >= 2.34 and libstdc++ from GCC >= 11 (Debian 12, Ubuntu 22.04, RHEL 9 or newer).\n${SOURCE_BUILD_HELP}`;
    throw Object.assign(
      new Error(`${PACKAGE_NAME}: the native addon ${found.file} failed to load: ${reason}\n${advice}`, { cause }),
      { code: 'IPVS_TS_ADDON_LOAD_FAILED' },
    );
  }
  return binding as T;
}
