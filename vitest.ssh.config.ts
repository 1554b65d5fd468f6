// `npm run test:ssh`: the SSH host pool against real OpenSSH servers on loopback ports
// (test/fixtures/sshd.ts). `.ci/run` runs it after the main suite. Its files mostly wait on
// hosts answering, so they run side by side.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/ssh/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 5,
  },
});
