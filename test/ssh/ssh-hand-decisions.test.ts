// Decisions by hand while a spec runs on an SSH host, against real sshd hosts:
// reset and retry ask the host before letting a second agent start; a spec
// marked done or failed while its agent works lets it finish, and its work
// and attempt still come home (as a local runner's do); a spec stopped while
// its launch is still on its way to a slow host never starts an agent.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, dispatch, dispatchAsync, tempDir } from '../helpers.js';
import { engineProject, pidAlive, starts } from '../fixtures/engine.js';
import { git } from '../fixtures/git.js';
import { gated as gatedOn, launched, sshEnv as env, sshProject as sshProjectOn, stateIn as state, waitFor } from '../fixtures/ssh-project.js';
import { processesIn, sshAvailable, startPool, type SshPool } from '../fixtures/sshd.js';

let pool: SshPool;
const TAG = `shd${Math.random().toString(36).slice(2, 7)}`;

beforeAll(async () => {
  if (sshAvailable) pool = await startPool(1, { slots: [3] });
}, 60_000);
afterAll(() => {
  pool?.stop();
});

const sshProject = (project: string, specs: Parameters<typeof engineProject>[0]['specs'], host: Record<string, unknown> = pool.hosts[0]!.entry, timeoutSeconds = 10) => sshProjectOn(project, specs, [host], timeoutSeconds);

/** A spec whose agent works until the test lets it go (`<gates>/<id>`), then leaves its work in out/<id>.txt. */
const gated = (id: string, gates: string) => gatedOn(id, join(gates, id));

