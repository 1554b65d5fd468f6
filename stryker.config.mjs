// `npm run test:mutation`: Stryker mutates the core modules and five beyond them and runs the
// in-process tests against each mutant (see vitest.mutation.config.ts).
// MUTATE=src/attempt/policy.ts narrows it to one file.
// Away from UTC for the whole run: a test can tell local time from UTC only in a zone that differs,
// and the test runner's worker threads cannot change their zone for themselves (TZ is read at start).
process.env.TZ = 'America/New_York';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: process.env.MUTATE ? process.env.MUTATE.split(',') : [
    // state
    'src/state/doc.ts',
    'src/state/lock.ts',
    // config and waves
    'src/config/waves.ts',
    'src/config/spec-index.ts',
    // the scheduler and policies
    'src/schedule/loop.ts',
    'src/schedule/readiness.ts',
    'src/schedule/pacing.ts',
    'src/schedule/estimate.ts',
    'src/attempt/policy.ts',
    'src/attempt/verdict.ts',
    // rate-limit and reset parsing
    'src/agents/rate-limit.ts',
    // agent and executor command lines
    'src/agents/command.ts',
    'src/executors/tmux.ts',
    'src/executors/zellij.ts',
    'src/executors/ssh/quote.ts',
    'src/executors/ssh/hosts.ts',
    // beyond the core (issue 24): liveness, checks, what an attempt changed, the report
    'src/attempt/liveness.ts',
    'src/attempt/verify.ts',
    'src/attempt/evidence.ts',
    'src/report/layout.ts',
    'src/report/data.ts',
  ],
  coverageAnalysis: 'perTest',
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  ignoreStatic: true,
  // A mutant that spins without yielding (a loop that never ends) is stopped here, after 1.5× the tests' own time
  // and 6 s; one that only waits is failed sooner by the tests' 5 s timeout (vitest.mutation.config.ts).
  timeoutMS: 6_000,
};
