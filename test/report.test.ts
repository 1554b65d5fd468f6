// `dispatch report` and `plan --graph` through the built CLI: what they write,
// and every bad input with its one-line message and exit code.
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, readStateOf, tempDir, dispatchIn } from './helpers.js';
import { engineProject, journalPath, starts, waitFor } from './fixtures/engine.js';
import { GIT_ENV } from './fixtures/git.js';

const oneLine = (stderr: string) => {
  expect(stderr).not.toMatch(/\n\s+at /);
  return stderr.trim().split('\n')[0];
};

async function ranProject() {
  const dir = engineProject({
    specs: [
      { id: '001', name: 'one', wave: 0, cost: 1, body: 'write out/1.txt x\n' },
      { id: '002', name: 'two', wave: 1, cost: 1, dependsOn: ['001'], agent: 'bad' },
    ],
  });
  const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV });
  expect(r.code, r.stderr).toBe(1);
  return dir;
}

describe('dispatch report', () => {
  it('after a run: writes .codex/report.html, prints its path, and --json gives the figures', async () => {
    const dir = await ranProject();
    const r = await dispatchIn(dir, ['report']);
    expect(r.code, r.stderr).toBe(0);
    const file = join(dir, '.codex', 'report.html');
    expect(r.stdout).toBe(`${file}\n`);
    expect(r.stderr).toMatch(/^report: run \S+, 2 specs, 3 attempts; \d+ KB$/m);
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    // 002 fails twice (one retry by the default policy).
    expect(html.match(/data-a="/g)).toHaveLength(3);
    expect(html).toContain('002 two');
    const j = JSON.parse((await dispatchIn(dir, ['--json', 'report', '--all'])).stdout);
    expect(j.scope).toEqual({ all: true });
    expect(j.figures).toMatchObject({ specs: 2, done: 1, failed: 1, attempts: 3 });
    expect(j.failures).toEqual([expect.objectContaining({ id: '002', kind: 'agent-failed' })]);
    expect(j.criticalPath).toEqual(['001', '002']);
  });

  it('a project that never ran (no .codex yet): the graph and the plan, with the simulated makespan; --out - prints it', async () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'a', wave: 0, cost: 2 }, { id: '002', name: 'b', wave: 1, cost: 3, dependsOn: ['001'] }] });
    expect(existsSync(join(dir, '.codex'))).toBe(false);
    const r = await dispatchIn(dir, ['report']);
    expect(r.code, r.stderr).toBe(0);
    const out = join(dir, '.codex', 'report.html');
    const piped = await dispatchIn(dir, ['report', '--out', '-']);
    expect(piped.stdout).toMatch(/^<!doctype html>/);
    expect(r.stderr).toMatch(/every launch, 2 specs, 0 attempts/);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('nothing has run yet');
    // 15 + 30 minutes by cost, one after the other.
    expect(html).toContain('<b>45 min</b><span>simulated makespan');
    expect(html.match(/class="n s-pending/g)).toHaveLength(2);
  });

  it('a run in progress: its running attempt is on the page, and the page says so', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'slow', wave: 0, cost: 1, agent: 'hang' }] });
    expect((await dispatchIn(dir, ['run', '--yes', '--no-plan', '--no-wait'], { env: GIT_ENV })).code).toBe(0);
    await waitFor('the agent', () => starts(dir).length === 1, 30_000);
    const j = JSON.parse((await dispatchIn(dir, ['--json', 'report'])).stdout);
    expect(j.inProgress).toBe(true);
    expect(j.figures).toMatchObject({ running: 1, attempts: 1 });
    expect(readFileSync(join(dir, '.codex', 'report.html'), 'utf8')).toContain('in progress');
    expect((await dispatchIn(dir, ['stop', '001'])).code).toBe(0);
  });

  it('bad inputs: one line, the right exit code, nothing written', async () => {
    const dir = await ranProject();
    const file = join(dir, '.codex', 'report.html');
    const noRun = await dispatchIn(dir, ['report', '--run', 'nope']);
    expect(noRun.code).toBe(2);
    expect(oneLine(noRun.stderr)).toMatch(/^dispatch: there is no run "nope" — the runs are run-\S+ — 'dispatch report' shows the latest run, 'dispatch report --all' every launch$/);
    const both = await dispatchIn(dir, ['report', '--run', 'x', '--all']);
    expect(both.code).toBe(2);
    expect(oneLine(both.stderr)).toMatch(/--run and --all do not go together/);
    const noDir = await dispatchIn(dir, ['report', '--out', join(dir, 'missing', 'r.html')]);
    expect(noDir.code).toBe(1);
    expect(oneLine(noDir.stderr)).toMatch(/^dispatch: cannot write .*missing\/r\.html: its folder .*missing does not exist — create the folder, or pick another --out$/);
    const dirOut = await dispatchIn(dir, ['report', '--out', dir]);
    expect(dirOut.code).toBe(2);
    expect(oneLine(dirOut.stderr)).toMatch(/is not a regular file \(a folder\)/);
    const device = await dispatchIn(dir, ['report', '--out', '/dev/null']);
    expect(device.code).toBe(2);
    expect(oneLine(device.stderr)).toMatch(/^dispatch: --out \/dev\/null is not a regular file \(a device or special file\)/);
    const stateFile = join(dir, '.codex', 'dispatch-state.json');
    const before = readFileSync(stateFile, 'utf8');
    for (const own of [stateFile, join(dir, '.codex', 'dispatch-events.jsonl'), join(dir, 'specs.config.json'), join(dir, '.codex', 'dispatch-state.json.lock')]) {
      const r = await dispatchIn(dir, ['report', '--out', own]);
      expect(r.code, own).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/is one of dispatch's own files/);
    }
    expect(readFileSync(stateFile, 'utf8')).toBe(before);
    const empty = await dispatchIn(dir, ['report', '--out', '']);
    expect(empty.code).toBe(2);
    expect(oneLine(empty.stderr)).toMatch(/--out needs a file name/);
    expect(existsSync(file)).toBe(false);
    const noArg = await dispatchIn(dir, ['report', '--run']);
    expect(noArg.code).toBe(2);
    expect(oneLine(noArg.stderr)).toMatch(/option '--run <id>' argument missing/);
  });

  it('a state of the wrong shape is refused as corrupt (exit 1); a torn journal line is skipped', async () => {
    const dir = await ranProject();
    writeFileSync(journalPath(dir), `${readFileSync(journalPath(dir), 'utf8')}{"seq": 99, "ti`);
    expect((await dispatchIn(dir, ['report'])).code).toBe(0);
    const stateFile = join(dir, '.codex', 'dispatch-state.json');
    const before = readFileSync(stateFile, 'utf8');
    writeFileSync(stateFile, '{"completed": "all of them"}');
    const r = await dispatchIn(dir, ['report']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/dispatch-state\.json/);
    expect(readFileSync(stateFile, 'utf8')).toBe('{"completed": "all of them"}');
    expect(before).toContain('"completed"');
  });

  it('a symlink at the output is replaced by the page; its target is unchanged', async () => {
    const dir = await ranProject();
    const target = join(tempDir(), 'precious.txt');
    writeFileSync(target, 'keep me');
    mkdirSync(join(dir, 'out'), { recursive: true });
    const link = join(dir, 'out', 'report.html');
    symlinkSync(target, link);
    expect((await dispatchIn(dir, ['report', '--out', link])).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    expect(readStateOf(dir).completed).toEqual(['001']);
  });
});

