// Bundles the CLI into one CommonJS file (dist/dispatch.cjs), its entry
// (dist/cli.js: the code-cache loader) and the tiny public entry.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// Node builtins imported as ESM each cost a module facade at start-up even
// when only a rarely used verb needs them; as CJS requires they load on first use.
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (a) => (a.kind !== 'require-call' && builtins.has(a.path) ? { path: a.path, namespace: 'builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
  },
};

// commander requires child_process (and with it net and dgram) at load time,
// only to spawn executable subcommands, which dispatch never uses.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (a) =>
      a.kind === 'require-call' && /node_modules[\\/]commander/.test(a.importer) ? { path: 'child_process', namespace: 'lazy-cp' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-cp' }, () => ({
      contents: 'let m; module.exports = new Proxy({}, { get: (_, k) => (m ??= require("node:child_process"))[k] });',
      loader: 'js',
    }));
  },
};

const common = {
  plugins: [lazyChildProcess, lazyBuiltins],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  // DISPATCH_BUILD_PLAIN=1 keeps the names (for reading a CPU profile).
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: !process.env.DISPATCH_BUILD_PLAIN,
  legalComments: 'none',
  // Loaded from node_modules, on first use only: esbuild (a native binary,
  // to compile a changed TS config) and the dependencies of the verbs that
  // launch, plan or draw tables. Bundled, their ~180 KB cost every command
  // ~10 ms of compile time at start-up (measured: status 1.59× → 1.43× node -e 0).
  external: ['esbuild', 'execa', 'ollama', 'cli-table3'],
  define: {
    'process.env.DISPATCH_VERSION': JSON.stringify(pkg.version),
    'process.env.DISPATCH_BUILD': JSON.stringify(`${pkg.version}-${Date.now().toString(36)}`),
    'import.meta.url': '__dispatch_url',
  },
  banner: { js: "'use strict'; const __dispatch_url = require('node:url').pathToFileURL(__filename).href;" },
};
// dist/ is CommonJS: the entry (dist/cli.js) runs the bundle through V8's code cache (src/boot.ts),
// which only a classic script can use on Node 20.
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist');
writeFileSync('dist/package.json', '{ "type": "commonjs" }\n');
await build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/dispatch.cjs' });
// The bundle runs inside a function wrapper, where a #! line is a syntax error, and its import()
// calls go through the loader's own (src/boot.ts): a vm.Script cannot import on Node 20 without a warning.
let imports = 0;
const bundled = readFileSync('dist/dispatch.cjs', 'utf8')
  .replace(/^#!.*\n/, '')
  .replace(/(?<![\w$.])import\(/g, () => (imports++, '__dispatch_import('));
if (imports === 0) throw new Error('build: no import() found in the bundle; is the loader still needed?');
// The loader reads the bundle as Latin-1 (one byte per character, no decoding): one character beyond
// ASCII would be misread there, and beyond Latin-1 would make V8 keep the whole source two bytes wide.
const wide = /[^\x00-\x7f]/.exec(bundled);
if (wide) throw new Error(`build: non-ASCII character in the bundle near ${JSON.stringify(bundled.slice(wide.index - 40, wide.index + 10))}: escape it in the source`);
writeFileSync('dist/dispatch.cjs', bundled);
await build({ ...common, entryPoints: ['src/boot.ts'], outfile: 'dist/cli.js', plugins: [], banner: { js: '#!/usr/bin/env node' } });
chmodSync('dist/cli.js', 0o755);
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js', banner: {} });
