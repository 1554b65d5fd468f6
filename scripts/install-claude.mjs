#!/usr/bin/env node
// Installs the real Claude Code CLI (npm `@anthropic-ai/claude-code`) for the opt-in end-to-end
// test (`npm run test:claude`), into a cache folder outside node_modules: it is
// ~360 MB (a native binary per platform), so it is never a dependency of the
// package. Installs only when the pinned version is not already there; prints
// the path of the `claude` executable on stdout (progress goes to stderr).
//
//   node scripts/install-claude.mjs            # <repo>/.cache/claude
//   DISPATCH_CLAUDE_CACHE=/somewhere node scripts/install-claude.mjs
//   DISPATCH_CLAUDE_VERSION=2.1.328 ...        # another version (default: the pin below)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Claude Code CLI dispatch is tested against (REAL-TOOLS.md: 2.1.328, checked 2026-12-07). */
export const CLAUDE_VERSION = '2.1.328';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const version = process.env.DISPATCH_CLAUDE_VERSION || CLAUDE_VERSION;
const dir = resolve(process.env.DISPATCH_CLAUDE_CACHE || join(root, '.cache', 'claude'));
const pkgDir = join(dir, 'node_modules', '@anthropic-ai', 'claude-code');
const bin = join(dir, 'node_modules', '.bin', process.platform === 'win32' ? 'claude.cmd' : 'claude');

const installedVersion = () => {
  try {
    return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
};

/** `claude --version` through the installed wrapper: proves the platform binary came along too. */
const probe = () => {
  if (!existsSync(bin)) return undefined;
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

const log = (s) => process.stderr.write(`install-claude: ${s}\n`);

let have = installedVersion() === version ? probe() : undefined;
if (!have) {
  mkdirSync(dir, { recursive: true });
  log(`installing @anthropic-ai/claude-code@${version} into ${dir} (about 360 MB, once)`);
  const t0 = Date.now();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(
    npm,
    ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel', 'error', `@anthropic-ai/claude-code@${version}`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.error || r.status !== 0) {
    log(`npm install failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(1);
  }
  have = probe();
  if (!have) {
    log(`installed, but '${bin} --version' does not run (is there a build of @anthropic-ai/claude-code for ${process.platform}-${process.arch}?)`);
    process.exit(1);
  }
  log(`installed ${have} in ${Math.round((Date.now() - t0) / 1000)} s`);
} else {
  log(`${have} already in ${dir}`);
}
process.stdout.write(`${bin}\n`);
