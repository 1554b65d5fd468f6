// CLI tests: the built bin in temp projects, judged by what a user sees
// (stdout, stderr, exit code) and by the files it leaves (state, journal, signals).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { dispatch, dispatchIn, makeProject, readStateOf, statePathOf, tempDir, type RunResult } from './helpers.js';

const NUSHELL_STATE = '{"completed": ["001", "002"], "failed": [], "skipped": []}';
const VERBS = ['list', 'plan', 'status', 'review', 'mark-done', 'mark-failed', 'skip', 'reset', 'retry', 'lock', 'init'];

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const json = (r: RunResult) => JSON.parse(r.stdout);
const stateBytes = (dir: string) => (existsSync(statePathOf(dir)) ? readFileSync(statePathOf(dir)) : null);
const journalPath = (dir: string) => join(dir, '.codex', 'dispatch-events.jsonl');
const journal = (dir: string): any[] =>
  existsSync(journalPath(dir)) ? readFileSync(journalPath(dir), 'utf8').trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const signals = (dir: string) => (existsSync(join(dir, 'signals')) ? readdirSync(join(dir, 'signals')).sort() : []);
const lockPath = (dir: string) => join(dir, '.codex', 'dispatch-lock.json');

function expectNoStack(r: RunResult) {
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

/** One `dispatch: <what> — <how>` line on stderr, nothing on stdout, the given exit code, no stack. */
function expectOneLineError(r: RunResult, code: number, what: RegExp) {
  expect(r.code).toBe(code);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^dispatch: .+ — .+/);
  expect(lines[0]).toMatch(what);
  expectNoStack(r);
}

/** Runs `fn` and checks it left the state file, the journal and the signal files exactly as they were. */
async function leavesNoTrace(dir: string, fn: () => Promise<RunResult>): Promise<RunResult> {
  const state = stateBytes(dir);
  const events = existsSync(journalPath(dir)) ? readFileSync(journalPath(dir)) : null;
  const sig = signals(dir);
  const r = await fn();
  expect(stateBytes(dir)).toEqual(state);
  expect(existsSync(journalPath(dir)) ? readFileSync(journalPath(dir)) : null).toEqual(events);
  expect(signals(dir)).toEqual(sig);
  expect(existsSync(`${statePathOf(dir)}.lock`)).toBe(false);
  return r;
}

/** A project whose state already has something in it, so "unchanged" means something. */
const busyProject = () => makeProject({ state: { completed: ['001'], failed: ['002'], skipped: [], notes: 'keep' } });

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

describe('list', () => {
  it('shows every spec with id, name, wave, cost, agent, mode, state and plan', async () => {
    const dir = makeProject({ state: { completed: ['001'], failed: [], skipped: [] } });
    writeFileSync(join(dir, '.auto-claude/specs/003-gamma/plan.md'), '# plan written by hand\n');
    const r = await run(dir, 'list');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/));
    expect(lines[0]).toEqual(['id', 'name', 'wave', 'cost', 'agent', 'mode', 'state', 'plan']);
    expect(lines.slice(1)).toEqual([
      ['001', 'alpha', '0', '1', 'codex', 'direct', 'done', 'missing'],
      ['002', 'beta', '1', '2', 'ac', 'direct', 'pending', 'missing'],
      ['003', 'gamma', '1', '3', 'codex', 'isolated', 'pending', 'planned'],
    ]);
  });

  it('--wave N shows only that wave', async () => {
    const r = await run(makeProject(), 'list', '--wave', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^002\s+beta/m);
    expect(r.stdout).toMatch(/^003\s+gamma/m);
    expect(r.stdout).not.toMatch(/^001/m);
  });

  it('--wave of a wave that does not exist is a usage error naming the waves there are', async () => {
    const r = await run(makeProject(), 'list', '--wave', '7');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("dispatch: there is no wave 7 — the waves are 0, 1 — see 'dispatch plan'\n");
  });

  it('--json prints the documented shape and nothing else', async () => {
    const r = await run(makeProject({ state: { completed: [], failed: ['002'], skipped: [] } }), '--json', 'list');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = json(r);
    expect(Object.keys(out).sort()).toEqual(['project', 'specs', 'unknownIds']);
    expect(out.project).toBe('demo');
    expect(out.specs.map((s: any) => [s.id, s.wave, s.state])).toEqual([['001', 0, 'pending'], ['002', 1, 'failed'], ['003', 1, 'pending']]);
    expect(out.specs[2]).toMatchObject({ id: '003', name: 'gamma', cost: 3, agent: 'codex', mode: 'isolated', dependsOn: ['001'], plan: 'missing' });
  });
});

