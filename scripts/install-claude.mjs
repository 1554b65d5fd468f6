#!/usr/bin/env node
// Installs the real Claude Code CLI (npm `@anthropic-ai/claude-code`, ~360 MB) for the opt-in end-to-end test
// (`npm run test:claude`) into <repo>/.cache/claude, and prints the path of `claude`.
//
//   node scripts/install-claude.mjs
//   DISPATCH_CLAUDE_CACHE=/somewhere node scripts/install-claude.mjs
//   DISPATCH_CLAUDE_VERSION=2.1.328 ...        # another version (default: the pin below)
import { installCli } from './install-cli.mjs';

/** The Claude Code CLI dispatch is tested against (REAL-TOOLS.md: 2.1.328, checked 2026-12-07). */
export const CLAUDE_VERSION = '2.1.328';

installCli({ name: 'claude', pkg: '@anthropic-ai/claude-code', version: CLAUDE_VERSION, bin: 'claude', size: 'about 360 MB', cacheEnv: 'DISPATCH_CLAUDE_CACHE', versionEnv: 'DISPATCH_CLAUDE_VERSION' });
