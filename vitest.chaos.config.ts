import { defineConfig } from 'vitest/config';

/** Tests that stop and start the shared services: run alone, after every other test. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
