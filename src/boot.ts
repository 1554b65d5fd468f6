// The command's entry (dist/cli.js, CommonJS): runs the bundled CLI
// (dist/dispatch.cjs) through a V8 code cache, so a command does not spend
// ~14 ms compiling the bundle every time it starts (Node 20 has no
// module.enableCompileCache; vm.Script's cachedData is the way there).
//
// One cache per verb (`status` keeps the functions `status` ran, the runner
// its own), each headed by the build, Node and arch it was made for. V8
// checks the rest (source hash, flags) and rejects what does not fit; a
// rejected or missing cache is made again when the command ends. Kept beside
// the bundle, or under $XDG_CACHE_HOME/dispatch when the install folder is
// read-only, or not at all: a cache is never worth a warning or a failure.
// DISPATCH_CODE_CACHE=0 turns it off.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

declare const __dirname: string;

const BUNDLE = join(__dirname, 'dispatch.cjs');
// Replaced at build time: a new build never reads an old build's cache.
const HEADER = `dispatch-v8-cache ${process.env.DISPATCH_BUILD} ${process.version} ${process.arch}\n`;

/**
 * The verb names the cache: the first word that can be a verb's name, past options and their
 * values (`--config ./x.json exec-spec 001`: the runner's own). Anything else shares one. A
 * cache made by another verb still works, only with fewer functions ready.
 */
function verbOf(argv: string[]): string {
  return argv.slice(2).find((a) => /^[a-z][a-z-]{0,23}$/.test(a)) ?? 'other';
}

function places(verb: string): string[] {
  const out = [join(__dirname, '.cache', `${verb}.v8`)];
  const home = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, '.cache') : '');
  // Several installs may share the user's cache folder: there the build names the file.
  if (home.startsWith('/')) out.push(join(home, 'dispatch', `${process.env.DISPATCH_BUILD}-${process.version}-${verb}.v8`));
  return out;
}

function readCache(files: string[]): Buffer | undefined {
  for (const f of files) {
    try {
      const b = readFileSync(f);
      if (b.subarray(0, HEADER.length).toString('latin1') === HEADER) return b.subarray(HEADER.length);
    } catch {
      // none here
    }
  }
  return undefined;
}

/** Writes the cache whole (a temp file renamed over it) at the first place that takes it. */
function writeCache(files: string[], data: Buffer): void {
  for (const f of files) {
    const tmp = `${f}.${process.pid}.tmp`;
    try {
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(tmp, Buffer.concat([Buffer.from(HEADER, 'latin1'), data]), { mode: 0o644 });
      renameSync(tmp, f);
      return;
    } catch {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // its folder is not one (ENOTDIR): nothing was written
      }
    }
  }
}

// ASCII, as the build checks: read as Latin-1, the source needs no decoding and stays one byte per character.
const source = readFileSync(BUNDLE, 'latin1');
const useCache = process.env.DISPATCH_CODE_CACHE !== '0';
const files = useCache ? places(verbOf(process.argv)) : [];
const cachedData = useCache ? readCache(files) : undefined;
const script = new Script(`(function (exports, require, module, __filename, __dirname, __dispatch_import) {${source}\n})`, {
  filename: BUNDLE,
  ...(cachedData ? { cachedData } : {}),
});
if (useCache && (!cachedData || script.cachedDataRejected)) {
  // Made as the command ends, the cache holds every function the command compiled, not only the top level.
  process.once('exit', () => {
    try {
      writeCache(files, script.createCachedData());
    } catch {
      // no cache this time
    }
  });
}
const mod = { exports: {} };
// The bundle's import() calls (ESM-only dependencies, the compiled config) come here: a vm.Script has no
// module loader of its own on Node 20 but an experimental one that warns on the user's terminal.
const dynamicImport = (specifier: string) => import(specifier);
(script.runInThisContext() as (...a: unknown[]) => void)(mod.exports, createRequire(BUNDLE), mod, BUNDLE, __dirname, dynamicImport);
