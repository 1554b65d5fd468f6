import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';

interface CacheIndex {
  config: string;
  output: string;
  inputs: { path: string; mtimeMs: number; size: number }[];
}

// `import { defineConfig } from 'dispatch'` must work even where the package
// is not installed next to the config (global install, npx), so it is virtual.
const VIRTUAL = 'export const defineConfig = (c) => c;\nexport default { defineConfig };\n';

/** Where compiled configs are cached: beside the config so its node_modules still resolve. */
export function cacheDirFor(configPath: string): string {
  return join(dirname(configPath), '.codex', 'cache');
}

/**
 * Imports a JS/TS config and returns its default export. TypeScript is
 * bundled once with esbuild and cached; later runs only stat the inputs, so
 * loading the config costs an import, not a compiler start.
 */
export async function importConfigModule(configPath: string): Promise<unknown> {
  const cacheDir = cacheDirFor(configPath);
  const indexPath = join(cacheDir, `${basename(configPath)}.index.json`);
  let outFile = freshCachedOutput(indexPath, configPath, cacheDir);
  if (!outFile) outFile = await compile(configPath, cacheDir, indexPath);
  let mod: any;
  try {
    mod = await import(pathToFileURL(outFile).href);
  } catch (err) {
    const e = err as Error;
    throw new ConfigError(`${configPath} failed to load: ${firstLine(e.message)}`, {
      hint: 'fix the error in the config file (DISPATCH_DEBUG=1 shows the stack)',
    });
  }
  const value = mod.default ?? mod.config;
  if (value === undefined) {
    throw new ConfigError(`${configPath} has no default export`, { hint: 'end it with: export default defineConfig({ ... })' });
  }
  return typeof value === 'function' ? await value() : value;
}

function freshCachedOutput(indexPath: string, configPath: string, cacheDir: string): string | undefined {
  let index: CacheIndex;
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch {
    return undefined;
  }
  if (index.config !== configPath) return undefined;
  for (const input of index.inputs) {
    try {
      const st = statSync(input.path);
      if (st.mtimeMs !== input.mtimeMs || st.size !== input.size) return undefined;
    } catch {
      return undefined;
    }
  }
  return join(cacheDir, index.output);
}

async function compile(configPath: string, cacheDir: string, indexPath: string): Promise<string> {
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
      const details = errors.map((m) =>
        m.location ? `${resolve(dirname(configPath), m.location.file)}:${m.location.line}:${m.location.column + 1}: ${m.text}` : m.text,
      );
      throw new ConfigError(`${configPath} failed to compile (${details[0]})`, {
        hint: 'fix the syntax error at that position',
        details: details.slice(1),
      });
    }
    throw err;
  }
  const code = result.outputFiles[0].text;
  const hash = createHash('sha1').update(code).digest('hex').slice(0, 12);
  const output = `${basename(configPath)}.${hash}.mjs`;
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.startsWith('dispatch-virtual:'))
    .map((p) => {
      const abs = resolve(dirname(configPath), p);
      const st = statSync(abs);
      return { path: abs, mtimeMs: st.mtimeMs, size: st.size };
    });
  try {
    mkdirSync(cacheDir, { recursive: true });
    const outPath = join(cacheDir, output);
    writeAtomic(outPath, code);
    writeAtomic(indexPath, JSON.stringify({ config: configPath, output, inputs } satisfies CacheIndex));
    pruneOldOutputs(cacheDir, basename(configPath), output);
    return outPath;
  } catch {
    // Read-only project: fall back to a per-user temp copy (bare imports may then fail, but rarely matter).
    const tmp = join((await import('node:os')).tmpdir(), `dispatch-config-${hash}.mjs`);
    writeFileSync(tmp, code);
    return tmp;
  }
}

// Old compiled copies are removed once they are surely unused (another process may still be importing one).
function pruneOldOutputs(cacheDir: string, base: string, keep: string): void {
  const cutoff = Date.now() - 60_000;
  for (const f of readdirSync(cacheDir)) {
    if (f === keep || !f.startsWith(`${base}.`) || !f.endsWith('.mjs')) continue;
    try {
      if (statSync(join(cacheDir, f)).mtimeMs < cutoff) rmSync(join(cacheDir, f), { force: true });
    } catch {
      // already gone
    }
  }
}

function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

