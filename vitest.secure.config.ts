import { defineConfig } from 'vitest/config';

/**
 * Tests on the backends of `npm run services:up -- --secure` (test/secure/): credentials and TLS on
 * every backend, as a production install has them.
 */
export default defineConfig({
  test: {
    include: ['test/secure/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
