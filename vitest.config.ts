import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // The vm-based pools give each file its own realm, which breaks `instanceof Error` for errors
    // the addon constructs; forked processes keep one realm per file.
    pool: 'forks',
    testTimeout: 30_000,
    // In CI, a JSON report as well, from which .ci/run prints its closing "N passed, N failed".
    ...(process.env.CI ? { reporters: ['default', 'json'], outputFile: { json: 'test-results/vitest.json' } } : {}),
    hookTimeout: 30_000,
  },
});
