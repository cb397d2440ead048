// Dependencies between lib/ modules point one way (CLI → API → wire →
// native contract): madge finds any import cycle, type-only imports
// included (a type cycle is a sign that a contract lives in the wrong place).
import madge from 'madge';
import path from 'node:path';
import { expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '../..');

it('lib/ has no import cycle', async () => {
  const graph = await madge(path.join(repo, 'lib/index.ts'), {
    fileExtensions: ['ts'],
    tsConfig: path.join(repo, 'tsconfig.json'),
    detectiveOptions: { ts: { skipTypeImports: false } },
  });
  // The CLI is a second entry point.
  const cli = await madge(path.join(repo, 'lib/cli/main.ts'), {
    fileExtensions: ['ts'],
    tsConfig: path.join(repo, 'tsconfig.json'),
    detectiveOptions: { ts: { skipTypeImports: false } },
  });
  expect(Object.keys(graph.obj()).length).toBeGreaterThan(20);
  expect(graph.circular()).toEqual([]);
  expect(cli.circular()).toEqual([]);
}, 60_000);
