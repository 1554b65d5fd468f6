// `npm test`: builds, then lints, type-checks and runs the tests side by side (the tests spend
// much of their time waiting on processes they started; lint and types fill the cores meanwhile).
// The tests' output streams as it comes; lint's and the type checker's come whole at the end,
// under their names. Exits non-zero when any of the three fails.
import { spawn } from 'node:child_process';

const bin = (name) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;

function step(name, cmd, args, { live = false } = {}) {
  return new Promise((done) => {
    const child = spawn(cmd, args, { stdio: ['ignore', live ? 'inherit' : 'pipe', live ? 'inherit' : 'pipe'] });
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (out += d));
    child.on('error', (err) => done({ name, code: 1, out: `${out}${err.message}\n` }));
    child.on('close', (code, signal) => done({ name, code: code ?? (signal ? 1 : 0), out }));
  });
}

// The CLI tests run the built bundle: it comes first.
const build = await step('build', process.execPath, [new URL('./build.mjs', import.meta.url).pathname]);
if (build.out.trim()) process.stderr.write(build.out);
if (build.code !== 0) process.exit(build.code);

const results = await Promise.all([
  step('tests', bin('vitest'), ['run', ...process.argv.slice(2)], { live: true }),
  step('lint', bin('eslint'), ['.']),
  step('typecheck', bin('tsc'), ['--noEmit']),
]);
for (const r of results) {
  if (r.out.trim()) process.stderr.write(`── ${r.name}\n${r.out}`);
  process.stderr.write(`${r.name}: ${r.code === 0 ? 'ok' : `failed (exit ${r.code})`}\n`);
}
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
