// vector-stress PROCS ROUNDS: PROCS processes at once, each ROUNDS times
//   - puts its own pattern in every vector register (zmm0-31 and k1-7 with
//     AVX-512, else ymm0-15 with AVX, else xmm0-15), makes a raw sched_yield
//     system call so that another process runs, and checks every register;
//   - runs glibc's memcpy, memcmp, memchr and strlen (the AVX2/EVEX variants
//     on such CPUs) over 256 KiB buffers filled with its own data, and checks
//     the results.
// Prints one line per process and a total; exits 1 on any mismatch.
//
// Under User-Mode Linux every system call and every switch between guest
// processes saves and restores the vector state through ptrace, so this is the
// test of scripts/uml/xstate-shim.c: a state that leaks between tasks or is
// cut short shows up as a register or buffer mismatch.

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BUFFER = 256 * 1024, ZMM_BYTES = 32 * 64 + 7 * 8, YMM_BYTES = 16 * 32, XMM_BYTES = 16 * 16 };

#define YIELD "mov $24, %%eax\n\tsyscall\n\t" /* SYS_sched_yield: no libc call, no clobbered vectors */

#define ZLOAD(n) "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n\t"
#define ZSTORE(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n\t"
#define Z8(op, a) op(a##0) op(a##1) op(a##2) op(a##3) op(a##4) op(a##5) op(a##6) op(a##7)
#define KLOAD(n) "kmovq 2048+(" #n "-1)*8(%[in]), %%k" #n "\n\t"
#define KSTORE(n) "kmovq %%k" #n ", 2048+(" #n "-1)*8(%[out])\n\t"
#define K7(op) op(1) op(2) op(3) op(4) op(5) op(6) op(7)