describe.skipIf(!sshAvailable)('decisions by hand while a spec runs on an SSH host', () => {
  it('reset --spec is refused while its agent works there, and goes through once its run has ended', async () => {
    const gates = tempDir('gates-');
    const dir = sshProject(`${TAG}a`, [gated('001', gates)]);
    const agent = await launched(dir, '001');
    const r = dispatch(dir, ['reset', '--spec', '001'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/001 is running; nothing was changed/);
    expect(r.stderr).toMatch(/dispatch stop 001/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(state(dir)!.dispatch.running['001']).toBeDefined();
    expect(pidAlive(agent.pid)).toBe(true);
    writeFileSync(join(gates, '001'), '');
    await waitFor(() => (dispatch(dir, ['status'], { env }), state(dir)!.completed.includes('001')), 60_000, 'its verdict');
    const again = dispatch(dir, ['reset', '--spec', '001'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/001: done → pending/);
  }, 180_000);

  it('reset is refused while the host does not answer, and says so', async () => {
    const gates = tempDir('gates-');
    const dir = sshProject(`${TAG}b`, [gated('001', gates)], pool.hosts[0]!.entry, 3);
    await launched(dir, '001');
    pool.hosts[0]!.pause();
    try {
      const t0 = Date.now();
      const r = dispatch(dir, ['reset', '--spec', '001'], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/001 is running; nothing was changed/);
      // Within the time limits (3 s per call), not held by the silent host.
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(state(dir)!.dispatch.running['001']).toBeDefined();
    } finally {
      pool.hosts[0]!.resume();
    }
    writeFileSync(join(gates, '001'), '');
    await waitFor(() => (dispatch(dir, ['status'], { env }), state(dir)!.completed.includes('001')), 60_000, 'its verdict');
  }, 180_000);

  it('mark-done while the agent works: it finishes, its work is fetched, its attempt closed, and merge lands it', async () => {
    const gates = tempDir('gates-');
    const dir = sshProject(`${TAG}c`, [{ ...gated('001', gates), mode: 'isolated' }]);
    const agent = await launched(dir, '001');
    const m = dispatch(dir, ['mark-done', '001'], { env });
    expect(m.code, m.stderr).toBe(0);
    // Its agent goes on (as a local one does): the decision is about the state, not the work.
    await new Promise((r) => setTimeout(r, 3000));
    dispatch(dir, ['status'], { env });
    expect(pidAlive(agent.pid)).toBe(true);
    expect(state(dir)!.dispatch.outlived['001']).toMatchObject({ attempt: 1, host: 'h1' });
    // Seen, read and watched where it works.
    const st0 = dispatch(dir, ['status'], { env });
    expect(st0.stdout).toMatch(/decided by hand, agent still at work:\n\s+001\s+done\s+on h1, attempt 1/);
    expect(JSON.parse(dispatch(dir, ['--json', 'status'], { env }).stdout).outlived).toEqual([expect.objectContaining({ id: '001', state: 'done', host: 'h1', attempt: 1 })]);
    expect(dispatch(dir, ['logs', '001'], { env }).stdout).toMatch(/succeed: working on 001/);
    const at = dispatch(dir, ['attach', '001', '--print'], { env });
    expect(at.code, at.stderr).toBe(0);
    expect(at.stdout).toContain(`tmux -L ${pool.tmuxSocket} attach-session`);
    // A relaunch now would start a second agent beside it.
    const reset = dispatch(dir, ['reset', '--spec', '001'], { env });
    expect(reset.code).toBe(1);
    expect(reset.stderr).toMatch(/001 was decided by hand while its agent still works on SSH host h1; nothing was changed/);
    writeFileSync(join(gates, '001'), '');
    await waitFor(() => (dispatch(dir, ['status'], { env }), !state(dir)!.dispatch.outlived), 60_000, 'its run to come home', () => JSON.stringify(state(dir)!.dispatch));
    const st = state(dir)!;
    expect(st.completed).toEqual(['001']);
    expect(st.dispatch.specs['001'].kind).toBe('manual');
    expect(st.dispatch.specs['001'].history).toHaveLength(1);
    expect(st.dispatch.specs['001'].history[0]).toMatchObject({ n: 1, state: 'done', kind: 'done' });
    expect(st.dispatch.specs['001'].history[0].endedAt).toBeDefined();
    expect(git(dir, 'show', 'dispatch/001:out/001.txt')).toBe('work of 001\n');
    // The log came home too.
    expect(readFileSync(join(dir, '.codex', 'logs', '001.attempt-1.log'), 'utf8')).toMatch(/succeed: all done/);
    const mg = dispatch(dir, ['merge', '001'], { env });
    expect(mg.code, mg.stderr).toBe(0);
    expect(readFileSync(join(dir, 'out', '001.txt'), 'utf8')).toBe('work of 001\n');
    // Cleaned off the host with the next check.
    await waitFor(() => (dispatch(dir, ['status'], { env }), processesIn(join(pool.hosts[0]!.dir, '.dispatch', `${TAG}c`)).length === 0), 30_000, 'the host to be clean');
  }, 180_000);

  it('the same decision on a local run closes the attempt the same way', async () => {
    const gates = tempDir('gates-');
    const dir = engineProject({ specs: [gated('001', gates)] });
    const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--no-wait'], { env });
    expect(r.code, r.stderr).toBe(0);
    await waitFor(() => starts(dir).length > 0 && (state(dir)?.dispatch?.running?.['001']?.pid ?? 0) > 0, 60_000, 'the agent');
    expect(dispatch(dir, ['mark-done', '001'], { env }).code).toBe(0);
    writeFileSync(join(gates, '001'), '');
    await waitFor(() => state(dir)!.dispatch.specs['001'].history[0].endedAt !== undefined, 60_000, 'the attempt to close');
    const st = state(dir)!;
    expect(st.completed).toEqual(['001']);
    expect(st.dispatch.specs['001'].kind).toBe('manual');
    expect(st.dispatch.specs['001'].history[0]).toMatchObject({ n: 1, state: 'done', kind: 'done' });
  }, 120_000);

  it('mark-failed while the agent works: retry is refused; stop ends its agent there; then retry and run start one agent', async () => {
    const gates = tempDir('gates-');
    const dir = sshProject(`${TAG}d`, [gated('001', gates)]);
    const agent = await launched(dir, '001');
    expect(dispatch(dir, ['mark-failed', '001'], { env }).code).toBe(0);
    const retry = dispatch(dir, ['retry'], { env });
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(/001 was decided by hand while its agent still works on SSH host h1/);
    expect(state(dir)!.failed).toEqual(['001']);
    const s = dispatch(dir, ['stop', '001'], { env });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/001: stopped \(its agent on h1 was ended; it stays failed, as decided by hand\)/);
    await waitFor(() => !pidAlive(agent.pid), 20_000, 'the agent to end');
    const st = state(dir)!;
    expect(st.dispatch.outlived).toBeUndefined();
    expect(st.dispatch.specs['001'].history[0]).toMatchObject({ state: 'failed', kind: 'interrupted' });
    expect(st.dispatch.specs['001'].kind).toBe('manual');
    expect(dispatch(dir, ['retry'], { env }).code).toBe(0);
    writeFileSync(join(gates, '001'), '');
    const run = await dispatchAsync(dir, ['run', '--yes', '--no-plan', '--spec', '001'], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(state(dir)!.completed).toEqual(['001']);
    expect(starts(dir)).toHaveLength(2);
    expect(starts(dir).filter((x) => pidAlive(x.pid))).toEqual([]);
  }, 240_000);

  it('stop of a spec still launching on a slow host: no agent ever starts there', async () => {
    // The host's dispatch takes 4 s to answer `remote start` (a slow disk, a busy machine).
    const bin = tempDir('slowhost-');
    const script = join(bin, 'dispatch');
    writeFileSync(script, `#!/bin/sh\nif [ "$1" = remote ] && [ "$2" = start ]; then sleep 4; fi\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(script, 0o755);
    mkdirSync(join(bin, 'x'), { recursive: true });
    const gates = tempDir('gates-');
    writeFileSync(join(gates, '001'), '');
    const dir = sshProject(`${TAG}e`, [gated('001', gates)], { ...pool.hosts[0]!.entry, dispatch: [script] });
    // --no-wait: no dispatcher stays to collect (and discard) what a start let through after the stop.
    const child = spawn(process.execPath, [BIN, 'run', '--yes', '--no-plan', '--no-wait'], { cwd: dir, env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const ended = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    await waitFor(() => !!state(dir)?.dispatch?.running?.['001'], 30_000, 'the launch on record');
    const s = dispatch(dir, ['stop', '001'], { env });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/001: stopped \(interrupted/);
    const code = await Promise.race([ended, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000))]);
    expect(code, err).not.toBe('still running');
    // Long enough for a start that was let through to have started its agent.
    await new Promise((r) => setTimeout(r, 6000));
    expect(starts(dir)).toEqual([]);
    const st = state(dir)!;
    expect(st.failed).toEqual(['001']);
    expect(st.dispatch.specs['001'].kind).toBe('interrupted');
    expect(st.dispatch.specs['001'].history).toHaveLength(1);
    expect(st.dispatch.specs['001'].history[0]).toMatchObject({ state: 'failed', kind: 'interrupted' });
    // Nothing of this project's runs left working there (other tests' runs share the host).
    expect(processesIn(join(pool.hosts[0]!.dir, '.dispatch', `${TAG}e`))).toEqual([]);
  }, 180_000);
});
