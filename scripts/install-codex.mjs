#!/usr/bin/env node
// Installs the real Codex CLI (npm `@openai/codex`, ~420 MB) for the opt-in end-to-end test
// (`npm run test:codex`) into <repo>/.cache/codex, and prints the path of `codex`.
//
//   node scripts/install-codex.mjs
//   DISPATCH_CODEX_CACHE=/somewhere node scripts/install-codex.mjs
//   DISPATCH_CODEX_VERSION=0.171.0 ...        # another version (default: the pin below)
import { installCli } from './install-cli.mjs';

/** The Codex CLI dispatch is tested against (REAL-TOOLS.md: "current 0.171.x"). */
export const CODEX_VERSION = '0.171.0';

installCli({ name: 'codex', pkg: '@openai/codex', version: CODEX_VERSION, bin: 'codex', size: 'about 420 MB', cacheEnv: 'DISPATCH_CODEX_CACHE', versionEnv: 'DISPATCH_CODEX_VERSION' });
