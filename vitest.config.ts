import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The real-OpenSSH pool (`npm run test:ssh`) and the counted loops (`npm run test:slow`) are layers of their own.
    exclude: ['test/slow/**', 'test/ssh/**', '**/node_modules/**'],
    // CLI tests spawn the built bin and real processes; 2 cores go a long way with threads.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most files wait on processes they started, not on the CPU: three at once on 2 cores
    // take the suite from about 5 minutes to under 3 (vitest's default would be one).
    maxWorkers: 4,
  },
});
