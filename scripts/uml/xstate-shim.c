// LD_PRELOAD library for linux.uml: lets UML 6.1 run on hosts whose XSAVE area
// is larger than its per-task FPU buffer (CPUs with AMX).
//
// UML saves and restores each guest task's FPU/vector state with
// PTRACE_GETREGSET / PTRACE_SETREGSET (NT_X86_XSTATE) through a buffer sized
// at build time (2 696 bytes in Debian's 6.1). The host kernel truncates a
// short GETREGSET, but refuses a short SETREGSET with EFAULT, so on a host
// whose regset is larger (11 008 bytes with AMX) the guest's first program dies.
//
// This wrapper hands the kernel a full-size buffer on both calls:
//   GETREGSET  read the whole state, give UML its prefix, and check that every
//              byte past the prefix is zero (the components there, AMX tiles,
//              are in their initial state);
//   SETREGSET  UML's prefix followed by zeros: exactly the state read last,
//              since its tail was zero.
// It keeps no state between calls, so no task can ever see another task's
// registers. Should a task ever hold non-zero state past UML's buffer (guest
// tasks cannot: AMX needs a permission the UML stub process never asks the
// host for), the wrapper stops UML with a message instead of losing it.
//
// Environment (read once, then removed so that programs UML starts do not
// inherit the preload):
//   IPVS_UML_XSTATE_MODE=force    route every NT_X86_XSTATE call through the
//                                 full-size buffer, even when UML's is big enough
//   IPVS_UML_XSTATE_REPORT=FILE   keep "host=… guest=… mode=… calls=…" there
//
// Every other ptrace request goes to libc's ptrace() unchanged.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

static ptrace_fn real_ptrace;
static int force;
static size_t host_size;  // the host's NT_X86_XSTATE regset size, learned at the first call
static unsigned char *full;  // host_size bytes: UML calls ptrace from one thread
static char *report;  // mapped report file, or NULL
static unsigned long long calls, widened;

enum { REPORT_SIZE = 160, PROBE_SIZE = 1 << 16 };

static void die(const char *what) {
  // Runs on a UML kernel stack: no stdio, one write.
  char line[256];
  int n = snprintf(line, sizeof line, "ipvs-ts xstate shim: %s\n", what);
  if (n > 0) (void)!write(2, line, (size_t)n);
  abort();
}

static void write_report(size_t guest) {
  if (!report) return;
  char line[REPORT_SIZE];
  const char *mode = force ? "force" : guest < host_size ? "widen" : "pass";
  int n = snprintf(line, sizeof line, "host=%zu guest=%zu mode=%s calls=%llu widened=%llu", host_size, guest, mode,
                   calls, widened);
  if (n <= 0 || n >= REPORT_SIZE) return;
  // Rewritten in place: pad to the end so that a shorter line leaves nothing behind.
  memset(line + n, ' ', REPORT_SIZE - 1 - (size_t)n);
  line[REPORT_SIZE - 1] = '\n';
  memcpy(report, line, REPORT_SIZE);
}

__attribute__((constructor)) static void shim_init(void) {
  real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  if (!real_ptrace) die("cannot find libc's ptrace()");
  const char *mode = getenv("IPVS_UML_XSTATE_MODE");
  force = mode && strcmp(mode, "force") == 0;
  const char *path = getenv("IPVS_UML_XSTATE_REPORT");
  if (path && *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd >= 0 && ftruncate(fd, REPORT_SIZE) == 0) {
      void *m = mmap(NULL, REPORT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (m != MAP_FAILED) report = m;
    }
    if (fd >= 0) close(fd);
  }
  unsetenv("LD_PRELOAD");
  unsetenv("IPVS_UML_XSTATE_MODE");
  unsetenv("IPVS_UML_XSTATE_REPORT");
}

// The regset size is whatever the kernel fills when offered more than enough.
static int learn_host_size(pid_t pid) {
  void *probe = mmap(NULL, PROBE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe == MAP_FAILED) return -1;
  struct iovec iov = {probe, PROBE_SIZE};
  long r = real_ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, &iov);
  munmap(probe, PROBE_SIZE);
  if (r < 0) return -1;
  host_size = iov.iov_len;
  full = mmap(NULL, host_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (full == MAP_FAILED) die("cannot map the XSAVE buffer");
  return 0;
}

static long widened_regset(int request, pid_t pid, struct iovec *guest) {
  struct iovec iov = {full, host_size};
  size_t keep = guest->iov_len < host_size ? guest->iov_len : host_size;
  if (request == PTRACE_SETREGSET) {
    memcpy(full, guest->iov_base, keep);
    memset(full + keep, 0, host_size - keep);
    return real_ptrace(PTRACE_SETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, &iov);
  }
  long r = real_ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, &iov);
  if (r < 0) return r;
  size_t got = iov.iov_len < keep ? iov.iov_len : keep;
  for (size_t i = keep; i < iov.iov_len; i++)
    if (full[i]) die("a guest task holds XSAVE state past UML's buffer; refusing to lose it");
  memcpy(guest->iov_base, full, got);
  guest->iov_len = got;
  return r;
}

long ptrace(enum __ptrace_request request, ...) {
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void *addr = va_arg(ap, void *);
  void *data = va_arg(ap, void *);
  va_end(ap);

  int regset = request == PTRACE_GETREGSET || request == PTRACE_SETREGSET;
  if (!regset || (uintptr_t)addr != NT_X86_XSTATE || !data) return real_ptrace(request, pid, addr, data);
  if (!host_size && learn_host_size(pid) < 0) return real_ptrace(request, pid, addr, data);

  struct iovec *guest = data;
  size_t guest_size = guest->iov_len;
  int widen = force || guest_size < host_size;
  long r = widen ? widened_regset(request, pid, guest) : real_ptrace(request, pid, addr, data);
  calls++;
  widened += widen;
  write_report(guest_size);
  return r;
}
