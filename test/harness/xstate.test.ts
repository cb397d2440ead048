// The UML harness on hosts whose XSAVE area is larger than UML 6.1's FPU
// buffer (AMX): scripts/uml/xstate-shim.c, preloaded into linux.uml, must keep
// every guest task's whole vector state across context switches, whether the
// host needs it (auto) or not (force), and a boot without it must fail in a
// few lines that say why. Each test boots the guest on the host.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findUml, runInUml } from '../../scripts/uml.mjs';

const PROCESSES = 4;
const ROUNDS = 5000;
// A SHA-256 of 8 MiB in the guest's node (OpenSSL's vector code), checked against the host's.
const SHA_SCRIPT = `process.stdout.write('sha256 ' + require('crypto').createHash('sha256').update(Buffer.alloc(8 << 20, 0x5a)).digest('hex') + '\\n')`;
const expectedSha = createHash('sha256').update(Buffer.alloc(8 << 20, 0x5a)).digest('hex');

let dir = '';
let stress = '';
const uml = findUml({ fetch: false });

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ipvs-xstate-'));
  stress = path.join(dir, 'vector-stress');
  const cc = spawnSync('cc', ['-O2', '-o', stress, path.join(import.meta.dirname, 'vector-stress.c')], { encoding: 'utf8' });
  expect(cc.status, cc.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Boot {
  status: number;
  stdout: string;
  stderr: string;
}

async function boot(xstate: 'auto' | 'force' | 'off', script: string): Promise<Boot> {
  const collect = () => {
    const s = new PassThrough();
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    return { s, text: () => text };
  };
  const out = collect();
  const err = collect();
  const status = await runInUml(['/bin/bash', '-c', script], { uml, xstate, stdout: out.s, stderr: err.s, timeoutSec: 150 });
  return { status, stdout: out.text(), stderr: err.text() };
}

const workload = () => `${stress} ${PROCESSES} ${ROUNDS} && node -e "${SHA_SCRIPT}" && cat "$IPVS_UML_XSTATE_REPORT"`;

interface Report {
  host: number;
  guest: number;
  mode: string;
  calls: number;
  widened: number;
}

function parseRun(stdout: string): { report: Report; switches: number } {
  const processes = stdout.match(/^process \d+: .*$/gm) ?? [];
  expect(processes).toHaveLength(PROCESSES);
  for (const p of processes) expect(p).toMatch(/ 0 register mismatches, 0 string mismatches$/);
  const total = /^total: (\d+) processes, (\d+) context switches, (\d+) failed$/m.exec(stdout);
  expect(total?.slice(1, 4).map(Number)[0]).toBe(PROCESSES);
  expect(Number(total?.[3])).toBe(0);
  expect(stdout).toContain(`sha256 ${expectedSha}\n`);
  const fields = Object.fromEntries([...stdout.matchAll(/(host|guest|mode|calls|widened)=(\S+)/g)].map((m) => [m[1], m[2]]));
  const report = {
    host: Number(fields.host),
    guest: Number(fields.guest),
    mode: String(fields.mode),
    calls: Number(fields.calls),
    widened: Number(fields.widened),
  };
  return { report, switches: Number(total?.[2]) };
}

let sizes: { host: number; guest: number } | undefined;

describe('the XSAVE shim under User-Mode Linux', () => {
  it('forced on every save and restore, keeps each task\'s vector state across thousands of switches', async () => {
    const r = await boot('force', workload());
    expect(r.status, r.stderr).toBe(0);
    const { report, switches } = parseRun(r.stdout);
    expect(switches).toBeGreaterThanOrEqual(2000);
    expect(report.mode).toBe('force');
    expect(report.host).toBeGreaterThanOrEqual(report.guest);
    // Every guest system call saves and restores the state: the path ran tens of thousands of times.
    expect(report.calls).toBeGreaterThan(10_000);
    expect(report.widened).toBe(report.calls);
    expect(r.stderr).toContain(`uml: host XSAVE area ${report.host} bytes, UML's buffer ${report.guest} bytes: ptrace shim forced`);
    sizes = { host: report.host, guest: report.guest };
  });

  it('by default, widens exactly when the host\'s XSAVE area is larger than UML\'s buffer', async () => {
    const r = await boot('auto', workload());
    expect(r.status, r.stderr).toBe(0);
    const { report } = parseRun(r.stdout);
    expect(sizes).toBeDefined();
    expect({ host: report.host, guest: report.guest }).toEqual(sizes);
    const needed = report.host > report.guest;
    expect(report.mode).toBe(needed ? 'widen' : 'pass');
    expect(report.widened).toBe(needed ? report.calls : 0);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('uml: host XSAVE'))).toHaveLength(1);
  });

  it('without the shim, boots where the host does not need it and fails in a few lines where it does', async () => {
    const r = await boot('off', `${stress} 2 500`);
    expect(sizes).toBeDefined();
    if (sizes!.host <= sizes!.guest) {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^total: 2 processes, \d+ context switches, 0 failed$/m);
      return;
    }
    expect(r.status).toBe(125);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      'uml: XSAVE shim off (IPVS_UML_XSTATE=off)',
      expect.stringMatching(/^uml: the guest stopped after [\d.]+s without an exit status: the guest's first program died \("ptrace set fp regs failed, errno = 14"\)$/),
      expect.stringMatching(/^uml: probable cause: the host's XSAVE area .* the ptrace shim was off/),
      'uml: what to do: unset IPVS_UML_XSTATE (the default, auto, loads the shim)',
      expect.stringMatching(/^uml: full guest console: \//),
    ]);
    expect(r.stderr).not.toMatch(/Call Trace|Kernel panic/);
    const consoleFile = lines[4]!.replace('uml: full guest console: ', '');
    expect(existsSync(consoleFile)).toBe(true);
    expect(readFileSync(consoleFile, 'utf8')).toMatch(/Kernel panic - not syncing: Attempted to kill init/);
  });
});
