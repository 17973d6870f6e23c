import { configDefaults, defineConfig } from 'vitest/config';

// One config, two projects. `unit`: every suite but the browser one, files in
// parallel. `e2e`: the browser suite (test/e2e), which npm test runs after the
// others so Chromium and the demo servers do not compete with them for the CPU.
// Property tests read their case count from FC_NUM_RUNS (CI sets it; the
// default in test/support/property.ts applies otherwise).
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/e2e/**'] } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
