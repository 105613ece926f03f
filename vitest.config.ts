import { defineConfig } from 'vitest/config';

/**
 * Two projects: the fast suites share one process per worker (`isolate: false`: modules are
 * evaluated once instead of once per file, about 3× faster on these 2-CPU machines), while the
 * end-to-end suites, which start whole local clouds, keep a fresh process per file.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
    projects: [
      {
        extends: true,
        test: { name: 'fast', include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/infra/**/*.test.ts'], isolate: false },
      },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts', 'test/conformance/**/*.test.ts'] },
      },
    ],
  },
});
