// `npm run test:claude`: only the end-to-end test against the real Claude Code CLI
// (installed by scripts/install-claude.mjs into .cache/claude, not a dependency).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/claude.e2e.test.ts'],
    env: { DISPATCH_E2E_CLAUDE: '1' },
    testTimeout: 120_000,
    // The first run installs @anthropic-ai/claude-code (~360 MB) when scripts/install-claude.mjs has not yet.
    hookTimeout: 15 * 60_000,
    pool: 'forks',
  },
});
