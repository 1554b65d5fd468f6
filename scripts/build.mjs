// Bundles the CLI into one ESM file (dist/cli.js) plus the tiny public entry.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
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
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  minify: !process.env.DISPATCH_BUILD_PLAIN,
  legalComments: 'none',
  // Loaded from node_modules, on first use only: esbuild (a native binary,
  // to compile a changed TS config) and the dependencies of the verbs that
  // launch, plan or draw tables. Bundled, their ~180 KB cost every command
  // ~10 ms of compile time at start-up (measured: status 1.59× → 1.43× node -e 0).
  external: ['esbuild', 'execa', 'ollama', 'cli-table3'],
  define: { 'process.env.DISPATCH_VERSION': JSON.stringify(pkg.version), 'process.env.DISPATCH_BUILD': JSON.stringify(`${pkg.version}-${Date.now().toString(36)}`) },
  // CJS dependencies bundled into ESM need a real `require`.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
await build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js' });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js', banner: {} });
