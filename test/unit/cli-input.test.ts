// What the CLI reads: a file or standard input, at most 64 MiB, and every
// failure to read it as one line naming the file, exit 2 (no stack). None of
// these reach a kernel: the input is read before a handle is opened.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { INPUT_MAX_BYTES } from '../../lib/cli/io.js';
import { main } from '../../lib/cli/main.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-cli-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[], stdin = ''): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(args, {
    io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, readStdin: async () => stdin },
  });
  return { status, stdout, stderr };
}

describe('ipvs-ts reading its input', () => {
  it.each([
    ['apply', path.join(dir, 'missing.json'), 'no such file'],
    ['apply', dir, 'is a folder, not a file'],
    ['restore', path.join(dir, 'missing.rules'), 'no such file'],
  ])('%s %s: one line, exit 2', async (command, file, why) => {
    const r = await cli([command, file]);
    expect(r).toEqual({ status: 2, stdout: '', stderr: `ipvs-ts ${command}: ${file}: ${why}\n` });
  });

  it('stops at 64 MiB: ipvs-ts apply /dev/zero is refused, not run out of memory', async () => {
    const r = await cli(['apply', '/dev/zero']);
    expect(r).toEqual({ status: 2, stdout: '', stderr: `ipvs-ts apply: /dev/zero: larger than 64 MiB, the most ipvs-ts reads\n` });
    expect(INPUT_MAX_BYTES).toBe(64 * 1024 * 1024);
  });
});
