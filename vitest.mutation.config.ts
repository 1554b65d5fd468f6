import { defineConfig } from 'vitest/config';

// The in-process tests (no built CLI): the ones a mutant in src/ can fail.
// Stryker runs them once per mutant, so they must stay fast.
export default defineConfig({
  test: {
    include: ['test/*.unit.test.ts'],
    testTimeout: 30_000,
  },
});
