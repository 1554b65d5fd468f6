#!/usr/bin/env node
// A stand-in coding agent for the demo: it reads its prompt (spec.md, then
// plan.md) on stdin and writes every file the spec lists under "### `path`"
// with the fenced block that follows. It takes a moment, like a real agent.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const id = process.env.DISPATCH_SPEC_ID ?? '?';
const delayMs = Number(process.env.DEMO_AGENT_DELAY_MS ?? 1500);
let prompt = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => (prompt += d));
process.stdin.on('end', async () => {
  console.log(`[stand-in agent] spec ${id}: read a ${prompt.length}-character prompt`);
  const files = [...prompt.matchAll(/^### `([^`]+)`\s*\n```[^\n]*\n([\s\S]*?)^```/gm)];
  if (!files.length) {
    console.error(`[stand-in agent] spec ${id}: the spec lists no files to write`);
    process.exit(1);
  }
  for (const [, path, body] of files) {
    const target = resolve(process.cwd(), path);
    if (!target.startsWith(process.cwd())) {
      console.error(`[stand-in agent] refusing to write outside the project: ${path}`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, delayMs / files.length));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, body);
    console.log(`[stand-in agent] wrote ${path}`);
  }
});
