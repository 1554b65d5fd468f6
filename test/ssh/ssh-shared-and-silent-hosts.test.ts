// SSH hosts shared by two checkouts of one project, and hosts that stop
// answering while a person decides by hand, against real sshd hosts: neither
// checkout ever touches the other's runs; a stop whose host does not answer is
// said as given up (never a silent "stopped") and what still runs there is
// stopped when it answers again; a run decided by hand on a host that is gone
// for good can still be given up.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatch, dispatchAsync, tempDir } from '../helpers.js';
import { pidAlive, type engineProject } from '../fixtures/engine.js';
import { git } from '../fixtures/git.js';
import { gated, launched, sshEnv as env, sshProject as sshProjectOn, stateIn as state, waitFor } from '../fixtures/ssh-project.js';
import { sshAvailable, startPool, type SshPool } from '../fixtures/sshd.js';

let pool: SshPool;
const TAG = `sss${Math.random().toString(36).slice(2, 7)}`;

beforeAll(async () => {
  if (sshAvailable) pool = await startPool(2, { slots: [3, 3] });
}, 60_000);
afterAll(() => {
  pool?.stop();
});

const sshProject = (project: string, specs: Parameters<typeof engineProject>[0]['specs'], hosts = [pool.hosts[0]!.entry]) => sshProjectOn(project, specs, hosts, 3);

