import { defineConfig } from 'vitest/config';

// The in-process tests (no built CLI): the ones a mutant in src/ can fail.
// Stryker runs them once per mutant, so they must stay fast.
export default defineConfig({
  test: {
    include: ['test/*.unit.test.ts'],
    // Shorter than Stryker's own timeout (10 s and more): a mutant that makes a test wait forever (a lock
    // never taken, a loop never woken) fails that test here and counts as killed, instead of timing out and
    // costing a restart of the test runner (~10 s each). The slowest test takes ~2 s.
    testTimeout: 5_000,
  },
});