describe('plan', () => {
  it('shows the waves in order, each with its specs, agent, plan status and dependencies', async () => {
    const r = await run(makeProject({ state: { completed: ['001'], failed: [], skipped: [] } }), 'plan');
    expect(r.code).toBe(0);
    const w0 = r.stdout.indexOf('Wave 0');
    const w1 = r.stdout.indexOf('Wave 1');
    expect(w0).toBeGreaterThanOrEqual(0);
    expect(w1).toBeGreaterThan(w0);
    expect(r.stdout).toMatch(/Wave 0\s+\(1 spec: 1 done\)/);
    expect(r.stdout).toMatch(/Wave 1\s+\(2 specs: 2 pending\)/);
    const beta = r.stdout.split('\n').find((l) => l.includes('002'))!;
    expect(beta).toMatch(/002\s+beta\s+ac\s+direct\s+cost 2\s+pending\s+plan n\/a \(ac\)\s+after 001/);
    expect(r.stdout.indexOf('002')).toBeGreaterThan(w1);
  });

  it('--wave N shows only that wave', async () => {
    const r = await run(makeProject(), 'plan', '--wave', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Wave 0');
    expect(r.stdout).toContain('Wave 1');
  });

  it('--json gives the waves with their specs, counts and completeness', async () => {
    const r = await run(makeProject({ state: { completed: ['001'], failed: [], skipped: [] } }), '--json', 'plan');
    expect(r.code).toBe(0);
    const out = json(r);
    expect(out.project).toBe('demo');
    expect(out.waves.map((w: any) => [w.wave, w.specs.map((s: any) => s.id), w.complete])).toEqual([[0, ['001'], true], [1, ['002', '003'], false]]);
    expect(out.waves[1].counts).toEqual({ done: 0, failed: 0, running: 0, 'rate-limited': 0, pending: 2, skipped: 0 });
  });
});

describe('status', () => {
  it('counts done / failed / pending / skipped overall and per wave, with failure reasons, exit 0', async () => {
    const dir = makeProject();
    await run(dir, 'mark-done', '001');
    await run(dir, 'mark-failed', '002', '--reason', 'pane died');
    await run(dir, 'skip', '003');
    const r = await run(dir, 'status');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('demo: 1 done · 1 failed · 0 running · 0 pending · 1 skipped  (3 specs)');
    expect(r.stdout).toMatch(/^0\s+1\s+0\s+0\s+0\s+0\s+1\s+complete$/m);
    expect(r.stdout).toMatch(/^1\s+0\s+1\s+0\s+0\s+1\s+2$/m);
    expect(r.stdout).toMatch(/^\s+002\s+beta\s+wave 1\s+manual\s+pane died$/m);
    expect(r.stdout).toContain("dispatch retry");
  });

  it('--json keeps its documented keys: project, total, counts, waves, failed, running, unknownIds', async () => {
    const dir = makeProject({ state: { completed: ['001'], failed: ['003'], skipped: [] } });
    const r = await run(dir, '--json', 'status');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const s = json(r);
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['project', 'total', 'counts', 'waves', 'failed', 'running', 'unknownIds']));
    expect(s).toMatchObject({ project: 'demo', total: 3, running: [], unknownIds: [] });
    expect(s.counts).toEqual({ done: 1, failed: 1, running: 0, 'rate-limited': 0, pending: 1, skipped: 0 });
    expect(s.waves).toEqual([
      { wave: 0, total: 1, counts: { done: 1, failed: 0, running: 0, 'rate-limited': 0, pending: 0, skipped: 0 }, complete: true },
      { wave: 1, total: 2, counts: { done: 0, failed: 1, running: 0, 'rate-limited': 0, pending: 1, skipped: 0 }, complete: false },
    ]);
    expect(s.failed).toEqual([{ id: '003', name: 'gamma', wave: 1, kind: 'agent-failed' }]);
  });

  it('also takes --json after the command', async () => {
    const r = await run(makeProject(), 'status', '--json');
    expect(r.code).toBe(0);
    expect(json(r).total).toBe(3);
  });

  it('shows ids the table does not know as unknown with one warning, keeps them in the file, exit 0', async () => {
    const dir = makeProject({ state: { completed: ['001', '099'], failed: ['zzz'], skipped: [] } });
    const before = stateBytes(dir);
    const r = await run(dir, '--json', 'status');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('dispatch: warning: the state lists ids not in the spec table, kept as unknown: 099, zzz\n');
    const s = json(r);
    expect(s.unknownIds).toEqual(['099', 'zzz']);
    expect(s.counts.done).toBe(1);
    expect(stateBytes(dir)).toEqual(before);

    const list = await run(dir, 'list');
    expect(list.stderr).toContain('kept as unknown: 099, zzz');
    expect((await run(dir, 'mark-done', '002')).code).toBe(0);
    expect(readStateOf(dir)).toMatchObject({ completed: ['001', '099', '002'], failed: ['zzz'] });
  });

  it('counts an empty table without failing', async () => {
    const r = await run(makeProject({ specs: [] }), 'status');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('demo: 0 done');
  });
});

describe('review', () => {
  it("prints the spec's spec.md", async () => {
    const r = await run(makeProject(), 'review', '002');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('# 002 beta\n\nBuild beta.\n');
  });

  it('--plan prints plan.md', async () => {
    const dir = makeProject();
    writeFileSync(join(dir, '.auto-claude/specs/002-beta/plan.md'), '# Plan for 002\n\n1. do it\n');
    const r = await run(dir, 'review', '002', '--plan');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('# Plan for 002\n\n1. do it\n');
  });

  it('finds the one folder starting with <id>- when the exact folder is missing', async () => {
    const dir = makeProject();
    renameSync(join(dir, '.auto-claude/specs/003-gamma'), join(dir, '.auto-claude/specs/003-gamma-renamed'));
    const r = await run(dir, 'review', '003');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Build gamma.');
  });

  it('--plan without a plan.md says how to make one (exit 1)', async () => {
    const r = await run(makeProject(), 'review', '001', '--plan');
    expectOneLineError(r, 1, /spec 001 has no plan\.md .*dispatch pre-plan --spec 001/);
  });

  it('a spec without spec.md names the file it looked for (exit 1)', async () => {
    const dir = makeProject();
    rmSync(join(dir, '.auto-claude/specs/002-beta'), { recursive: true });
    const r = await run(dir, 'review', '002');
    expectOneLineError(r, 1, /spec 002 has no spec\.md .*002-beta\/spec\.md/);
  });
});

