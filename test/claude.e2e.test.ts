// End to end against the REAL Claude Code CLI (npm @anthropic-ai/claude-code,
// installed on demand into .cache/claude by scripts/install-claude.mjs):
// `dispatch run` launches the real `claude -p --output-format stream-json` in
// headless panes, pointed by ANTHROPIC_BASE_URL at a local stand-in of the
// Messages API (test/fixtures/fake-messages.mjs, server-sent events).
// Opt-in, as the binary is ~360 MB: `npm run test:claude`, or
// DISPATCH_E2E_CLAUDE=1 npx vitest run test/claude.e2e.test.ts
// (DISPATCH_CLAUDE_BIN=/path/to/claude skips the install step).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeMessages, userText } from './fixtures/fake-messages.mjs';
import { dispatchAsync, makeProject, readStateOf, ROOT, tempDir, type SpecRowInput } from './helpers.js';

const E2E = process.env.DISPATCH_E2E_CLAUDE === '1';

function claudeBin(): string {
  if (process.env.DISPATCH_CLAUDE_BIN) return process.env.DISPATCH_CLAUDE_BIN;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'install-claude.mjs')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/install-claude.mjs failed (exit ${r.status})`);
  return r.stdout.trim().split('\n').at(-1)!;
}

describe.skipIf(!E2E)('dispatch runs the real Claude Code CLI (against a local Messages API)', () => {
  let bin = '';
  let version = '';
  let fake: Awaited<ReturnType<typeof startFakeMessages>>;

  beforeAll(async () => {
    bin = claudeBin();
    const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    expect(v.status, v.stderr).toBe(0);
    version = v.stdout.trim();
    fake = await startFakeMessages();
  }, 15 * 60_000);
  afterAll(async () => {
    await fake?.close();
  });

  function project(specs: SpecRowInput[], texts: Record<string, string>, extra: Record<string, unknown> = {}): string {
    const dir = makeProject({
      specs,
      extra: {
        ...extra,
        multiplexer: 'headless',
        pacing: { cooldownSeconds: { 1: 0, 2: 0, 3: 0, 4: 0 } },
        agents: {
          claude: {
            bin,
            model: { 3: 'claude-opus-test' },
            // Its own settings and sessions; any key (the local server checks none).
            env: { ANTHROPIC_BASE_URL: fake.baseUrl, ANTHROPIC_API_KEY: 'sk-test', CLAUDE_CONFIG_DIR: tempDir('dispatch-claude-home-') },
          },
        },
      },
    });
    for (const s of specs) if (texts[s.id] !== undefined) writeFileSync(join(dir, '.auto-claude', 'specs', `${s.id}-${s.name}`, 'spec.md'), texts[s.id]!);
    return dir;
  }
  const requestsFor = (marker: string) => fake.state.requests.filter((r) => userText(r.body).includes(marker));
  const log = (dir: string, id: string) => readFileSync(join(dir, '.codex', 'logs', `${id}.log`), 'utf8');

  it('writes a file through its Write tool (acceptEdits) and is done; tokens, cost, model and effort recorded and sent', async () => {
    const dir = project([{ id: '001', name: 'write', wave: 1, cost: 3, agent: 'claude' }], {});
    writeFileSync(join(dir, '.auto-claude', 'specs', '001-write', 'spec.md'), `Write the file.\nFAKE_WRITE ${join(dir, 'out.txt')} written by claude 4c1e\n`);
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    expect(r.code, `${r.stdout}\n${r.stderr}\n${log(dir, '001')}`).toBe(0);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).toBe('written by claude 4c1e\n');
    const st = readStateOf(dir);
    expect(st.completed).toEqual(['001']);
    const h = st.dispatch.specs['001'].history[0];
    expect(h.tokens.input).toBeGreaterThan(0);
    expect(h.tokens.output).toBeGreaterThan(0);
    expect(h.tokens.total).toBe(h.tokens.input + h.tokens.output);
    expect(typeof h.costUsd).toBe('number');
    // What it sent: dispatch's prompt, the model and effort by cost, streamed.
    const reqs = requestsFor('written by claude 4c1e');
    expect(reqs.length).toBeGreaterThanOrEqual(2);
    expect(reqs[0]!.body.model).toBe('claude-opus-test');
    expect(reqs[0]!.body.stream).toBe(true);
    expect(userText(reqs[0]!.body)).toContain('# Spec 001: write');
    expect(log(dir, '001')).toMatch(/"type":"result"/);
    console.log(`claude e2e: ${version}`);
  }, 120_000);

  it('an API error is a failure with its words; a credit balance too low is quota', async () => {
    const dir = project(
      [{ id: '010', name: 'toolong', wave: 1, cost: 1, agent: 'claude' }, { id: '011', name: 'credit', wave: 1, cost: 1, agent: 'claude' }],
      { '010': 'Build it.\nFAKE_400\n', '011': 'Build it.\nFAKE_CREDIT\n' },
      { retry: { maxAttempts: 1 } },
    );
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    expect(r.code).toBe(1);
    const st = readStateOf(dir);
    expect(st.failed.sort()).toEqual(['010', '011']);
    expect(st.dispatch.specs['010'].kind).toBe('agent-failed');
    expect(st.dispatch.specs['010'].reason).toMatch(/^error result: Prompt is too long/);
    expect(st.dispatch.specs['011'].kind).toBe('quota-exhausted');
    expect(st.dispatch.specs['011'].reason).toMatch(/credit balance is too low/i);
  }, 120_000);

  it('a 429 storm: the agent waits and retries by itself, and its work is done, one attempt', async () => {
    const dir = project([{ id: '020', name: 'storm', wave: 1, cost: 1, agent: 'claude' }], {});
    writeFileSync(join(dir, '.auto-claude', 'specs', '020-storm', 'spec.md'), `Write the file.\nFAKE_STORM 3\nFAKE_WRITE ${join(dir, 'storm.txt')} after the storm\n`);
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan']);
    expect(r.code, `${r.stdout}\n${r.stderr}\n${log(dir, '020')}`).toBe(0);
    expect(readFileSync(join(dir, 'storm.txt'), 'utf8')).toBe('after the storm\n');
    expect(log(dir, '020')).toMatch(/"subtype":"api_retry".*"error_status":429/);
    const st = readStateOf(dir);
    expect(st.completed).toEqual(['020']);
    expect(st.dispatch.specs['020'].history).toHaveLength(1);
  }, 120_000);
});
