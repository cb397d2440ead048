/**
 * The folder of this module's compiled file, for the loader to find the
 * package from (lib/loader.ts). This source is the ES module form (dist/,
 * and lib/ under vitest). A CommonJS file cannot read `import.meta`, so
 * scripts/build-ts.mjs replaces the CommonJS build of this file,
 * dist/cjs/here.js, with one that exports `__dirname`.
 *
 * @internal
 * @module
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// @ts-ignore TS1343 in the CommonJS compile (tsconfig.cjs.json), whose output build-ts.mjs replaces
export const moduleDir: string = path.dirname(fileURLToPath(import.meta.url));
