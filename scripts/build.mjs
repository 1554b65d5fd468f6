// Bundles the CLI into one ESM file (dist/cli.js) plus the tiny public entry.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // esbuild is a native binary, loaded only to compile a changed TS config.
  external: ['esbuild'],
  define: { 'process.env.DISPATCH_VERSION': JSON.stringify(pkg.version) },
  // CJS dependencies bundled into ESM need a real `require`.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
await build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js' });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js', banner: {} });
