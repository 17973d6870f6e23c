import { defineConfig } from 'vitest/config';

// One config for every suite. Property tests read their case count from
// FC_NUM_RUNS (CI sets it; the default in test/support/property.ts applies otherwise).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
