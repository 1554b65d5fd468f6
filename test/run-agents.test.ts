// dispatch run with the built-in agents: the exact Codex and Auto-Claude command lines, how
// their output becomes a verdict, and hostile spec names reaching an agent as literal strings.
// Real runners and stand-in agents (test/fixtures/agents, test/fixtures/auto-claude).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, readStateOf, ROOT, tempDir, dispatchIn } from './helpers.js';
import { commitAll } from './fixtures/git.js';
import {
  AGENTS,
  FAKE_CODEX,
  NODE,
  configPathOf,
  
  engineProject,
  
  
  
  
  logOf,
  
  
  
  shown,
  
  
  starts,
  
  
  tracePath,
  track,
  
} from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');

describe('run: the codex agent', () => {
  const codexProject = (specs: { id: string; name: string; cost?: number; body?: string }[], codex: Record<string, unknown> = {}) =>
    engineProject({
      specs: specs.map((s) => ({ wave: 1, agent: 'codex', ...s })),
      agents: { codex: { bin: FAKE_CODEX, env: { CODEX_FAKE_TRACE: '' }, ...codex } },
    });
  const codexTrace = (dir: string) => (existsSync(join(dir, 'codex.jsonl')) ? readFileSync(join(dir, 'codex.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  const withTrace = (dir: string) => {
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.codex.env.CODEX_FAKE_TRACE = join(dir, 'codex.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    return dir;
  };

  it('gets exactly `exec -s workspace-write -m <model> -c model_reasoning_effort=<effort> --json -o <file> -` and the prompt on stdin', async () => {
    const dir = withTrace(codexProject([
      { id: '001', name: 'one', cost: 1, body: 'write out/one.txt 1\n' },
      { id: '002', name: 'four', cost: 4, body: 'write out/four.txt 4\n' },
    ]));
    writeFileSync(join(dir, '.auto-claude/specs/002-four/plan.md'), '1. write the file\n');
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const calls = codexTrace(dir);
    const of = (id: string) => calls.find((c) => c.id === id)!;
    expect(of('001').argv).toEqual(['exec', '-s', 'workspace-write', '-m', 'gpt-5.3-codex', '-c', 'model_reasoning_effort=low', '--json', '-o', join(dir, '.codex/runs/001/last-message.md'), '-']);
    expect(of('002').argv).toContain('model_reasoning_effort=xhigh');
    expect(of('001').cwd).toBe(dir);
    // spec.md, then plan.md when there is one.
    expect(of('001').prompt).toBe('# Spec 001: one\n\nwrite out/one.txt 1\n');
    expect(of('002').prompt).toMatch(/^# Spec 002: four\n\nwrite out\/four.txt 4\n\n---\n\n# Implementation plan[^\n]*\n\n1\. write the file\n$/);
    expect(readFileSync(join(dir, '.codex/runs/001/last-message.md'), 'utf8')).toBe('Done with spec 001.\n');
    expect(readFileSync(join(dir, 'out/four.txt'), 'utf8')).toBe('4\n');
    // The JSONL stream is in the log.
    expect(readFileSync(logOf(dir, '001'), 'utf8')).toContain('{"type":"turn.completed"');
  });

  it('a failed turn (exit 1) keeps codex\'s message as the reason', async () => {
    const dir = codexProject([{ id: '001', name: 'nomodel', body: 'codex-fail The model x does not exist\n' }]);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  failed 001: turn.failed: The model x does not exist\n');
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe('turn.failed: The model x does not exist');
  });

  it('extraArgs reach codex; one it rejects (the removed --full-auto) fails the spec with codex\'s error', async () => {
    const dir = codexProject([{ id: '001', name: 'x', body: 'write out/x.txt x\n' }], { extraArgs: ['--full-auto'] });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    const reason = readStateOf(dir).dispatch.specs['001'].reason as string;
    // The error line, not clap's closing "For more information, try '--help'.".
    expect(reason).toBe("agent exited with code 2: error: unexpected argument '--full-auto' found");
    expect(existsSync(join(dir, 'out/x.txt'))).toBe(false);
  });

  it('a missing codex binary is named before anything launches, with how to install it', async () => {
    const bin = join(tempDir(), 'no-codex-here');
    const dir = codexProject([{ id: '001', name: 'x' }], { bin });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([`dispatch: '${bin}' is not an executable file (used by 001) — npm install -g @openai/codex, or set agents.codex.bin`]);
    expect(readStateOf(dir)).toBeUndefined();
  });
});

describe('run: the Auto-Claude agent', () => {
  /** The stand-in Auto-Claude checkout (test/fixtures/auto-claude): run.py behaves as v2.7.5's does where dispatch depends on it. */
  const fakeAutoClaude = () => join(ROOT, 'test', 'fixtures', 'auto-claude');
  const acTrace = (dir: string) => readFileSync(join(dir, 'ac.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

  it('runs run.py --spec <id> --project-dir <project> --auto-continue --direct|--isolated [extra] with stdin from /dev/null', async () => {
    const acDir = fakeAutoClaude();
    const dir = engineProject({
      specs: [{ id: '001', name: 'direct', wave: 1, agent: 'ac' }, { id: '002', name: 'iso', wave: 1, agent: 'ac', mode: 'isolated' }],
      agents: { ac: { python: NODE, dir: acDir, extraArgs: ['--model', 'opus'], env: { AC_TRACE: '' } } },
    });
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.ac.env.AC_TRACE = join(dir, 'ac.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    // Auto-Claude's --isolated builds in a git worktree of its own: the project must have a commit.
    commitAll(dir, ['ac.jsonl']);
    const runPy = join(acDir, 'apps', 'backend', 'run.py');
    const dry = await run(dir, 'run', '--dry-run');
    expect(dry.stdout).toContain(`    agent: ${shown([NODE, runPy, '--spec', '001-direct', '--project-dir', dir, '--auto-continue', '--direct', '--force', '--model', 'opus'])}\n`);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const calls = acTrace(dir).sort((a, b) => a.argv[1].localeCompare(b.argv[1]));
    expect(calls.map((c) => c.argv)).toEqual([
      ['--spec', '001-direct', '--project-dir', dir, '--auto-continue', '--direct', '--force', '--model', 'opus'],
      // Auto-Claude isolates itself: no dispatch worktree.
      ['--spec', '002-iso', '--project-dir', dir, '--auto-continue', '--isolated', '--force', '--model', 'opus'],
    ]);
    expect(calls.every((c) => c.cwd === dir && c.stdin === '')).toBe(true);
    expect(readStateOf(dir).completed.sort()).toEqual(['001', '002']);
    expect(existsSync(join(dir, '.codex', 'worktrees'))).toBe(false);
  });

  it('an isolated Auto-Claude spec awaits merge; `dispatch merge` calls its --merge, then the next wave may start', async () => {
    const acDir = fakeAutoClaude();
    const dir = engineProject({
      specs: [{ id: '001', name: 'iso', wave: 1, agent: 'ac', mode: 'isolated' }, { id: '002', name: 'next', wave: 2, dependsOn: ['001'] }],
      agents: { ac: { python: NODE, dir: acDir, env: { AC_TRACE: '' } } },
    });
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.ac.env.AC_TRACE = join(dir, 'ac.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    commitAll(dir, ['ac.jsonl']);
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr).at(-1)).toMatch(/^dispatch: wave 2 cannot start: 001 \(wave 1: awaiting merge\) — merge isolated specs with 'dispatch merge <id>'/);
    expect(starts(dir)).toEqual([]);
    const m = await run(dir, 'merge', '001');
    expect(m.code, m.stderr).toBe(0);
    expect(acTrace(dir).at(-1).argv).toEqual(['--spec', '001-iso', '--project-dir', dir, '--merge']);
    expect(readStateOf(dir).dispatch.specs['001'].awaitingMerge).toBeUndefined();
    const next = await run(dir, 'run', '--yes', '--no-plan');
    expect(next.code, next.stderr).toBe(0);
    expect(starts(dir).map((e) => e.id)).toEqual(['002']);
  });

  it('a failing run.py fails the spec with its error line', async () => {
    const dir = engineProject({
      specs: [{ id: '001', name: 'x', wave: 1, agent: 'ac' }],
      agents: { ac: { python: NODE, dir: fakeAutoClaude(), env: { AC_FAIL: 'Error: No OAuth token found' } } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    // Auto-Claude prints its errors on stdout (print()): the reason comes from there.
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe('agent exited with code 1: Error: No OAuth token found');
  });

  it('passes --force by default (the spec table is the approval); agents.ac.force false lets its review block the build', async () => {
    const specs = [{ id: '001', name: 'x', wave: 1, agent: 'ac' }];
    const ok = engineProject({ specs, agents: { ac: { python: NODE, dir: fakeAutoClaude() } } });
    expect((await run(ok, 'run', '--yes', '--no-plan')).code).toBe(0);
    const blocked = engineProject({ specs, agents: { ac: { python: NODE, dir: fakeAutoClaude(), force: false } }, extra: { retry: { maxAttempts: 1 } } });
    expect((await run(blocked, 'run', '--yes', '--no-plan')).code).toBe(1);
    expect(readStateOf(blocked).dispatch.specs['001'].reason).toMatch(/^agent exited with code 1: .*--force/);
  });

  it('--spec gets the exact folder: with 090-alpha and 090-zeta present, spec 090-zeta builds 090-zeta', async () => {
    const dir = engineProject({
      specs: [{ id: '090', name: 'zeta', wave: 1, agent: 'ac' }],
      agents: { ac: { python: NODE, dir: fakeAutoClaude(), env: { AC_TRACE: '' } } },
    });
    mkdirSync(join(dir, '.auto-claude', 'specs', '090-alpha'));
    writeFileSync(join(dir, '.auto-claude', 'specs', '090-alpha', 'spec.md'), '# alpha\n');
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    cfg.agents.ac.env.AC_TRACE = join(dir, 'ac.jsonl');
    writeFileSync(configPathOf(dir), JSON.stringify(cfg));
    expect((await run(dir, 'run', '--yes', '--no-plan')).code).toBe(0);
    expect(acTrace(dir)[0].argv.slice(0, 2)).toEqual(['--spec', '090-zeta']);
    expect(existsSync(join(dir, '.auto-claude', 'specs', '090-zeta', 'implementation_plan.json'))).toBe(true);
    expect(existsSync(join(dir, '.auto-claude', 'specs', '090-alpha', 'implementation_plan.json'))).toBe(false);
  });

  it("exits 0 without QA's sign-off: that is verify-failed, with QA's reason; a build whose QA never ran is too", async () => {
    for (const [qa, expected] of [
      ['rejected', "Auto-Claude's QA did not sign the work off (qa_signoff.status: rejected): login form accepts an empty password"],
      ['none', "Auto-Claude's QA did not sign the work off (qa_signoff.status: missing)"],
    ] as const) {
      const dir = engineProject({
        specs: [{ id: '001', name: 'x', wave: 1, agent: 'ac' }],
        agents: { ac: { python: NODE, dir: fakeAutoClaude(), env: { AC_QA: qa, AC_QA_ISSUE: 'login form accepts an empty password' } } },
        extra: { retry: { maxAttempts: 1 } },
      });
      const r = await run(dir, 'run', '--yes', '--no-plan');
      expect(r.code, qa).toBe(1);
      const rec = readStateOf(dir).dispatch.specs['001'];
      expect(rec, qa).toMatchObject({ kind: 'verify-failed', reason: expected });
      expect(rec.history[0].qa).toBe(qa === 'none' ? 'missing' : qa);
    }
  });

  it('an ac spec with a specsDir other than .auto-claude/specs is a config error (exit 2)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'x', wave: 1, agent: 'ac' }], extra: { specsDir: 'specs' } });
    const r = await run(dir, 'list');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"ac" reads its specs only from \.auto-claude\/specs, but specsDir is "specs"/);
  });
});

describe('spec names reach the agent as literal strings, never through a shell', () => {
  const NASTY = `it's "quoted" $(touch pwned); echo owned > owned \`touch pwned\``;

  it('a name with spaces, quotes, $() and ; in a folder whose path has them too', async () => {
    const parent = tempDir(`dispatch test $(touch pwned); 'q" `);
    const dir = engineProject({
      dir: parent,
      specs: [{ id: '001', name: NASTY, wave: 1, agent: 'echo', body: 'write out/ok.txt fine\n' }],
      agents: { echo: { command: [NODE, join(AGENTS, 'succeed.mjs'), tracePath(parent), '{specFile}', '{name}', '{id}', '{cwd}', '{specDir}', 'x {name} y'], prompt: 'stdin' } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const s = starts(dir)[0]!;
    const specDir = join(dir, '.auto-claude', 'specs', `001-${NASTY}`);
    expect(s.argv).toEqual([tracePath(dir), join(specDir, 'spec.md'), NASTY, '001', dir, specDir, `x ${NASTY} y`]);
    expect(s.stdin).toBe(`# Spec 001: ${NASTY}\n\nwrite out/ok.txt fine\n`);
    expect(readFileSync(join(dir, 'out/ok.txt'), 'utf8')).toBe('fine\n');
    for (const where of [dir, tmpdir(), ROOT, homedir(), process.cwd()]) {
      expect(existsSync(join(where, 'pwned')), where).toBe(false);
      expect(existsSync(join(where, 'owned')), where).toBe(false);
    }
  });

  it('an id with shell characters is refused by the config (exit 2) and runs nothing', async () => {
    const dir = track(makeProject({ format: 'json', specs: [{ id: '001;touch pwned', name: 'x', wave: 1, agent: 'codex' }], extra: { multiplexer: 'headless' } }));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/specs\[0\]\.id/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    expect(readStateOf(dir)).toBeUndefined();
  });
});
