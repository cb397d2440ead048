import { defineConfig } from 'vitest/config';

// Never collect tests (or watch files) in generated or vendored folders.
const exclude = ['**/node_modules/**', '**/dist/**', '**/build/**', '**/.cache/**', '**/.git/**', 'docs/api/**'];

// Three projects:
//  - unit:   pure tests, run on the host by `npm test` (and `npm run test:unit`).
//  - harness: tests of the User-Mode Linux harness, on the host, booting the guest.
//  - kernel: tests against a real kernel with IPVS. `npm test` runs them on the
//            host when its kernel has IPVS, else inside User-Mode Linux
//            (scripts/test.mjs, scripts/uml.mjs). Each file uses its own network
//            namespace (test/kernel/support.ts); files run one at a time.
export default defineConfig({
  server: { watch: { ignored: exclude } },
  test: {
    pool: 'forks',
    teardownTimeout: 60_000,
    exclude,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          // Host-side tests of the User-Mode Linux harness (scripts/uml.mjs):
          // each boots the guest. scripts/test.mjs runs them before the kernel
          // suite whenever that suite runs in UML.
          name: 'harness',
          include: ['test/harness/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          // Records test/peer/fixtures from the real kernel: only
          // scripts/record-peer-fixtures.mjs runs it.
          name: 'record',
          include: ['test/peer/**/*.rec.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          // scripts/test.mjs leaves files out of a pass this way (the CLI's
          // --exclude does not reach a project's own list).
          exclude: [...exclude, ...(process.env.IPVS_TEST_EXCLUDE ?? '').split(',').filter(Boolean)],
          // The UML guest has one slow CPU.
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          maxWorkers: 1,
        },
      },
    ],
  },
});
