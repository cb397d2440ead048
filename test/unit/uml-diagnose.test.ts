// The few lines a guest that cannot start is reported with
// (scripts/uml/diagnose.mjs), from consoles recorded on real failures:
//   amx-no-shim      a host with AMX, IPVS_UML_XSTATE=off
//   tmpdir-noexec    TMPDIR on a tmpfs mounted noexec
//   mem-too-large    IPVS_UML_MEM=20000G
//   ptrace-denied    linux.uml under a seccomp filter that refuses ptrace
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagnoseBoot } from '../../scripts/uml/diagnose.mjs';

const recorded = (name: string): string => readFileSync(new URL(`./fixtures/uml/${name}.log`, import.meta.url), 'utf8');
const context = (shim: { mode: string; note?: string; loaded: boolean }) => ({ shim, tmpdir: '/tmp', mem: '1G' });
const off = context({ mode: 'off', note: 'off (IPVS_UML_XSTATE=off)', loaded: false });

describe('diagnoseBoot', () => {
  it('names the XSAVE size mismatch and the switch that turned the shim off', () => {
    const d = diagnoseBoot(recorded('amx-no-shim'), off);
    expect(d.what).toBe('the guest\'s first program died ("ptrace set fp regs failed, errno = 14")');
    expect(d.cause).toMatch(/XSAVE area .* larger than UML 6\.1's buffer, and the ptrace shim was off \(IPVS_UML_XSTATE=off\)/);
    expect(d.fix).toBe('unset IPVS_UML_XSTATE (the default, auto, loads the shim)');
  });

  it('asks for a compiler when the shim could not be built', () => {
    const d = diagnoseBoot(recorded('amx-no-shim'), context({ mode: 'auto', note: 'not available: no C compiler', loaded: false }));
    expect(d.cause).toMatch(/shim was not available: no C compiler/);
    expect(d.fix).toMatch(/apt-get install gcc/);
  });

  it('calls it a bug when the shim was loaded and the host still refused', () => {
    const d = diagnoseBoot(recorded('amx-no-shim'), context({ mode: 'auto', loaded: true }));
    expect(d.cause).toMatch(/even with the ptrace shim loaded/);
    expect(d.fix).toBe('report it with the console file');
  });

  it('recognises a noexec TMPDIR', () => {
    const d = diagnoseBoot(recorded('tmpdir-noexec'), off);
    expect(d.what).toBe('/tmp/noexec must be not mounted noexec');
    expect(d.fix).toMatch(/TMPDIR/);
  });

  it('recognises a memory size the host cannot back', () => {
    const d = diagnoseBoot(recorded('mem-too-large'), off);
    expect(d.what).toBe('the guest kernel panicked: Segfault with no mm');
    expect(d.fix).toMatch(/IPVS_UML_MEM/);
  });

  it('recognises a host that forbids ptrace', () => {
    const d = diagnoseBoot(recorded('ptrace-denied'), off);
    expect(d.what).toBe('UML cannot trace its own processes ("ptrace: Operation not permitted")');
    expect(d.cause).toMatch(/seccomp|ptrace_scope/);
  });

  it('falls back to the panic line, never the stack', () => {
    const d = diagnoseBoot('Kernel panic - not syncing: VFS: something else\nCall Trace:\n [<6002d37a>] show_stack+0x184/0x193\n', off);
    expect(d.what).toBe('the guest kernel panicked: VFS: something else');
    expect(`${d.what}${d.cause}${d.fix}`).not.toMatch(/Call Trace|show_stack/);
  });
});
