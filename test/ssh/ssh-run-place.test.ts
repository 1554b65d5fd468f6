// Where an SSH run is, as the state remembers it: a host renamed or removed in
// the config mid-run stays reachable (stop, collect, attach, logs) through the
// run's recorded place; tmux session names never collide between projects or
// ids, and a session dispatch cannot prove it started is never ended; runs
// recorded by the previous version (no place, sessions named by their label)
// are still found, and one that cannot be reached at all is said to be so.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, dispatch, dispatchAsync, readStateOf, statePathOf, tempDir, type RunResult } from '../helpers.js';
import { configPathOf, engineProject, pidAlive, starts } from '../fixtures/engine.js';
import { GIT_ENV, git } from '../fixtures/git.js';
import { hostBase, sshAvailable, startPool, type SshPool } from '../fixtures/sshd.js';

const env = { ...GIT_ENV };
let pool: SshPool;
// Projects of this file only (two copies of the suite at once use different names).
const TAG = `spl${Math.random().toString(36).slice(2, 7)}`;

beforeAll(async () => {
  if (sshAvailable) pool = await startPool(2, { slots: [2, 2] });
}, 60_000);
afterAll(() => {
  pool?.stop();
});

function sshProject(project: string, specs: Parameters<typeof engineProject>[0]['specs'], hosts = pool.hosts.map((h) => h.entry)): string {
  const dir = engineProject({ specs, extra: { project, executor: { kind: 'ssh', hosts, checkSeconds: 0.3, lostAfterChecks: 2, timeoutSeconds: 10 } } });
  writeFileSync(join(dir, '.gitignore'), '.codex/\ntrace.jsonl\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'start');
  return dir;
}

/** Changes the config's SSH hosts as a person would mid-run (rename, remove). */
function editHosts(dir: string, edit: (hosts: Record<string, unknown>[]) => Record<string, unknown>[]): void {
  const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
  cfg.executor.hosts = edit(cfg.executor.hosts);
  writeFileSync(configPathOf(dir), `${JSON.stringify(cfg, null, 2)}\n`);
}

async function waitFor(ok: () => boolean, ms: number, what: string, debug?: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${debug ? `: ${debug()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The bin, ended (SIGKILL) if it has not finished within `ms`: `run` must not wait forever. */
function within(dir: string, args: string[], ms: number): Promise<RunResult & { timedOut: boolean }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...env, FORCE_COLOR: '0', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, ms);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, timedOut });
    });
  });
}

const state = (dir: string) => (existsSync(statePathOf(dir)) ? readStateOf(dir) : undefined);
const runnerUp = (dir: string, id: string) => (state(dir)?.dispatch?.running?.[id]?.pid ?? 0) > 0;
const tmuxHas = (name: string) => spawnSync('tmux', ['-L', pool.tmuxSocket, 'has-session', '-t', `=${name}`]).status === 0;

/** Launches the specs with `run --no-wait` and waits until each one's agent works and its runner is on record. */
async function launched(dir: string, ids: string[]): Promise<void> {
  const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--no-wait'], { env });
  expect(r.code, r.stderr).toBe(0);
  await waitFor(() => ids.every((id) => starts(dir).some((s) => s.id === id)), 60_000, 'the agents');
  // `status` collects: the runner's pid comes home (adopted).
  await waitFor(() => (dispatch(dir, ['status'], { env }), ids.every((id) => runnerUp(dir, id))), 30_000, 'the runners on record');
}

/** The config as a person edits it mid-run: `h1` renamed to `renamed` (same address), `h2` removed; specs follow. */
function renameH1RemoveH2(dir: string): void {
  const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
  cfg.executor.hosts = cfg.executor.hosts.filter((h: { name: string }) => h.name !== 'h2').map((h: { name: string }) => ({ ...h, name: 'renamed' }));
  for (const sp of cfg.specs) sp.runOn = 'renamed';
  writeFileSync(configPathOf(dir), JSON.stringify(cfg, null, 2));
}

describe.skipIf(!sshAvailable)('a host renamed or removed in the config while its spec runs', () => {
  it('stop of a spec on a removed host ends its runner and agent there; retry then run starts one agent, not two', async () => {
    const dir = sshProject(`${TAG}a`, [{ id: '001', name: 'long', wave: 1, cost: 1, runOn: 'h2', body: 'sleep 60000\nwrite out/l.txt l\n' }]);
    await launched(dir, ['001']);
    const agent = starts(dir)[0]!;
    renameH1RemoveH2(dir);
    const s = dispatch(dir, ['stop', '001'], { env });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/001: stopped \(interrupted/);
    await waitFor(() => !pidAlive(agent.pid), 20_000, 'the agent to end');
    expect(readStateOf(dir).dispatch.specs['001'].history[0]).toMatchObject({ state: 'failed', kind: 'interrupted' });
    // Run again by hand: exactly one agent at work at any moment.
    expect(dispatch(dir, ['retry'], { env }).code).toBe(0);
    writeFileSync(join(dir, '.auto-claude', 'specs', '001-long', 'spec.md'), 'write out/l.txt l\n');
    const r = await within(dir, ['run', '--yes', '--no-plan', '--spec', '001'], 90_000);
    expect(r.timedOut, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(readStateOf(dir).completed).toEqual(['001']);
    expect(starts(dir).filter((x) => pidAlive(x.pid))).toEqual([]);
  }, 180_000);

  it('run collects specs whose host was renamed or removed where they are (never discarded, never waited on forever)', async () => {
    const dir = sshProject(`${TAG}b`, [
      { id: '001', name: 'renamed', wave: 1, cost: 1, runOn: 'h1', body: 'sleep 15000\nwrite out/r.txt renamed\n' },
      { id: '002', name: 'removed', wave: 1, cost: 1, runOn: 'h2', body: 'sleep 15000\nwrite out/a.txt away\n' },
    ]);
    await launched(dir, ['001', '002']);
    renameH1RemoveH2(dir);
    // attach and logs reach each where it is.
    const a = dispatch(dir, ['attach', '002', '--print'], { env });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain(`-p ${pool.hosts[1]!.port} `);
    expect(dispatch(dir, ['logs', '001'], { env }).stdout).toMatch(/succeed: working on 001/);
    const r = await within(dir, ['run', '--yes', '--no-plan'], 90_000);
    expect(r.timedOut, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/discarded/);
    const st = readStateOf(dir);
    expect(st.completed.sort()).toEqual(['001', '002']);
    for (const id of ['001', '002']) expect(st.dispatch.specs[id].history).toHaveLength(1);
    expect(git(dir, 'show', 'dispatch/001:out/r.txt')).toBe('renamed\n');
    expect(git(dir, 'show', 'dispatch/002:out/a.txt')).toBe('away\n');
    expect(starts(dir)).toHaveLength(2);
  }, 180_000);
});

describe.skipIf(!sshAvailable)('a removed host that stops answering', () => {
  it('its run is given up and relaunched; when it answers again, what it still runs of that attempt is stopped there', async () => {
    const gates = tempDir('gates-');
    const dir = sshProject(`${TAG}r`, [{ id: '001', name: 'away', wave: 1, cost: 1, runOn: 'h2', body: `wait ${join(gates, 'go')}\nwrite out/w.txt w\n` }]);
    await launched(dir, ['001']);
    const first = starts(dir)[0]!;
    // h2 leaves the config (the spec now runs on h1), then stops answering.
    renameH1RemoveH2(dir);
    pool.hosts[1]!.pause();
    const run = within(dir, ['run', '--yes', '--no-plan'], 150_000);
    try {
      await waitFor(() => starts(dir).length === 2, 90_000, 'the relaunch on h1', () => JSON.stringify(state(dir)?.dispatch));
      expect(state(dir)!.dispatch.recheck).toBeDefined();
    } finally {
      pool.hosts[1]!.resume();
    }
    // Back: the run checks it again and stops what it still runs of the attempt given up.
    await waitFor(() => !pidAlive(first.pid), 60_000, 'the given-up agent on h2 to be stopped');
    writeFileSync(join(gates, 'go'), '');
    const r = await run;
    expect(r.timedOut, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const st = readStateOf(dir);
    expect(st.completed).toEqual(['001']);
    expect(st.dispatch.recheck).toBeUndefined();
    expect(st.dispatch.specs['001'].history.map((h: { kind?: string }) => h.kind)).toEqual(['lost', 'done']);
  }, 240_000);
});

describe.skipIf(!sshAvailable)('tmux session names on a shared host', () => {
  it('ids 1_0 and 1.0 of one project, and project a-b spec c beside project a spec b-c, all run side by side', async () => {
    const one = sshProject(`${TAG}c`, [
      { id: '1_0', name: 'u', wave: 1, cost: 1, runOn: 'h1', body: 'sleep 6000\nwrite out/u.txt u\n' },
      { id: '1.0', name: 'd', wave: 1, cost: 1, runOn: 'h1', body: 'sleep 6000\nwrite out/d.txt d\n' },
    ]);
    const ab = sshProject(`${TAG}-b`, [{ id: 'c', name: 'x', wave: 1, cost: 1, runOn: 'h2', body: 'sleep 6000\nwrite out/x.txt x\n' }]);
    const a = sshProject(TAG, [{ id: 'b-c', name: 'y', wave: 1, cost: 1, runOn: 'h2', body: 'sleep 6000\nwrite out/y.txt y\n' }]);
    const runs = await Promise.all([one, ab, a].map((d) => within(d, ['run', '--yes', '--no-plan'], 120_000)));
    for (const r of runs) {
      expect(r.timedOut, r.stderr).toBe(false);
      expect(r.stderr).not.toMatch(/duplicate session/);
      expect(r.code, r.stderr).toBe(0);
    }
    expect(readStateOf(one).completed.sort()).toEqual(['1.0', '1_0']);
    expect(readStateOf(ab).completed).toEqual(['c']);
    expect(readStateOf(a).completed).toEqual(['b-c']);
    for (const d of [one, ab, a]) for (const rec of Object.values(readStateOf(d).dispatch.specs) as { history: unknown[] }[]) expect(rec.history).toHaveLength(1);
  }, 180_000);

  it('a stale run is discarded without ending a session of the same name that it did not start', async () => {
    const project = `${TAG}d`;
    const dir = sshProject(project, [{ id: '001', name: 'quick', wave: 1, cost: 1, runOn: 'h1', body: 'write out/q.txt q\n' }]);
    // A run folder left on h1 by a launch that never started its session (as when tmux refused a taken name) ...
    const label = `${project}-009-1`;
    const run = join(await hostBase(dir, pool.hosts[0]!.entry), 'runs', label);
    mkdirSync(join(run, 'state'), { recursive: true });
    writeFileSync(join(run, 'job.json'), JSON.stringify({ label, id: '009', attempt: 1, host: 'h1', base: '0'.repeat(40), project, worktree: join(run, 'wt'), config: { stateDir: join(run, 'state') } }));
    // ... and someone else's healthy session under that very name.
    expect(spawnSync('tmux', ['-L', pool.tmuxSocket, 'new-session', '-d', '-s', label, '--', 'sleep', '600']).status).toBe(0);
    try {
      const r = await within(dir, ['run', '--yes', '--no-plan'], 90_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`stopped and discarded ${label}`));
      expect(existsSync(run)).toBe(false);
      expect(tmuxHas(label)).toBe(true);
    } finally {
      spawnSync('tmux', ['-L', pool.tmuxSocket, 'kill-session', '-t', `=${label}`]);
    }
  }, 120_000);
});

/** Turns a running entry and its run into what the previous version left: no place, the session named by the label. */
function asPreviousVersion(dir: string, id: string): string {
  const file = statePathOf(dir);
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  const r = doc.dispatch.running[id];
  const { place } = r;
  // (Already in that shape when this version records no place.)
  if (!place) return `${JSON.parse(readFileSync(configPathOf(dir), 'utf8')).project}-${id}-${r.attempt}`.replace(/[.:]/g, '_');
  delete r.place;
  writeFileSync(file, JSON.stringify(doc, null, 2));
  const legacy = place.label.replace(/[.:]/g, '_');
  expect(spawnSync('tmux', ['-L', pool.tmuxSocket, 'rename-session', '-t', `=${place.session}`, legacy]).status).toBe(0);
  rmSync(join(place.base, 'runs', place.label, 'session'), { force: true });
  // That version kept a project's runs in `.dispatch/<project>`: reached there (a link to where this one put them).
  const old = join(dirname(place.base), JSON.parse(readFileSync(configPathOf(dir), 'utf8')).project);
  if (!existsSync(old)) symlinkSync(place.base, old);
  return legacy;
}

describe.skipIf(!sshAvailable)('runs recorded by the previous version', () => {
  it('status, attach, logs and stop reach them; after a rename of their host too', async () => {
    const project = `${TAG}e`;
    const dir = sshProject(project, [
      { id: '001', name: 'old', wave: 1, cost: 1, runOn: 'h1', body: 'sleep 60000\n' },
      { id: '002', name: 'old2', wave: 1, cost: 1, runOn: 'h1', body: 'sleep 60000\n' },
    ]);
    await launched(dir, ['001', '002']);
    const legacy = asPreviousVersion(dir, '001');
    const legacy2 = asPreviousVersion(dir, '002');
    expect(readStateOf(dir).dispatch.running['001'].place).toBeUndefined();
    const st = dispatch(dir, ['status'], { env });
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/001.*running/);
    const a = dispatch(dir, ['attach', '001', '--print'], { env });
    expect(a.stdout).toMatch(new RegExp(`attach-session -t =${legacy}'\\n$`));
    const l = dispatch(dir, ['logs', '001'], { env });
    expect(l.stdout).toMatch(/succeed: working on 001/);
    const s = dispatch(dir, ['stop', '001'], { env });
    expect(s.code, s.stderr).toBe(0);
    await waitFor(() => !tmuxHas(legacy), 20_000, 'its session to end');
    await waitFor(() => !pidAlive(starts(dir).find((x) => x.id === '001')!.pid), 20_000, 'its agent to end');
    // 002 was found where it runs (by the status above): a rename of its host now does not lose it.
    renameH1RemoveH2(dir);
    const a2 = dispatch(dir, ['attach', '002', '--print'], { env });
    expect(a2.code, a2.stderr).toBe(0);
    expect(a2.stdout).toMatch(new RegExp(`attach-session -t =${legacy2}'\\n$`));
    const s2 = dispatch(dir, ['stop', '002'], { env });
    expect(s2.code, s2.stderr).toBe(0);
    await waitFor(() => !tmuxHas(legacy2), 20_000, 'its session to end');
    await waitFor(() => !pidAlive(starts(dir).find((x) => x.id === '002')!.pid), 20_000, 'its agent to end');
    expect(readStateOf(dir).dispatch.specs['002'].history[0]).toMatchObject({ kind: 'interrupted' });
  }, 180_000);

  it('one on a host no longer in the config: stop refuses (nothing recorded), run says it cannot be reached and ends', async () => {
    const project = `${TAG}f`;
    const dir = sshProject(project, [{ id: '001', name: 'lost', wave: 1, cost: 1, runOn: 'h1', body: 'sleep 60000\n' }]);
    await launched(dir, ['001']);
    asPreviousVersion(dir, '001');
    editHosts(dir, (hosts) => hosts.filter((h) => h.name !== 'h1'));
    const cfg = JSON.parse(readFileSync(configPathOf(dir), 'utf8'));
    delete cfg.specs[0].runOn;
    writeFileSync(configPathOf(dir), JSON.stringify(cfg, null, 2));
    const before = readFileSync(statePathOf(dir), 'utf8');
    const s = dispatch(dir, ['stop', '001'], { env });
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/001 runs on SSH host h1, which is no longer in the config.*cannot be reached/);
    expect(s.stderr).not.toMatch(/stopped|bug/);
    expect(readStateOf(dir).dispatch.running['001']).toEqual(JSON.parse(before).dispatch.running['001']);
    const r = await within(dir, ['run', '--yes', '--no-plan'], 60_000);
    expect(r.timedOut, r.stderr).toBe(false);
    const after = readStateOf(dir);
    expect(after.failed).toEqual(['001']);
    expect(after.dispatch.specs['001'].reason).toMatch(/cannot be reached/);
    // Not relaunched: its runner may still work where dispatch cannot reach.
    expect(starts(dir)).toHaveLength(1);
  }, 180_000);
});
