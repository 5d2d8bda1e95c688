import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run alone, after these: tests that stop the shared services (vitest.chaos.config.ts), and
    // pods on the real node and latency bounds (vitest.serial.config.ts), and the clustered
    // services' tests, which kill their servers (vitest.ha.config.ts).
    exclude: [
      'test/chaos/**',
      'test/ha/**',
      'test/secure/**',
      'test/k8s/**',
      'test/isolation/**',
      '**/node_modules/**',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
