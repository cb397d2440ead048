// Why a User-Mode Linux guest did not start, in words: what failed, the
// probable cause and what to do, from the guest's console (the kernel's stack
// dump stays in the console file, never on the terminal).

/**
 * @param {string} consoleText everything linux.uml printed
 * @param {{ shim: { mode: string, note?: string, loaded: boolean }, tmpdir: string, mem: string }} context
 * @returns {{ what: string, cause: string, fix: string }}
 */
export function diagnoseBoot(consoleText, { shim, tmpdir, mem }) {
  const text = consoleText.replace(/\r/g, '');
  const line = (re) => text.split('\n').find((l) => re.test(l))?.trim();
  const panic = line(/Kernel panic - not syncing:/)?.replace(/^.*Kernel panic - not syncing:\s*/, '');

  const shimStop = line(/ipvs-ts xstate shim:/);
  if (shimStop) {
    return {
      what: `the XSAVE shim stopped the guest: ${shimStop.replace(/^.*ipvs-ts xstate shim:\s*/, '')}`,
      cause: 'a guest task held vector state that UML 6.1 cannot save',
      fix: 'report it with the console file; meanwhile run on a host without AMX, or on a host kernel with IPVS',
    };
  }
  const fpregs = line(/ptrace set fp regs failed, errno = 14/);
  if (fpregs) {
    return {
      what: `the guest's first program died ("${fpregs.replace(/^.*userspace - /, '')}")`,
      cause: shim.loaded
        ? 'the host refuses UML\'s short XSAVE buffer even with the ptrace shim loaded (a bug in scripts/uml/xstate-shim.c)'
        : `the host's XSAVE area (a CPU with AMX) is larger than UML 6.1's buffer, and the ptrace shim was ${shim.note ?? 'not loaded'}`,
      fix: shim.loaded
        ? 'report it with the console file'
        : shim.mode === 'off'
          ? 'unset IPVS_UML_XSTATE (the default, auto, loads the shim)'
          : 'install a C compiler (sudo apt-get install gcc): the harness builds the shim with it',
    };
  }
  const noexec = line(/must be not mounted noexec|check_tmpexec|Checking PROT_EXEC mmap.*(failed|not permitted)/i);
  if (noexec || /Failed to execute .*\(error -13\)/.test(text)) {
    return {
      what: noexec ?? `the guest could not execute its init script in ${tmpdir}`,
      cause: `${tmpdir} (TMPDIR) is mounted noexec: UML maps its memory there and runs its init script from there`,
      fix: 'point TMPDIR at a folder on a filesystem mounted with exec (e.g. TMPDIR=$PWD/.cache/tmp)',
    };
  }
  const ptrace = line(/^ptrace.*(not permitted|failed)|PTRACE_TRACEME|start_ptraced_child/i) ?? line(/check_ptrace/);
  if (ptrace) {
    return {
      what: `UML cannot trace its own processes ("${ptrace}")`,
      cause: 'the host does not let UML trace its own processes (a container seccomp profile, or kernel.yama.ptrace_scope=3)',
      fix: 'allow ptrace: in a container --cap-add SYS_PTRACE --security-opt seccomp=unconfined; on the host kernel.yama.ptrace_scope<=1',
    };
  }
  // A mem= the host cannot back dies in the early memory set-up.
  const early = panic && /setup_physmem|memblock_alloc|free_area_init/.test(text) ? `the guest kernel panicked: ${panic}` : null;
  const memory = line(/Out of memory|Cannot allocate memory|not enough memory/i) ?? early;
  if (memory) {
    return {
      what: memory,
      cause: `the host could not give the guest mem=${mem} (memory, or room in ${tmpdir})`,
      fix: 'free memory or space in TMPDIR, or lower IPVS_UML_MEM (e.g. 512M)',
    };
  }
  if (/VFS: Unable to mount root fs|hostfs/.test(panic ?? '')) {
    return {
      what: panic,
      cause: 'this UML kernel cannot use the host\'s / as its root (hostfs)',
      fix: 'use Debian\'s user-mode-linux package (sudo apt-get install user-mode-linux)',
    };
  }
  return {
    what: panic ? `the guest kernel panicked: ${panic}` : 'the guest stopped without reporting an exit status',
    cause: 'not one of the known start-up failures',
    fix: 'read the console file; IPVS_UML_VERBOSE=1 shows the console live',
  };
}
