// `npm run test:codex`: only the end-to-end test against the real Codex CLI
// (installed by scripts/install-codex.mjs into .cache/codex, not a dependency).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/codex.e2e.test.ts'],
    env: { DISPATCH_E2E_CODEX: '1' },
    testTimeout: 120_000,
    // The first run installs @openai/codex (~420 MB) when scripts/install-codex.mjs has not yet.
    hookTimeout: 15 * 60_000,
    pool: 'forks',
  },
});