describe.skipIf(!sshAvailable)('two checkouts of one project on one host', () => {
  it("neither's status or run touches the other's run of the same spec; each records its own work", async () => {
    const gates = tempDir('gates-');
    const a = sshProject(TAG, [gated('001', join(gates, 'a'), 'A work')]);
    // B: a clone of A, its spec asking for other work (uncommitted edits travel).
    const b = join(tempDir('clone-'), 'b');
    cpSync(a, b, { recursive: true });
    rmSync(join(b, '.codex'), { recursive: true, force: true });
    rmSync(join(b, 'trace.jsonl'), { force: true });
    // Its stand-in agents trace into B's own folder.
    const cfg = join(b, 'specs.config.json');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').split(a).join(b));
    git(b, 'commit', '-q', '-am', 'b');
    writeFileSync(join(b, '.auto-claude', 'specs', '001-g001', 'spec.md'), `wait ${join(gates, 'b')}\nwrite out/001.txt B work\n`);
    const agentA = await launched(a, '001');
    const agentB = await launched(b, '001');
    expect(dispatch(b, ['status'], { env }).code).toBe(0);
    expect(dispatch(a, ['status'], { env }).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(pidAlive(agentA.pid)).toBe(true);
    expect(pidAlive(agentB.pid)).toBe(true);
    expect(state(a)!.dispatch.running['001'].pid).not.toBe(state(b)!.dispatch.running['001'].pid);
    writeFileSync(join(gates, 'b'), '');
    await waitFor(() => (dispatch(b, ['status'], { env }), state(b)!.completed.includes('001')), 60_000, "B's verdict");
    // A's run goes on, untouched by B's collect and cleanup.
    dispatch(a, ['status'], { env });
    expect(state(a)!.dispatch.running['001']).toBeDefined();
    expect(pidAlive(agentA.pid)).toBe(true);
    writeFileSync(join(gates, 'a'), '');
    await waitFor(() => (dispatch(a, ['status'], { env }), state(a)!.completed.includes('001')), 60_000, "A's verdict");
    expect(git(a, 'show', 'dispatch/001:out/001.txt')).toBe('A work\n');
    expect(git(b, 'show', 'dispatch/001:out/001.txt')).toBe('B work\n');
    for (const d of [a, b]) expect(state(d)!.dispatch.specs['001'].history).toHaveLength(1);
  }, 240_000);
});

describe.skipIf(!sshAvailable)('a host that does not answer while a person decides', () => {
  it('it does not hold status, logs, stop or reset about a spec on another host (the default 20 s time limit)', async () => {
    const gates = tempDir('gates-');
    const dir = sshProjectOn(`${TAG}h`, [{ ...gated('001', join(gates, 'a')), runOn: 'h1' }, { ...gated('002', join(gates, 'b')), runOn: 'h2' }], pool.hosts.map((h) => h.entry), 20);
    await launched(dir, '001');
    await waitFor(() => (dispatch(dir, ['status'], { env }), (state(dir)?.dispatch?.running?.['002']?.pid ?? 0) > 0), 60_000, '002 on record');
    pool.hosts[1]!.pause();
    const times: Record<string, number> = {};
    try {
      for (const args of [['status'], ['logs', '001'], ['stop', '001'], ['reset', '--spec', '001']]) {
        const t0 = Date.now();
        const r = await dispatchAsync(dir, args, { env });
        times[args.join(' ')] = Date.now() - t0;
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
    } finally {
      pool.hosts[1]!.resume();
      writeFileSync(join(gates, 'a'), '');
      writeFileSync(join(gates, 'b'), '');
    }
    console.log(`one host paused: ${Object.entries(times).map(([k, v]) => `${k} ${v} ms`).join(', ')}`);
    // Within a reader's limit on the silent host (8 s) and a little: never its 20 s time limit, let alone several.
    for (const [what, ms] of Object.entries(times)) expect(ms, what).toBeLessThan(15_000);
    expect(times['stop 001']).toBeLessThan(8_000);
  }, 180_000);

  it('stop says the run was given up, not stopped; when the host answers again, its agent there is stopped', async () => {
    const gates = tempDir('gates-');
    const dir = sshProject(`${TAG}s`, [gated('001', join(gates, 'x'))], [pool.hosts[1]!.entry]);
    const agent = await launched(dir, '001');
    pool.hosts[1]!.pause();
    let s;
    try {
      s = dispatch(dir, ['stop', '001'], { env });
    } finally {
      pool.hosts[1]!.resume();
    }
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/001: given up \(interrupted\): .*what still runs there is stopped when it answers again/);
    expect(s.stdout).not.toMatch(/001: stopped/);
    expect(state(dir)!.dispatch.specs['001'].kind).toBe('interrupted');
    // The host is taken out of the config: its place is still checked, and what it runs of that attempt stopped.
    const cfgFile = join(dir, 'specs.config.json');
    const cfg = JSON.parse(String(spawnSync('cat', [cfgFile]).stdout));
    cfg.executor.hosts = [pool.hosts[0]!.entry];
    writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    expect(state(dir)!.dispatch.recheck).toBeDefined();
    expect(dispatch(dir, ['retry'], { env }).code).toBe(0);
    // The next attempt has nothing to wait for; the given-up one still waits on its gate, which never opens.
    writeFileSync(join(dir, '.auto-claude', 'specs', '001-g001', 'spec.md'), 'write out/001.txt again\n');
    try {
      const r = await dispatchAsync(dir, ['run', '--yes', '--no-plan'], { env });
      expect(r.code, r.stderr).toBe(0);
      await waitFor(() => !pidAlive(agent.pid), 30_000, 'the given-up agent to be stopped');
      expect(state(dir)!.completed).toEqual(['001']);
      expect(state(dir)!.dispatch.recheck).toBeUndefined();
    } finally {
      writeFileSync(join(gates, 'x'), '');
    }
  }, 240_000);

  it('a spec marked done whose host is gone for good: stop gives its run up, and reset works again', async () => {
    const gates = tempDir('gates-');
    const dir = sshProject(`${TAG}g`, [gated('001', join(gates, 'x'))], [pool.hosts[1]!.entry]);
    await launched(dir, '001');
    expect(dispatch(dir, ['mark-done', '001'], { env }).code).toBe(0);
    pool.hosts[1]!.pause();
    try {
      const reset = dispatch(dir, ['reset', '--spec', '001'], { env });
      expect(reset.code).toBe(1);
      expect(reset.stderr).toMatch(/did not answer/);
      const s = dispatch(dir, ['stop', '001'], { env });
      expect(s.code, s.stderr).toBe(0);
      expect(s.stdout).toMatch(/001: given up \(interrupted\)/);
      const st = state(dir)!;
      expect(st.dispatch.outlived).toBeUndefined();
      expect(st.completed).toEqual(['001']);
      expect(st.dispatch.specs['001'].history[0]).toMatchObject({ state: 'failed', kind: 'interrupted' });
      const again = dispatch(dir, ['reset', '--spec', '001'], { env });
      expect(again.code, again.stderr).toBe(0);
    } finally {
      pool.hosts[1]!.resume();
      writeFileSync(join(gates, 'x'), '');
    }
  }, 180_000);
});
