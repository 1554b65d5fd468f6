// `npm test`'s first step: lint and typecheck side by side (each mostly uses one core),
// then the build the CLI tests run. Each tool's output is shown whole, after it ends, under its name.
import { spawn } from 'node:child_process';

const bin = (name) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;

function step(name, cmd, args) {
  return new Promise((done) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => done({ name, code: 1, out: `${out}${err.message}\n` }));
    child.on('close', (code, signal) => done({ name, code: code ?? (signal ? 1 : 0), out }));
  });
}

const results = await Promise.all([step('lint', bin('eslint'), ['.']), step('typecheck', bin('tsc'), ['--noEmit'])]);
for (const r of results) {
  if (r.out.trim()) process.stderr.write(`── ${r.name}\n${r.out}`);
  if (r.code !== 0) process.stderr.write(`${r.name} failed (exit ${r.code})\n`);
}
if (results.some((r) => r.code !== 0)) process.exit(1);
const build = await step('build', process.execPath, [new URL('./build.mjs', import.meta.url).pathname]);
if (build.out.trim()) process.stderr.write(build.out);
process.exit(build.code);
