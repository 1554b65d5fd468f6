// The command's entry (dist/cli.js, CommonJS): runs the bundled CLI
// (dist/dispatch.cjs) through a V8 code cache, so a command does not spend
// ~14 ms compiling the bundle every time it starts (Node 20 has no
// module.enableCompileCache; vm.Script's cachedData is the way there).
//
// A code cache is code: V8 runs what it holds and, in release builds, checks
// only that the source has the same length (not its content). So a cache is
// used only when it provably belongs to this bundle and to this user:
// - it lives in the user's private cache folder (src/util/private-cache.ts),
//   never in the install folder, and is read only when the file is ours and
//   nobody else may write it (another user cannot plant one);
// - its header names the build, Node, arch, the SHA-256 of the bundle it was
//   made from and the SHA-256 of its own body, all checked before V8 sees a
//   byte (a damaged cache, which V8 may crash on, is never handed to it).
// Anything else is compiled from source in silence and the cache made again
// when the command ends. One cache per verb (`status` keeps the functions
// `status` ran). DISPATCH_CODE_CACHE=0 turns it off.
import { createHash } from 'node:crypto';
import { openSync, closeSync, writeSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { privateCacheDir, readOwnFile } from './util/private-cache.js';

declare const __dirname: string;

const BUNDLE = join(__dirname, 'dispatch.cjs');
/** Far above any real cache (about 0.4 MB): a bigger file is not one of ours. */
const MAX_CACHE = 64 * 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The verb names the cache: the first word that can be a verb's name, past options and their
 * values (`--config ./x.json exec-spec 001`: the runner's own). Anything else shares one. A
 * cache made by another verb still works, only with fewer functions ready.
 */
function verbOf(argv: string[]): string {
  return argv.slice(2).find((a) => /^[a-z][a-z-]{0,23}$/.test(a)) ?? 'other';
}

/** The cache's body when its header vouches for this bundle and for the body itself. */
function readCache(file: string, head: string): Buffer | undefined {
  const b = readOwnFile(file, MAX_CACHE);
  if (!b || b.subarray(0, head.length).toString('latin1') !== head) return undefined;
  const nl = b.indexOf(10, head.length);
  if (nl !== head.length + 64) return undefined;
  const body = b.subarray(nl + 1);
  return sha256(body) === b.subarray(head.length, nl).toString('latin1') ? body : undefined;
}

/** Written whole and private (a temp file of ours renamed over the old one). */
function writeCache(file: string, head: string, body: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, Buffer.concat([Buffer.from(`${head}${sha256(body)}\n`, 'latin1'), body]));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
  }
}

const bundle = readFileSync(BUNDLE);
// ASCII, as the build checks: read as Latin-1, the source needs no decoding and stays one byte per character.
const source = `(function (exports, require, module, __filename, __dirname, __dispatch_import) {${bundle.toString('latin1')}\n})`;
const dir = process.env.DISPATCH_CODE_CACHE === '0' ? undefined : privateCacheDir();
const file = dir && join(dir, `${process.env.DISPATCH_BUILD}-${process.version}-${process.arch}-${verbOf(process.argv)}.v8`);
const head = `dispatch-v8-cache ${process.env.DISPATCH_BUILD} ${process.version} ${process.arch} ${sha256(bundle)} `;
const cachedData = file ? readCache(file, head) : undefined;
let script: Script;
try {
  script = new Script(source, { filename: BUNDLE, ...(cachedData ? { cachedData } : {}) });
} catch {
  script = new Script(source, { filename: BUNDLE });
}
if (file && (!cachedData || script.cachedDataRejected)) {
  // Made as the command ends, the cache holds every function the command compiled, not only the top level.
  process.once('exit', () => {
    try {
      writeCache(file, head, script.createCachedData());
      pruneBuilds(dir!);
    } catch {
      // no cache this time
    }
  });
}

/** Builds whose caches are kept: this one and the latest others (two installs side by side never evict each other). */
const KEEP_BUILDS = 4;

/**
 * Caches of older builds, beyond the latest few, removed (each build leaves ~0.4 MB per verb, and every upgrade
 * or rebuild is a new build). Only `*.v8` files in dispatch's own private folder, by the name dispatch gave them.
 */
function pruneBuilds(cacheDir: string): void {
  const builds = new Map<string, { newest: number; files: string[] }>();
  for (const name of readdirSync(cacheDir)) {
    const m = /^(.+?)-v\d+\.\d+\.\d+-[a-z0-9]+-[a-z-]+\.v8$/.exec(name);
    if (!m || m[1] === process.env.DISPATCH_BUILD) continue;
    let mtime = 0;
    try {
      mtime = statSync(join(cacheDir, name)).mtimeMs;
    } catch {
      continue;
    }
    const b = builds.get(m[1]!) ?? { newest: 0, files: [] };
    b.newest = Math.max(b.newest, mtime);
    b.files.push(name);
    builds.set(m[1]!, b);
  }
  const old = [...builds.values()].sort((a, b) => b.newest - a.newest).slice(KEEP_BUILDS - 1);
  for (const b of old) for (const f of b.files) rmSync(join(cacheDir, f), { force: true });
}
const mod = { exports: {} };
// The bundle's import() calls (ESM-only dependencies, the compiled config) come here: a vm.Script has no
// module loader of its own on Node 20 but an experimental one that warns on the user's terminal.
const dynamicImport = (specifier: string) => import(specifier);
(script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, createRequire(BUNDLE), mod, BUNDLE, __dirname, dynamicImport);
