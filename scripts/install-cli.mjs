// Installs a real agent CLI from npm for an opt-in end-to-end test, into a
// cache folder outside node_modules (each is hundreds of MB with its platform
// binary, so never a dependency of the package). Installs only when the pinned
// version is not already there; prints the path of the executable on stdout
// (progress goes to stderr). Used by install-codex.mjs and install-claude.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @param {{ name: string, pkg: string, version: string, bin: string, size: string, cacheEnv: string, versionEnv: string }} tool
 *   name: the cache folder and log prefix; pkg: the npm package; bin: its executable; size: said while installing.
 */
export function installCli(tool) {
  const version = process.env[tool.versionEnv] || tool.version;
  const dir = resolve(process.env[tool.cacheEnv] || join(root, '.cache', tool.name));
  const pkgDir = join(dir, 'node_modules', ...tool.pkg.split('/'));
  const bin = join(dir, 'node_modules', '.bin', process.platform === 'win32' ? `${tool.bin}.cmd` : tool.bin);
  const log = (s) => process.stderr.write(`install-${tool.name}: ${s}\n`);
  const installedVersion = () => {
    try {
      return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
    } catch {
      return undefined;
    }
  };
  // `<bin> --version` through the installed wrapper: proves the platform binary came along too.
  const probe = () => {
    if (!existsSync(bin)) return undefined;
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  let have = installedVersion() === version ? probe() : undefined;
  if (!have) {
    mkdirSync(dir, { recursive: true });
    log(`installing ${tool.pkg}@${version} into ${dir} (${tool.size}, once)`);
    const t0 = Date.now();
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel', 'error', `${tool.pkg}@${version}`], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.error || r.status !== 0) {
      log(`npm install failed (${r.error ? r.error.message : `exit ${r.status}`})`);
      process.exit(1);
    }
    have = probe();
    if (!have) {
      log(`installed, but '${bin} --version' does not run (is there a build of ${tool.pkg} for ${process.platform}-${process.arch}?)`);
      process.exit(1);
    }
    log(`installed ${have} in ${Math.round((Date.now() - t0) / 1000)} s`);
  } else {
    log(`${have} already in ${dir}`);
  }
  process.stdout.write(`${bin}\n`);
}
