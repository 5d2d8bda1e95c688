import { defineConfig } from 'vitest/config';

/**
 * Tests that must not share the machine with the other test files, one file at a time after them:
 * pods on the real Kubernetes node (test/k8s: they build images and schedule pods on two cores), and
 * the isolation tests, whose bounds are on another user's latency (a node starved of CPU by parallel
 * test files would measure the machine, not the node).
 */
export default defineConfig({
  test: {
    include: ['test/k8s/**/*.test.ts', 'test/isolation/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 400_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