describe('dispatch plan --graph', () => {
  it('mermaid and dot on stdout; a bad format or wave is a usage error', async () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'a', wave: 0, cost: 1 }, { id: '002', name: 'b "q" #x', wave: 1, cost: 1, dependsOn: ['001'] }] });
    const m = await dispatchIn(dir, ['plan', '--graph', 'mermaid']);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/^flowchart LR\n/);
    expect(m.stdout).toContain('s1["002 b #34;q#34; #35;x"]:::pending');
    expect(m.stdout).toContain('s0 --> s1');
    const d = await dispatchIn(dir, ['plan', '--graph', 'dot']);
    expect(d.stdout).toMatch(/^digraph dispatch \{/);
    expect(d.stdout).toContain('"001" -> "002";');
    const bad = await dispatchIn(dir, ['plan', '--graph', 'svg']);
    expect(bad.code).toBe(2);
    expect(oneLine(bad.stderr)).toMatch(/argument 'svg' is invalid\. Allowed choices are mermaid, dot/);
    const wave = await dispatchIn(dir, ['plan', '--graph', 'dot', '--wave', '7']);
    expect(wave.code).toBe(2);
    expect(oneLine(wave.stderr)).toMatch(/there is no wave 7 — the waves are 0, 1/);
  });
});
