#!/usr/bin/env node
// `npm run demo`: dispatches the example project in examples/demo end to end
// — three waves, headless panes, a stand-in agent that writes the files each
// spec asks for — in a temporary copy, so the repository stays as it was.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'dist', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'dispatch-demo-'));
cpSync(join(root, 'examples', 'demo'), work, { recursive: true });

const bold = (s) => (process.stderr.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s);
const step = (title, args, opts = {}) => {
  process.stderr.write(`\n${bold(`$ ${title}`)}\n`);
  const r = spawnSync(args[0], args.slice(1), { cwd: work, stdio: 'inherit', ...opts });
  return r.status ?? 1;
};

process.stderr.write(`demo project copied to ${work}\n`);
step('dispatch plan', [process.execPath, bin, 'plan']);
// No Ollama here: --no-plan launches without pre-made plans.
const code = step('dispatch run --yes --no-plan', [process.execPath, bin, 'run', '--yes', '--no-plan']);
step('dispatch status', [process.execPath, bin, 'status']);
const tests = step('node --test   # the tests the agents wrote', [process.execPath, '--test']);
process.stderr.write(`\nthe dispatched project stays in ${work} (agent logs in .codex/logs); delete it when done\n`);
process.exitCode = code || tests;
