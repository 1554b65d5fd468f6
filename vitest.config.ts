import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/slow/**', '**/node_modules/**'],
    // CLI tests spawn the built bin and real processes; 2 cores go a long way with threads.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