__attribute__((target("avx512f,avx512bw"), noinline)) static void round_zmm(const uint8_t *in, uint8_t *out) {
  __asm__ volatile(ZLOAD(0) ZLOAD(1) ZLOAD(2) ZLOAD(3) ZLOAD(4) ZLOAD(5) ZLOAD(6) ZLOAD(7) ZLOAD(8) ZLOAD(9)
                       ZLOAD(10) ZLOAD(11) ZLOAD(12) ZLOAD(13) ZLOAD(14) ZLOAD(15) ZLOAD(16) ZLOAD(17) ZLOAD(18)
                           ZLOAD(19) ZLOAD(20) ZLOAD(21) ZLOAD(22) ZLOAD(23) ZLOAD(24) ZLOAD(25) ZLOAD(26) ZLOAD(27)
                               ZLOAD(28) ZLOAD(29) ZLOAD(30) ZLOAD(31) K7(KLOAD) YIELD ZSTORE(0) ZSTORE(1) ZSTORE(2)
                                   ZSTORE(3) ZSTORE(4) ZSTORE(5) ZSTORE(6) ZSTORE(7) ZSTORE(8) ZSTORE(9) ZSTORE(10)
                                       ZSTORE(11) ZSTORE(12) ZSTORE(13) ZSTORE(14) ZSTORE(15) ZSTORE(16) ZSTORE(17)
                                           ZSTORE(18) ZSTORE(19) ZSTORE(20) ZSTORE(21) ZSTORE(22) ZSTORE(23)
                                               ZSTORE(24) ZSTORE(25) ZSTORE(26) ZSTORE(27) ZSTORE(28) ZSTORE(29)
                                                   ZSTORE(30) ZSTORE(31) K7(KSTORE)
                   :
                   : [in] "r"(in), [out] "r"(out)
                   : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                     "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",
                     "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
                     "xmm30", "xmm31", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

#define YLOAD(n) "vmovdqu " #n "*32(%[in]), %%ymm" #n "\n\t"
#define YSTORE(n) "vmovdqu %%ymm" #n ", " #n "*32(%[out])\n\t"

__attribute__((target("avx"), noinline)) static void round_ymm(const uint8_t *in, uint8_t *out) {
  __asm__ volatile(YLOAD(0) YLOAD(1) YLOAD(2) YLOAD(3) YLOAD(4) YLOAD(5) YLOAD(6) YLOAD(7) YLOAD(8) YLOAD(9) YLOAD(10)
                       YLOAD(11) YLOAD(12) YLOAD(13) YLOAD(14) YLOAD(15) YIELD YSTORE(0) YSTORE(1) YSTORE(2) YSTORE(3)
                           YSTORE(4) YSTORE(5) YSTORE(6) YSTORE(7) YSTORE(8) YSTORE(9) YSTORE(10) YSTORE(11)
                               YSTORE(12) YSTORE(13) YSTORE(14) YSTORE(15) "vzeroupper\n\t"
                   :
                   : [in] "r"(in), [out] "r"(out)
                   : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                     "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

#define XLOAD(n) "movdqu " #n "*16(%[in]), %%xmm" #n "\n\t"
#define XSTORE(n) "movdqu %%xmm" #n ", " #n "*16(%[out])\n\t"

__attribute__((noinline)) static void round_xmm(const uint8_t *in, uint8_t *out) {
  __asm__ volatile(XLOAD(0) XLOAD(1) XLOAD(2) XLOAD(3) XLOAD(4) XLOAD(5) XLOAD(6) XLOAD(7) XLOAD(8) XLOAD(9) XLOAD(10)
                       XLOAD(11) XLOAD(12) XLOAD(13) XLOAD(14) XLOAD(15) YIELD XSTORE(0) XSTORE(1) XSTORE(2) XSTORE(3)
                           XSTORE(4) XSTORE(5) XSTORE(6) XSTORE(7) XSTORE(8) XSTORE(9) XSTORE(10) XSTORE(11)
                               XSTORE(12) XSTORE(13) XSTORE(14) XSTORE(15)
                   :
                   : [in] "r"(in), [out] "r"(out)
                   : "rax", "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                     "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static uint64_t rng;
static uint64_t next(void) {  // xorshift64*
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ULL;
}

static void fill(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = next();
    memcpy(p + i, &v, n - i < 8 ? n - i : 8);
  }
}

static int worker(int id, int rounds, const char *kind) {
  rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1);
  uint8_t *src = malloc(BUFFER), *dst = malloc(BUFFER);
  uint8_t in[ZMM_BYTES] __attribute__((aligned(64))), out[ZMM_BYTES] __attribute__((aligned(64)));
  if (!src || !dst) return 2;
  long register_bad = 0, string_bad = 0;
  size_t bytes = strcmp(kind, "zmm") == 0 ? ZMM_BYTES : strcmp(kind, "ymm") == 0 ? YMM_BYTES : XMM_BYTES;
  for (int r = 0; r < rounds; r++) {
    fill(in, bytes);
    memset(out, 0, sizeof out);
    if (bytes == ZMM_BYTES)
      round_zmm(in, out);
    else if (bytes == YMM_BYTES)
      round_ymm(in, out);
    else
      round_xmm(in, out);
    if (memcmp(in, out, bytes) != 0) register_bad++;

    // Strings: every 16th round rewrites the whole buffer, others a window.
    size_t len = (size_t)(next() % (BUFFER - 1)) + 1;
    if (r % 16 == 0) fill(src, BUFFER);
    for (size_t i = 0; i < len; i++)
      if (!src[i]) src[i] = (uint8_t)(1 + id);
    src[len] = 0;
    memcpy(dst, src, BUFFER);
    if (memcmp(dst, src, BUFFER) != 0) string_bad++;
    if (strlen((const char *)dst) != len) string_bad++;
    if (memchr(dst, 0, BUFFER) != dst + len) string_bad++;
    dst[len / 2] ^= 0x55;
    if (memcmp(dst, src, BUFFER) == 0) string_bad++;
    src[len] = 1;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("process %d: %d rounds, %s registers, %ld context switches, %ld register mismatches, %ld string mismatches\n",
         id, rounds, kind, ru.ru_nvcsw + ru.ru_nivcsw, register_bad, string_bad);
  fflush(stdout);
  return register_bad || string_bad ? 1 : 0;
}

int main(int argc, char **argv) {
  int procs = argc > 1 ? atoi(argv[1]) : 3;
  int rounds = argc > 2 ? atoi(argv[2]) : 3000;
  if (procs < 1 || rounds < 1) {
    fprintf(stderr, "usage: vector-stress PROCS ROUNDS\n");
    return 2;
  }
  __builtin_cpu_init();
  const char *kind = __builtin_cpu_supports("avx512bw") ? "zmm" : __builtin_cpu_supports("avx") ? "ymm" : "xmm";
  fflush(stdout);
  for (int i = 0; i < procs; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) _exit(worker(i, rounds, kind));
  }
  int failed = 0;
  for (int i = 0; i < procs; i++) {
    int status;
    if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
  }
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  printf("total: %d processes, %ld context switches, %d failed\n", procs, ru.ru_nvcsw + ru.ru_nivcsw, failed);
  return failed ? 1 : 0;
}
