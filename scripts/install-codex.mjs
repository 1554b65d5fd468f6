#!/usr/bin/env node
// Installs the real Codex CLI (npm `@openai/codex`) for the opt-in end-to-end
// test (`npm run test:codex`), into a cache folder outside node_modules: it is
// ~420 MB (a native binary per platform), so it is never a dependency of the
// package. Installs only when the pinned version is not already there; prints
// the path of the `codex` executable on stdout (progress goes to stderr).
//
//   node scripts/install-codex.mjs            # <repo>/.cache/codex
//   DISPATCH_CODEX_CACHE=/somewhere node scripts/install-codex.mjs
//   DISPATCH_CODEX_VERSION=0.171.0 ...        # another version (default: the pin below)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Codex CLI dispatch is tested against (REAL-TOOLS.md: "current 0.171.x"). */
export const CODEX_VERSION = '0.171.0';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const version = process.env.DISPATCH_CODEX_VERSION || CODEX_VERSION;
const dir = resolve(process.env.DISPATCH_CODEX_CACHE || join(root, '.cache', 'codex'));
const pkgDir = join(dir, 'node_modules', '@openai', 'codex');
const bin = join(dir, 'node_modules', '.bin', process.platform === 'win32' ? 'codex.cmd' : 'codex');

const installedVersion = () => {
  try {
    return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
};

/** `codex --version` through the installed wrapper: proves the platform binary came along too. */
const probe = () => {
  if (!existsSync(bin)) return undefined;
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

const log = (s) => process.stderr.write(`install-codex: ${s}\n`);

let have = installedVersion() === version ? probe() : undefined;
if (!have) {
  mkdirSync(dir, { recursive: true });
  log(`installing @openai/codex@${version} into ${dir} (about 420 MB, once)`);
  const t0 = Date.now();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(
    npm,
    ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel', 'error', `@openai/codex@${version}`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.error || r.status !== 0) {
    log(`npm install failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(1);
  }
  have = probe();
  if (!have) {
    log(`installed, but '${bin} --version' does not run (is there a build of @openai/codex for ${process.platform}-${process.arch}?)`);
    process.exit(1);
  }
  log(`installed ${have} in ${Math.round((Date.now() - t0) / 1000)} s`);
} else {
  log(`${have} already in ${dir}`);
}
process.stdout.write(`${bin}\n`);
