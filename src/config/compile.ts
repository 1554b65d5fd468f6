import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { ConfigError, FsError } from '../errors.js';
import { writeFileAtomic } from '../util/write-atomic.js';
import { readCacheFile, seal, sha256, unseal } from './cache-seal.js';
import { isGuardedDir } from '../util/private-cache.js';

// A cache written by another build of dispatch may follow other rules.
/** Names this build of dispatch: caches made by another build are not used. */
export const BUILD = process.env.DISPATCH_BUILD ?? 'dev';

/**
 * What tells an input unchanged. ctime and the inode too: an edit that keeps the size and puts the
 * mtime back (`touch -d`, `cp -p`, tar, rsync -t) still moves the ctime, which no tool can set.
 */
interface InputStamp {
  path: string;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  size: number;
}
const stampOf = (path: string): InputStamp => {
  const st = statSync(path);
  return { path, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, size: st.size };
};

/** Sealed (src/config/cache-seal.ts): only an index this user's dispatch wrote is read. */
interface CacheIndex {
  build: string;
  config: string;
  output: string;
  /** SHA-256 of the compiled module: checked before it is imported. */
  outputSha256: string;
  hash: string;
  isStatic: boolean;
  /** Every file the compiled module was built from, the config first. */
  inputs: InputStamp[];
}

// `import { defineConfig } from 'dispatch'` must work even where the package
// is not installed next to the config (global install, npx), so it is virtual.
const VIRTUAL = 'export const defineConfig = (c) => c;\nexport default { defineConfig };\n';

/** Where compiled configs are cached: beside the config so its node_modules still resolve. */
export function cacheDirFor(configPath: string): string {
  return join(dirname(configPath), '.codex', 'cache');
}

export interface CompiledConfig {
  /** The compiled ES module to import. */
  file: string;
  /** Content hash of the compiled code. */
  hash: string;
  /**
   * The module only builds literals (no imports, no environment, no clock),
   * so its validated result can be cached too.
   */
  isStatic: boolean;
  /** Removes a private temp copy once imported (a read-only project's). */
  cleanup?: () => void;
  /** Set for a module taken from the cache: what its bytes must hash to before it is imported. */
  sha256?: string;
}

/**
 * Bundles a JS/TS config once with esbuild and caches it; later runs only
 * stat the inputs, so loading costs an import, not a compiler start.
 */
export async function compileConfig(configPath: string): Promise<CompiledConfig> {
  const cacheDir = cacheDirFor(configPath);
  const indexPath = join(cacheDir, `${basename(configPath)}.index.json`);
  return freshCachedOutput(indexPath, configPath, cacheDir) ?? (await compile(configPath, cacheDir, indexPath));
}

/** Imports the compiled module and returns the config object it exports. */
export async function importCompiled(configPath: string, compiled: CompiledConfig): Promise<unknown> {
  if (compiled.sha256 !== undefined) {
    const cacheDir = dirname(compiled.file);
    const code = readCacheFile(cacheDir, basename(compiled.file));
    // Not the bytes that were compiled (edited, replaced, unreadable): compiled afresh instead.
    if (!code || sha256(code) !== compiled.sha256) compiled = await compile(configPath, cacheDir, join(cacheDir, `${basename(configPath)}.index.json`));
  }
  let mod: { default?: unknown; config?: unknown };
  try {
    mod = await import(pathToFileURL(compiled.file).href);
  } catch (err) {
    const e = err as Error;
    throw new ConfigError(`${configPath} failed to load: ${firstLine(e.message)}`, {
      hint: 'fix the error in the config file (DISPATCH_DEBUG=1 shows the stack)',
    });
  } finally {
    compiled.cleanup?.();
  }
  const value = mod.default ?? mod.config;
  if (value === undefined) {
    throw new ConfigError(`${configPath} has no default export`, { hint: 'end it with: export default defineConfig({ ... })' });
  }
  return typeof value === 'function' ? await value() : value;
}

// Identifiers through which a config could depend on more than its own text.
const DYNAMIC = /\b(import|require|process|globalThis|global|Date|Math|eval|Function|fetch|performance|crypto|Reflect|Proxy|setTimeout|setInterval|await)\b/;

/** True when the compiled code can only evaluate to the same value every time. */
export function looksStatic(code: string): boolean {
  // The virtual `dispatch` module is inlined as `defineConfig = (c) => c`; nothing else may reach outside.
  // String literals are data ("eval-harness" is a name, not a call); template literals stay, they can interpolate.
  const body = code
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""')
    .replace(/^\s*\/\/.*$/gm, '').replace(/\bexport\s*\{[^}]*\}\s*;?/g, '');
  return !DYNAMIC.test(body);
}

/**
 * The cached module, when this user's dispatch made it from the config as it is now: the index is
 * sealed, names this config among its inputs, every input is unchanged, and the module's bytes are
 * the ones compiled. Anything else (planted, edited, from another build or user) is compiled again.
 */
