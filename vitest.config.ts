import { defineConfig } from 'vitest/config';

// `npm test`: two projects. The real-OpenSSH pool (`npm run test:ssh`) and the counted loops and
// volume attacks (`npm run test:slow`) are layers of their own.
const mocking = ['test/lock-race.unit.test.ts', 'test/command-lines.unit.test.ts'];

export default defineConfig({
  test: {
    // CLI tests start real runners, agents, tmux and git; 2 cores go a long way with 4 files at once.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most files wait on processes they started, not on the CPU: four at once on 2 cores.
    maxWorkers: 4,
    projects: [
      {
        extends: true,
        test: {
          name: 'in-process',
          // Pure in-process tests share a worker's loaded modules (no reload per file: ~0.3 s of CPU each);
          // the two files that replace a module with vi.mock keep a fresh one.
          include: ['test/*.unit.test.ts'],
          exclude: mocking,
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'processes',
          include: ['test/!(*.unit).test.ts', ...mocking],
        },
      },
    ],
  },
});
