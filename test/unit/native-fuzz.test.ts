// The libFuzzer targets (native/fuzz/, ASan + UBSan) run for a bounded time
// in every `npm test`: built with clang (scripts/fuzz.mjs), each one over the
// committed corpus (test/fuzz/corpus/) and the seeds, for 6 s, with no
// finding. The long runs are `npm run fuzz -- --minutes N` (docs/fuzzing.md).
// Without clang the test fails in CI (IPVS_REQUIRE_KERNEL=1 or CI set) and
// is skipped, saying why, elsewhere.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// @ts-expect-error -- a plain ES module script, without declarations
import { TARGETS, buildTargets, runTarget } from '../../scripts/fuzz.mjs';
// @ts-expect-error -- a plain ES module script, without declarations
import { writeSeeds } from '../../scripts/fuzz-corpus.mjs';

const hasClang = spawnSync('clang++', ['--version']).status === 0;
const mustRun = process.env.CI !== undefined || process.env.IPVS_REQUIRE_KERNEL === '1';

describe.runIf(hasClang || mustRun)('fuzz targets, bounded', () => {
  it('build with clang and libFuzzer', () => {
    expect(hasClang, 'clang++ is not installed: apt-get install clang libclang-rt-14-dev').toBe(true);
    expect(buildTargets()).toBeNull();
  }, 600_000);

  it.each(TARGETS as string[])('%s: 6 s over the corpus, executions and no finding', async (target) => {
    await writeSeeds();
    const r = runTarget(target, 6, { merge: false });
    expect(r.summary ?? '', JSON.stringify(r)).toBe('');
    expect(r.findings).toBe(0);
    expect(r.executions).toBeGreaterThan(100);
    expect(r.edges).toBeGreaterThan(100);
  }, 120_000);
});

if (!hasClang && !mustRun) console.warn('native-fuzz: the fuzz targets did not run: clang++ is not installed (apt-get install clang libclang-rt-14-dev)');
