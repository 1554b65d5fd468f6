// `npm run test:slow`: the long crash and concurrency loops (50+ trials each,
// counted). `.ci/run` runs them after the main suite.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/slow/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file at a time: each loop already loads both cores.
    fileParallelism: false,
  },
});
