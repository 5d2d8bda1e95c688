import { defineConfig } from 'vitest/config';

/**
 * Tests on the clustered services of `npm run services:up -- --ha` (test/ha/): one file at a time,
 * since some kill a server of the shared topology; each file starts what is missing first.
 */
export default defineConfig({
  test: {
    include: ['test/ha/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