describe('mark-done, mark-failed, skip', () => {
  it('mark-done records several ids, prints each change, writes done signals and one journal line each', async () => {
    const dir = makeProject();
    const r = await run(dir, 'mark-done', '001', '003');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('001: pending → done\n003: pending → done\n');
    expect(readStateOf(dir)).toMatchObject({ completed: ['001', '003'], failed: [], skipped: [] });
    expect(signals(dir)).toEqual(['demo-done-001', 'demo-done-003']);
    const ev = journal(dir);
    expect(ev.map((e) => [e.command, e.spec, e.from, e.to])).toEqual([['mark-done', '001', 'pending', 'done'], ['mark-done', '003', 'pending', 'done']]);
    expect(new Date(ev[0].time).toISOString()).toBe(ev[0].time);
    expect(ev[0].pid).toEqual(expect.any(Number));
  });

  it('marking again says "already" and rewrites nothing', async () => {
    const dir = makeProject();
    await run(dir, 'mark-done', '001');
    const r = await leavesNoTrace(dir, () => run(dir, 'mark-done', '001'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('001: already done\n');
  });

  it('mark-failed --reason keeps the reason in the state, the journal, the signal file and status', async () => {
    const dir = makeProject();
    const r = await run(dir, 'mark-failed', '002', '--reason', 'pane died');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('002: pending → failed\n');
    const s = readStateOf(dir);
    expect(s.failed).toEqual(['002']);
    expect(s.dispatch.specs['002'].reason).toBe('pane died');
    // A decision by hand is of kind 'manual', whatever the reason says.
    expect(s.dispatch.specs['002'].kind).toBe('manual');
    expect(readFileSync(join(dir, 'signals', 'demo-failed-002'), 'utf8')).toBe('pane died\n');
    expect(journal(dir)).toEqual([expect.objectContaining({ command: 'mark-failed', spec: '002', from: 'pending', to: 'failed', kind: 'manual', reason: 'pane died' })]);
    expect((await run(dir, 'status')).stdout).toMatch(/002\s+beta\s+wave 1\s+manual\s+pane died/);
  });

  it('a new reason on a failed spec is recorded; the same one is not', async () => {
    const dir = makeProject();
    await run(dir, 'mark-failed', '002', '--reason', 'first');
    await run(dir, 'mark-failed', '002', '--reason', 'second');
    expect(readStateOf(dir).dispatch.specs['002'].reason).toBe('second');
    expect(journal(dir).map((e) => e.reason)).toEqual(['first', 'second']);
    await leavesNoTrace(dir, () => run(dir, 'mark-failed', '002', '--reason', 'second'));
  });

  it('mark-done after mark-failed swaps the signal files and drops the failure', async () => {
    const dir = makeProject();
    await run(dir, 'mark-failed', '002', '--reason', 'x');
    const r = await run(dir, 'mark-done', '002');
    expect(r.stdout).toBe('002: failed → done\n');
    expect(signals(dir)).toEqual(['demo-done-002']);
    expect(readStateOf(dir)).toMatchObject({ completed: ['002'], failed: [] });
    expect((await run(dir, '--json', 'status')).stdout).toContain('"failed": []');
  });

  it('skip moves a spec to skipped, which completes its wave, and removes its signals', async () => {
    const dir = makeProject();
    await run(dir, 'mark-failed', '001');
    const r = await run(dir, 'skip', '001');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('001: failed → skipped\n');
    expect(readStateOf(dir)).toMatchObject({ completed: [], failed: [], skipped: ['001'] });
    expect(signals(dir)).toEqual([]);
    const s = json(await run(dir, '--json', 'status'));
    expect(s.waves[0]).toMatchObject({ wave: 0, complete: true, counts: { skipped: 1 } });
  });

  it('writes signal files to the OS temp folder when no signalDir is set', async () => {
    const project = `dt${process.pid}x${Date.now().toString(36)}`;
    const dir = makeProject({ extra: { project, signalDir: undefined } });
    const done = join(tmpdir(), `${project}-done-001`);
    const failed = join(tmpdir(), `${project}-failed-002`);
    try {
      expect((await run(dir, 'mark-done', '001')).code).toBe(0);
      expect((await run(dir, 'mark-failed', '002')).code).toBe(0);
      expect(existsSync(done)).toBe(true);
      expect(existsSync(failed)).toBe(true);
      expect((await run(dir, 'reset', '--yes')).code).toBe(0);
      expect(existsSync(done)).toBe(false);
      expect(existsSync(failed)).toBe(false);
    } finally {
      rmSync(done, { force: true });
      rmSync(failed, { force: true });
    }
  });
});

describe("the original tool's state file", () => {
  it('is read as is, and looking at it leaves it byte for byte', async () => {
    const dir = makeProject({ state: NUSHELL_STATE });
    for (const args of [['status'], ['list'], ['plan'], ['--json', 'status'], ['retry']]) {
      const r = await leavesNoTrace(dir, () => run(dir, ...args));
      expect(r.code, args.join(' ')).toBe(0);
    }
    // Marking what is already done only (re)writes the signal files, as the original did.
    const again = await run(dir, 'mark-done', '001', '002');
    expect(again.stdout).toBe('001: already done\n002: already done\n');
    expect(existsSync(journalPath(dir))).toBe(false);
    expect(json(await run(dir, '--json', 'status')).counts).toMatchObject({ done: 2, pending: 1 });
    expect(readFileSync(statePathOf(dir), 'utf8')).toBe(NUSHELL_STATE);
  });

  it('keeps its three arrays and every unknown key through writes', async () => {
    const original = { completed: ['001', '002'], failed: [], skipped: [], launched: '2024-05-01T10:00:00Z', panes: { '001': 'triz-001' }, history: [1, 2] };
    const dir = makeProject({ state: JSON.stringify(original) });
    expect((await run(dir, 'mark-failed', '003', '--reason', 'x')).code).toBe(0);
    expect((await run(dir, 'skip', '002')).code).toBe(0);
    let s = readStateOf(dir);
    expect(s).toMatchObject({ completed: ['001'], failed: ['003'], skipped: ['002'], launched: original.launched, panes: original.panes, history: original.history });
    expect((await run(dir, 'reset', '--yes')).code).toBe(0);
    s = readStateOf(dir);
    expect(s).toMatchObject({ completed: [], failed: [], skipped: [], launched: original.launched, panes: original.panes, history: original.history });
  });
});

describe('the event journal', () => {
  it('gets exactly one line per change, from every command that changes state', async () => {
    const dir = makeProject();
    await run(dir, 'mark-done', '001', '002'); // 2
    await run(dir, 'mark-failed', '003', '--reason', 'boom'); // 1
    await run(dir, 'mark-done', '001'); // 0: no change
    await run(dir, 'retry'); // 1
    await run(dir, 'skip', '003'); // 1
    await run(dir, 'reset', '--spec', '001'); // 1
    await run(dir, 'reset', '--yes'); // 2 (002 done, 003 skipped)
    const ev = journal(dir);
    expect(ev.map((e) => `${e.command} ${e.spec} ${e.from}→${e.to}`)).toEqual([
      'mark-done 001 pending→done',
      'mark-done 002 pending→done',
      'mark-failed 003 pending→failed',
      'retry 003 failed→pending',
      'skip 003 pending→skipped',
      'reset 001 done→pending',
      'reset 002 done→pending',
      'reset 003 skipped→pending',
    ]);
    for (const e of ev) expect(Object.keys(e)).toEqual(expect.arrayContaining(['time', 'pid', 'command', 'spec', 'from', 'to']));
  });
});

describe('reset', () => {
  it('--spec ID puts one spec back to pending and removes its signal file only', async () => {
    const dir = makeProject();
    await run(dir, 'mark-done', '001');
    await run(dir, 'mark-failed', '002');
    const r = await run(dir, 'reset', '--spec', '002');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('002: failed → pending\n');
    expect(readStateOf(dir)).toMatchObject({ completed: ['001'], failed: [], skipped: [] });
    expect(readStateOf(dir).dispatch.specs['002']).toBeUndefined();
    expect(signals(dir)).toEqual(['demo-done-001']);
  });

  it('--spec on a pending spec says so and writes nothing', async () => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, 'reset', '--spec', '003'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('003: already pending\n');
  });

  it('--yes puts everything back to pending and removes every signal file', async () => {
    const dir = makeProject();
    await run(dir, 'mark-done', '001');
    await run(dir, 'mark-failed', '002');
    await run(dir, 'skip', '003');
    expect(signals(dir)).toHaveLength(2);
    const r = await run(dir, 'reset', '--yes');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('reset 3 specs to pending\n');
    expect(readStateOf(dir)).toMatchObject({ completed: [], failed: [], skipped: [] });
    expect(signals(dir)).toEqual([]);
    expect(json(await run(dir, '--json', 'status')).counts.pending).toBe(3);
  });

  it('of everything, off a terminal, needs --yes and changes nothing without it (exit 2)', async () => {
    const dir = busyProject();
    await run(dir, 'mark-done', '001');
    const r = await leavesNoTrace(dir, () => run(dir, 'reset'));
    expectOneLineError(r, 2, /needs confirmation — pass --yes/);
  });

  it('--yes moves a corrupt state file aside as *.corrupt-<time>, byte for byte, and starts fresh', async () => {
    const corrupt = '{"completed": ["001", "002"],\n  oops';
    const dir = makeProject({ state: corrupt });
    const r = await run(dir, 'reset', '--yes');
    expect(r.code).toBe(0);
    expectNoStack(r);
    const aside = readdirSync(join(dir, '.codex')).filter((f) => f.startsWith('dispatch-state.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(aside[0]).toMatch(/^dispatch-state\.json\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/);
    expect(readFileSync(join(dir, '.codex', aside[0]!), 'utf8')).toBe(corrupt);
    expect(r.stderr).toContain(`moved aside to ${join(dir, '.codex', aside[0]!)}`);
    expect(readStateOf(dir)).toEqual({ completed: [], failed: [], skipped: [] });
    expect((await run(dir, 'status')).code).toBe(0);
  });
});

describe('retry', () => {
  it('puts failed specs back to pending, leaving the others, and removes their failed signals', async () => {
    const dir = makeProject();
    await run(dir, 'mark-done', '001');
    await run(dir, 'mark-failed', '002', '003');
    const r = await run(dir, 'retry');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("002: failed → pending\n003: failed → pending\n2 specs re-queued; launch with 'dispatch run --yes'\n");
    expect(readStateOf(dir)).toMatchObject({ completed: ['001'], failed: [] });
    expect(signals(dir)).toEqual(['demo-done-001']);
  });

  it('--wave N only retries that wave', async () => {
    const dir = makeProject();
    await run(dir, 'mark-failed', '001', '002');
    const r = await run(dir, 'retry', '--wave', '1');
    expect(r.stdout).toContain('002: failed → pending');
    expect(r.stdout).not.toContain('001');
    expect(readStateOf(dir).failed).toEqual(['001']);
  });

  it('with nothing failed says so and writes nothing', async () => {
    const dir = makeProject({ state: { completed: ['001'], failed: [], skipped: ['002'] } });
    const r = await leavesNoTrace(dir, () => run(dir, 'retry', '--wave', '1'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no failed or rate-limited specs in wave 1\n');
  });
});

describe('lock', () => {
  const writeLock = (dir: string, lock: object) => {
    mkdirSync(join(dir, '.codex'), { recursive: true });
    writeFileSync(lockPath(dir), JSON.stringify(lock));
  };

  it('says so when no run is active', async () => {
    const dir = makeProject();
    expect((await run(dir, 'lock')).stdout).toBe('no run lock: no dispatch run is active\n');
    expect(json(await run(dir, '--json', 'lock'))).toEqual({ path: lockPath(dir), held: false });
  });

  it('shows pid, host, command, wave, started and that a dead holder is gone; --clear removes it', async () => {
    const dir = makeProject();
    const pid = deadPid();
    writeLock(dir, { pid, host: hostname(), command: 'run', wave: 2, started: '2024-01-01T00:00:00.000Z' });
    const r = await run(dir, 'lock');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`pid\\s+${pid}\\n\\s+host\\s+${hostname()}\\n\\s+command\\s+run\\n\\s+wave\\s+2\\n\\s+started\\s+2024-01-01T00:00:00.000Z\\n\\s+alive\\s+false`));
    expect(r.stdout).toContain("dispatch lock --clear");
    expect(json(await run(dir, '--json', 'lock'))).toEqual({ path: lockPath(dir), held: true, pid, host: hostname(), command: 'run', wave: 2, started: '2024-01-01T00:00:00.000Z', alive: false });
    const c = await run(dir, 'lock', '--clear');
    expect(c.code).toBe(0);
    expect(c.stdout).toContain(`removed the stale run lock of pid ${pid}`);
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it('refuses to clear a live lock without --force (exit 1), and clears it with --force', async () => {
    const dir = makeProject();
    // A live holder that looks like a dispatch run (a pid alone may have been reused since).
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'run'], { stdio: 'ignore' });
    try {
      writeLock(dir, { pid: holder.pid!, host: hostname(), command: 'run --wave 1', wave: 1, started: new Date().toISOString() });
      const before = readFileSync(lockPath(dir));
      expect((await run(dir, 'lock')).stdout).toMatch(/alive\s+true/);
      const r = await run(dir, 'lock', '--clear');
      expectOneLineError(r, 1, new RegExp(`held by a live process \\(pid ${holder.pid} .*pass --force`));
      expect(readFileSync(lockPath(dir))).toEqual(before);
      const f = await run(dir, 'lock', '--clear', '--force');
      expect(f.code).toBe(0);
      expect(existsSync(lockPath(dir))).toBe(false);
    } finally {
      holder.kill();
    }
  });

  it('a lock whose pid now belongs to another program (reused after a reboot) is stale', async () => {
    const dir = makeProject();
    writeLock(dir, { pid: process.pid, host: hostname(), command: 'run --wave 1', wave: 1, started: new Date().toISOString() });
    expect((await run(dir, 'lock')).stdout).toMatch(/alive\s+false/);
    expect((await run(dir, 'lock', '--clear')).code).toBe(0);
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it('cannot tell whether a holder on another host is alive, so clearing it needs --force', async () => {
    const dir = makeProject();
    writeLock(dir, { pid: 4242, host: 'elsewhere.invalid', command: 'run', started: '2024-01-01T00:00:00.000Z' });
    expect((await run(dir, 'lock')).stdout).toMatch(/alive\s+unknown \(other host\)/);
    expect(json(await run(dir, '--json', 'lock')).alive).toBeNull();
    expect((await run(dir, 'lock', '--clear')).code).toBe(1);
    expect(existsSync(lockPath(dir))).toBe(true);
  });

  it('reports an unreadable lock file and lets --clear remove it', async () => {
    const dir = makeProject();
    mkdirSync(join(dir, '.codex'), { recursive: true });
    writeFileSync(lockPath(dir), 'not json');
    const r = await run(dir, 'lock');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/is unreadable .*dispatch lock --clear/);
    expect((await run(dir, 'lock', '--clear')).stdout).toContain('removed an unreadable run lock');
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it('--clear with no lock says so', async () => {
    const r = await run(makeProject(), 'lock', '--clear');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no run lock\n');
  });
});

describe('init', () => {
  it('writes a config listing the spec folders it finds and a state file with the completed ids; the project then works', async () => {
    const dir = tempDir();
    for (const f of ['001-scaffold', '002-parser', '010-ui']) {
      mkdirSync(join(dir, '.auto-claude/specs', f), { recursive: true });
      writeFileSync(join(dir, '.auto-claude/specs', f, 'spec.md'), `# ${f}\n`);
    }
    const r = await run(dir, 'init', '--project', 'triz', '--session', 'wise-xylophone', '--completed', '001,002');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('3 specs found in .auto-claude/specs');
    expect(r.stdout).toContain('(completed: 001, 002)');
    const config = readFileSync(join(dir, 'specs.config.ts'), 'utf8');
    expect(config).toContain("project: 'triz'");
    expect(config).toContain("session: 'wise-xylophone'");
    expect(config).toMatch(/export default defineConfig\(/);
    expect(readStateOf(dir)).toMatchObject({ completed: ['001', '002'], failed: [], skipped: [] });
    const list = json(await run(dir, '--json', 'list'));
    expect(list.project).toBe('triz');
    expect(list.specs.map((s: any) => [s.id, s.name, s.state])).toEqual([['001', 'scaffold', 'done'], ['002', 'parser', 'done'], ['010', 'ui', 'pending']]);
    expect((await run(dir, 'review', '010')).stdout).toBe('# 010-ui\n');
  });

  it('writes a commented template when there are no spec folders, and the project loads', async () => {
    const dir = tempDir();
    const r = await run(dir, 'init', '--project', 'fresh');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('a commented template');
    expect(readFileSync(join(dir, 'specs.config.ts'), 'utf8')).toMatch(/\/\/ \{ id: '001'/);
    expect(readStateOf(dir)).toEqual({ completed: [], failed: [], skipped: [] });
    const s = await run(dir, 'status');
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('fresh: 0 done');
  });

  it.each(['specs.config.ts', 'specs.config.json'])('refuses to overwrite an existing %s (exit 1)', async (name) => {
    const dir = tempDir();
    writeFileSync(join(dir, name), name.endsWith('.json') ? '{}' : 'export default {}\n');
    const r = await run(dir, 'init', '--project', 'x', '--completed', '001');
    expectOneLineError(r, 1, new RegExp(`${name.replace('.', '\\.')} already exists.*never overwrites`));
    expect(readFileSync(join(dir, name), 'utf8')).toBe(name.endsWith('.json') ? '{}' : 'export default {}\n');
    expect(existsSync(join(dir, '.codex'))).toBe(false);
  });

  it.each([
    ['--completed', '001,../etc', /--completed has invalid id '\.\.\/etc'/],
    ['--project', 'a/b', /--project 'a\/b' may only hold/],
  ])('rejects a bad %s value (exit 2) and writes nothing', async (flag, value, msg) => {
    const dir = tempDir();
    const r = await run(dir, 'init', flag, value);
    expectOneLineError(r, 2, msg);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('--help', () => {
  it.each(VERBS)('%s --help prints usage with examples, needs no config, exit 0', async (verb) => {
    const r = await run(tempDir(), verb, '--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Usage: dispatch ${verb} `));
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`$ dispatch ${verb}`);
  });

  it('dispatch --help lists every command', async () => {
    const r = await run(tempDir(), '--help');
    expect(r.code).toBe(0);
    for (const verb of VERBS) expect(r.stdout).toMatch(new RegExp(`^  ${verb}\\b`, 'm'));
  });
});

describe('config discovery', () => {
  it('finds the config in the nearest parent folder and keeps state beside it', async () => {
    const dir = makeProject();
    const sub = join(dir, 'src', 'deep', 'er');
    mkdirSync(sub, { recursive: true });
    const r = await run(sub, 'mark-done', '002');
    expect(r.code).toBe(0);
    expect(readStateOf(dir).completed).toEqual(['002']);
    expect(existsSync(join(sub, '.codex'))).toBe(false);
    expect((await run(sub, 'review', '002')).stdout).toContain('Build beta.');
  });

  it('--config PATH (relative or absolute) uses that config and its folder from anywhere', async () => {
    const dir = makeProject({ specs: [{ id: 'x1', name: 'other' }] });
    const elsewhere = makeProject(); // a config here must be ignored
    const abs = await run(elsewhere, '--config', join(dir, 'specs.config.ts'), 'mark-done', 'x1');
    expect(abs.code).toBe(0);
    expect(readStateOf(dir).completed).toEqual(['x1']);
    expect(readStateOf(elsewhere)).toBeUndefined();
    const rel = await run(join(dir, '.auto-claude'), '--config', '../specs.config.ts', '--json', 'list');
    expect(json(rel).specs.map((s: any) => [s.id, s.state])).toEqual([['x1', 'done']]);
  });

  it('notices an edited config', async () => {
    const dir = makeProject();
    expect(json(await run(dir, '--json', 'list')).specs[0].name).toBe('alpha');
    const f = join(dir, 'specs.config.ts');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"alpha"', '"alpha-renamed"'));
    expect(json(await run(dir, '--json', 'list')).specs[0].name).toBe('alpha-renamed');
  });
});

describe('config formats', () => {
  const formats: [string, (dir: string) => void][] = [
    ['.ts with defineConfig', () => {}],
    ['.ts with a plain export default', () => {}],
    ['.mjs', () => {}],
    ['.js', (dir) => renameSync(join(dir, 'specs.config.mjs'), join(dir, 'specs.config.js'))],
    ['.json', () => {}],
  ];
  const formatOf: Record<string, 'ts' | 'plain-ts' | 'mjs' | 'json'> = {
    '.ts with defineConfig': 'ts',
    '.ts with a plain export default': 'plain-ts',
    '.mjs': 'mjs',
    '.js': 'mjs',
    '.json': 'json',
  };
  it.each(formats)('loads %s: computed waves, states, and writes state beside it', async (name, adjust) => {
    const dir = makeProject({ format: formatOf[name] });
    adjust(dir);
    const files = readdirSync(dir).filter((f) => f.startsWith('specs.config.'));
    expect(files).toHaveLength(1);
    expect((await run(dir, 'mark-done', '001')).code).toBe(0);
    for (let i = 0; i < 2; i++) {
      // second round: from whatever cache the first one left
      const r = await run(dir, '--json', 'list');
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(json(r).specs.map((s: any) => [s.id, s.wave, s.agent, s.mode, s.state])).toEqual([
        ['001', 0, 'codex', 'direct', 'done'],
        ['002', 1, 'ac', 'direct', 'pending'],
        ['003', 1, 'codex', 'isolated', 'pending'],
      ]);
    }
  });
});

describe('colour', () => {
  const colourEnv = { FORCE_COLOR: '1', NO_COLOR: undefined };
  it('is used when forced, and never with --no-color or NO_COLOR', async () => {
    const dir = makeProject({ state: { completed: ['001'], failed: [], skipped: [] } });
    expect(dispatch(dir, ['status'], { env: colourEnv }).stdout).toMatch(/\x1b\[/);
    expect(dispatch(dir, ['--no-color', 'status'], { env: colourEnv }).stdout).not.toMatch(/\x1b\[/);
    expect(dispatch(dir, ['status'], { env: { ...colourEnv, NO_COLOR: '1' } }).stdout).not.toMatch(/\x1b\[/);
    expect(dispatch(dir, ['status'], { env: { FORCE_COLOR: undefined, NO_COLOR: undefined } }).stdout).not.toMatch(/\x1b\[/); // not a terminal
  });
});

describe('bad input: one clear line on stderr, the right exit code, no stack trace, state untouched', () => {
  it('an unknown command (exit 2)', async () => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, 'frobnicate'));
    expectOneLineError(r, 2, /unknown command 'frobnicate' — see 'dispatch --help'/);
  });

  it('a mistyped command suggests the right one (exit 2)', async () => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, 'mark-don', '001'));
    expectOneLineError(r, 2, /unknown command 'mark-don'.*mark-done/);
  });

  it('an unknown option (exit 2)', async () => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, 'list', '--bogus'));
    expectOneLineError(r, 2, /unknown option '--bogus' — see 'dispatch list --help'/);
  });

  it.each([
    [['mark-done'], /missing required argument 'ids' — see 'dispatch mark-done --help'/],
    [['mark-failed'], /missing required argument 'ids'/],
    [['skip'], /missing required argument 'ids'/],
    [['review'], /missing required argument 'id' — see 'dispatch review --help'/],
    [['mark-failed', '001', '--reason'], /option '--reason <text>' argument missing/],
    [['reset', '--spec'], /option '--spec <id>' argument missing/],
  ])('a missing argument: %j (exit 2)', async (args, msg) => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, ...args));
    expectOneLineError(r, 2, msg);
  });

  it.each([['list', 'x'], ['retry', '-1'], ['plan', '1.5']])('a bad --wave value: %s --wave %s (exit 2)', async (verb, value) => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, verb, '--wave', value));
    expectOneLineError(r, 2, /--wave must be a whole number/);
  });

  it.each([
    [['mark-done', '0002']],
    [['mark-failed', '0002', '--reason', 'x']],
    [['skip', '0002']],
    [['review', '0002']],
    [['reset', '--spec', '0002']],
  ])('an unknown spec id suggests the closest: %j (exit 2)', async (args) => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, ...args));
    expectOneLineError(r, 2, /unknown spec id '0002' \(did you mean '002'.*\?\) — see 'dispatch list'/);
  });

  it('one unknown id among known ones changes nothing for the others (exit 2)', async () => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, 'mark-done', '003', 'nope'));
    expectOneLineError(r, 2, /unknown spec id 'nope'.*nothing was changed/);
  });

  it('no config anywhere up the tree suggests dispatch init (exit 2)', async () => {
    const dir = tempDir();
    const r = await run(dir, 'status');
    expectOneLineError(r, 2, new RegExp(`no specs\\.config\\.ts found in ${dir} or any parent folder — run 'dispatch init'`));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('--config pointing at a missing file (exit 2)', async () => {
    const dir = busyProject();
    const r = await leavesNoTrace(dir, () => run(dir, '--config', 'nope.config.ts', 'mark-done', '003'));
    expectOneLineError(r, 2, new RegExp(`config file not found: ${join(dir, 'nope.config.ts')}`));
  });

  it('an invalid config lists every problem field by field under one header (exit 2)', async () => {
    const dir = busyProject();
    const configText = `export default {
  project: 'demo',
  signalDir: './signals',
  specs: [
    { id: '001', name: 'alpha', cost: 7, agent: 'codex' },
    { id: '002', name: 'beta', cost: 1, agent: 'codex', mode: 'sideways' },
    { id: '003', name: 'gamma', cost: 1, agent: 'codex', colour: 'red' },
  ],
};
`;
    writeFileSync(join(dir, 'specs.config.ts'), configText);
    const r = await leavesNoTrace(dir, () => run(dir, 'mark-done', '003'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expectNoStack(r);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `dispatch: invalid config ${join(dir, 'specs.config.ts')} (3 problems) — fix the fields below`,
      '  specs[0].cost: expected 1–4, got 7',
      '  specs[1].mode: expected one of "direct", "isolated", got "sideways"',
      '  specs[2]: unknown key "colour" — check the spelling',
    ]);
  });

  it('a dependency cycle and a duplicate id are reported naming the specs (exit 2)', async () => {
    const dir = makeProject({
      format: 'json',
      specs: [
        { id: '001', name: 'a', dependsOn: ['002'] },
        { id: '002', name: 'b', dependsOn: ['001'] },
        { id: '001', name: 'c' },
      ],
    });
    const r = await run(dir, 'status');
    expect(r.code).toBe(2);
    expectNoStack(r);
    expect(r.stderr).toMatch(/^dispatch: invalid config .*specs\.config\.json \(2 problems\)/);
    expect(r.stderr).toContain("  specs[2].id: duplicate id '001'");
    expect(r.stderr).toMatch(/ {2}dependency cycle: 00[12] → 00[12] → 00[12]\n/);
  });

  it('a numeric id is caught and the lost zero explained (exit 2)', async () => {
    const dir = busyProject();
    const f = join(dir, 'specs.config.ts');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"id": "003"', '"id": 3'));
    const r = await leavesNoTrace(dir, () => run(dir, 'list'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expectNoStack(r);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^dispatch: invalid config .* \(1 problem\)/);
    expect(lines.slice(1)).toEqual(["  specs[2].id: expected a string id, got the number 3 — write it in quotes ('03'?); a number loses its leading zeros"]);
  });

  it('an id written 011 (a number with a leading zero) is explained, naming the position (exit 2)', async () => {
    const dir = busyProject();
    const f = join(dir, 'specs.config.ts');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"id": "003"', '"id": 003'));
    const r = await leavesNoTrace(dir, () => run(dir, 'list'));
    // esbuild reports an octal literal; dispatch adds what the user meant.
    expectOneLineError(r, 2, /specs\.config\.ts:\d+:\d+: .*(quote|string)/i);
  });

  it('a config with a syntax error names the file and the position (exit 2)', async () => {
    const dir = busyProject();
    writeFileSync(join(dir, 'specs.config.ts'), "export default {\n  project: 'demo',\n  specs: [\n    { id: '001', name: 'a' cost: 1 },\n  ],\n};\n");
    const r = await leavesNoTrace(dir, () => run(dir, 'status'));
    expectOneLineError(r, 2, new RegExp(`${join(dir, 'specs.config.ts')} failed to compile \\(${join(dir, 'specs.config.ts')}:4:\\d+: `));
  });

  it('a JSON config with a syntax error names the line and column (exit 2)', async () => {
    const dir = busyProject();
    rmSync(join(dir, 'specs.config.ts'));
    writeFileSync(join(dir, 'specs.config.json'), '{\n  "project": "demo",,\n  "specs": []\n}\n');
    const r = await leavesNoTrace(dir, () => run(dir, 'status'));
    expectOneLineError(r, 2, /specs\.config\.json is not valid JSON \(line 2, column \d+: /);
  });

  it('a config that throws while loading: no stack unless DISPATCH_DEBUG=1 (exit 2)', async () => {
    const dir = busyProject();
    rmSync(join(dir, 'specs.config.ts'));
    writeFileSync(join(dir, 'specs.config.mjs'), "throw new Error('database unreachable');\nexport default {};\n");
    const r = await leavesNoTrace(dir, () => run(dir, 'status'));
    expectOneLineError(r, 2, /specs\.config\.mjs failed to load: database unreachable/);
    const debug = dispatch(dir, ['status'], { env: { DISPATCH_DEBUG: '1' } });
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/^\s+at /m);
  });

  it('a config without a default export (exit 2)', async () => {
    const dir = busyProject();
    writeFileSync(join(dir, 'specs.config.ts'), 'export const config2 = {};\n');
    const r = await leavesNoTrace(dir, () => run(dir, 'status'));
    expectOneLineError(r, 2, /has no default export — end it with: export default defineConfig/);
  });

  const corruptCommands = [['status'], ['list'], ['plan'], ['--json', 'status'], ['mark-done', '003'], ['mark-failed', '003', '--reason', 'x'], ['skip', '003'], ['reset', '--spec', '001'], ['retry']];
  it.each(corruptCommands)('a corrupt state file stops %s with exit 1, naming the file and the way out, and leaves it as it was', async (...args) => {
    const dir = makeProject({ state: '{"completed": ["001", "002"], "failed": [' });
    const r = await leavesNoTrace(dir, () => run(dir, ...args));
    expectOneLineError(r, 1, new RegExp(`state file ${statePathOf(dir)} is corrupt \\(bad JSON: .*\\); it was left untouched — .*'dispatch reset --yes'`));
  });

  it.each([
    ['an empty file', '', /empty file/],
    ['the wrong shape', '{"completed": "001,002", "failed": [], "skipped": []}', /"completed" must be an array of id strings/],
    ['an array', '["001"]', /expected a JSON object/],
  ])('a state file holding %s is corrupt too (exit 1, untouched)', async (_what, text, why) => {
    const dir = makeProject({ state: text });
    const r = await leavesNoTrace(dir, () => run(dir, 'mark-done', '001'));
    expectOneLineError(r, 1, why);
    expect(r.stderr).toContain(statePathOf(dir));
  });
});
