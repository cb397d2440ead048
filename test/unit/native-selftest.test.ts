// Builds and runs the sanitizer checks of the native core (native/CMakeLists.txt)
// under ASan + UBSan (+ LeakSanitizer): nl_selftest (native/fuzz/selftest.cc),
// the netlink attribute reader, message walker, ACK parser and IPVS codec on
// truncated, oversized and misaligned input, plus 20 000 deterministic random
// mutations of valid replies; peer_selftest (test/peer/selftest.cc), the
// client against the netlink test peer with every fault, and io_uring_enter
// failing half-way through a chain. Same steps as `npm run test:native`.
//
// Needs cmake and a C++17 compiler with the sanitizers (g++ or clang++), not
// node headers. The build lives in .cache/sanitize (outside build/, which
// node-gyp rebuild wipes) and is incremental; a first build takes ~25 s.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect, test } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const buildDir = path.join('.cache', 'sanitize');
const INSTALL = 'the native selftest needs cmake (>= 3.16) and g++ (or clang++) with ASan/UBSan: apt-get install cmake g++';

function run(cmd: string, args: string[], step: string): string {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? `${cmd} not found: ${INSTALL}` : `${step}: ${r.error.message}`);
  }
  const output = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) {
    const noCompiler = /No CMAKE_CXX_COMPILER|Could not find compiler|not a full path to an existing compiler/.test(output);
    const noSanitizers = /cannot find -l(asan|ubsan)|libclang_rt\.(asan|ubsan)|libasan\.so/.test(output);
    const hint = noCompiler ? `: no C++ compiler; ${INSTALL}` : noSanitizers ? `: no sanitizer runtime; ${INSTALL}` : '';
    const tail = output.split('\n').slice(-60).join('\n');
    throw new Error(`${step} failed (${r.signal ?? `exit ${r.status}`})${hint}\n${tail}`);
  }
  return output;
}

test('nl_selftest passes under AddressSanitizer and UndefinedBehaviorSanitizer', () => {
  run('cmake', ['-S', 'native', '-B', buildDir], 'cmake configure');
  run('cmake', ['--build', buildDir, '-j2'], 'cmake build');
  const output = run(path.join(root, buildDir, 'nl_selftest'), [], 'nl_selftest');

  const summary = /^(\d+) passed, (\d+) failed$/m.exec(output);
  expect(summary, `no closing "N passed, 0 failed" line in:\n${output}`).not.toBeNull();
  const [, passed, failed] = summary!;
  expect(Number(failed)).toBe(0);
  // ~1 000 targeted checks plus one per random mutation.
  expect(Number(passed)).toBeGreaterThanOrEqual(20_000);
  expect(output).not.toMatch(/runtime error|AddressSanitizer/);
}, 240_000);

test('peer_selftest passes under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer', () => {
  run('cmake', ['-S', 'native', '-B', buildDir], 'cmake configure');
  run('cmake', ['--build', buildDir, '-j2'], 'cmake build');
  const output = run(path.join(root, buildDir, 'peer_selftest'), [], 'peer_selftest');
  const summary = /^(\d+) passed, (\d+) failed$/m.exec(output);
  expect(summary, `no closing "N passed, 0 failed" line in:\n${output}`).not.toBeNull();
  expect(Number(summary![2])).toBe(0);
  expect(Number(summary![1])).toBeGreaterThanOrEqual(79);
  // Every submitted operation of a failed or timed-out run was reaped.
  expect(output).toContain('ENOMEM: 8 taken, 8 cancelled and reaped');
  expect(output).toContain('timeout: 16 taken, 16 cancelled and reaped');
  expect(output).not.toMatch(/runtime error|AddressSanitizer|LeakSanitizer/);
}, 240_000);