function freshCachedOutput(indexPath: string, configPath: string, cacheDir: string): CompiledConfig | undefined {
  let index: CacheIndex;
  try {
    const text = readCacheFile(cacheDir, basename(indexPath));
    const body = text && unseal(text.toString('utf8'));
    if (body === undefined) return undefined;
    index = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (index.config !== configPath || index.build !== BUILD || index.inputs[0]?.path !== configPath) return undefined;
  for (const input of index.inputs) {
    try {
      const now = stampOf(input.path);
      if (now.mtimeMs !== input.mtimeMs || now.ctimeMs !== input.ctimeMs || now.ino !== input.ino || now.size !== input.size) return undefined;
    } catch {
      return undefined;
    }
  }
  const output = basename(index.output);
  // The module's bytes are checked only when it is imported (importCompiled): a static config is
  // mostly served from its sealed resolved copy, and reading and hashing the module then is wasted.
  return { file: join(cacheDir, output), hash: index.hash, isStatic: index.isStatic, sha256: index.outputSha256 };
}

async function compile(configPath: string, cacheDir: string, indexPath: string): Promise<CompiledConfig> {
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [configPath],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
      absWorkingDir: dirname(configPath),
      plugins: [
        {
          name: 'dispatch-virtual',
          setup(build) {
            build.onResolve({ filter: /^dispatch$/ }, () => ({ path: 'dispatch', namespace: 'dispatch-virtual' }));
            build.onLoad({ filter: /.*/, namespace: 'dispatch-virtual' }, () => ({ contents: VIRTUAL, loader: 'js' }));
          },
        },
      ],
    });
  } catch (err) {
    const errors = (err as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }).errors;
    if (errors?.length) {
      const details = errors.map((m) => {
        // `id: 011` is an octal literal to esbuild: say what the user meant.
        const text = /octal/i.test(m.text) ? `${m.text} — write ids as strings in quotes ('011'); a number loses its leading zeros` : m.text;
        return m.location ? `${resolve(dirname(configPath), m.location.file)}:${m.location.line}:${m.location.column + 1}: ${text}` : text;
      });
      throw new ConfigError(`${configPath} failed to compile (${details[0]})`, {
        hint: 'fix the syntax error at that position',
        details: details.slice(1),
      });
    }
    throw err;
  }
  const code = result.outputFiles[0]!.text;
  const { createHash } = await import('node:crypto');
  const hash = createHash('sha1').update(code).digest('hex').slice(0, 12);
  const isStatic = looksStatic(code);
  const output = `${basename(configPath)}.${hash}.mjs`;
  const paths = Object.keys(result.metafile.inputs)
    .filter((p) => !p.startsWith('dispatch-virtual:'))
    .map((p) => resolve(dirname(configPath), p));
  const inputs = [configPath, ...paths.filter((p) => p !== configPath)].map(stampOf);
  try {
    mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
    // A cache folder others can write: a module written there could be swapped before it is imported.
    if (!isGuardedDir(cacheDir) || !isGuardedDir(dirname(cacheDir))) return privateCopy(code, hash);
    const outPath = join(cacheDir, output);
    // A cache: rebuilt if lost, so no fsync.
    writeFileAtomic(outPath, code, { sync: false });
    // No key (no private cache folder): the module is imported from here this time, never trusted later.
    const index = seal(JSON.stringify({ build: BUILD, config: configPath, output, outputSha256: sha256(code), hash, isStatic, inputs } satisfies CacheIndex));
    if (index !== undefined) writeFileAtomic(indexPath, index, { sync: false });
    pruneOldOutputs(cacheDir, basename(configPath), output);
    return { file: outPath, hash, isStatic };
  } catch {
    return privateCopy(code, hash);
  }
}

/**
 * A read-only project: the module is imported from a folder of its own that mkdtemp makes private
 * (a fixed name in the shared temp folder could be another user's file or symlink), then removed.
 * Bare imports may then fail to resolve, but rarely matter in a config.
 */
function privateCopy(code: string, hash: string): CompiledConfig {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'dispatch-config-'));
    writeFileSync(join(dir, 'specs.config.mjs'), code, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    throw new FsError('write', join(tmpdir(), 'dispatch-config-*'), err as NodeJS.ErrnoException);
  }
  const file = join(dir, 'specs.config.mjs');
  return { file, hash, isStatic: false, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// Old compiled copies are removed once they are surely unused (another process may still be importing one).
function pruneOldOutputs(cacheDir: string, base: string, keep: string): void {
  const cutoff = Date.now() - 60_000;
  for (const f of readdirSync(cacheDir)) {
    if (f.startsWith(keep.replace(/\.mjs$/, '')) || !f.startsWith(`${base}.`) || !/\.(mjs|resolved\.json)$/.test(f)) continue;
    try {
      if (statSync(join(cacheDir, f)).mtimeMs < cutoff) rmSync(join(cacheDir, f), { force: true });
    } catch {
      // already gone
    }
  }
}


function firstLine(s: string): string {
  return s.split('\n')[0] ?? '';
}

