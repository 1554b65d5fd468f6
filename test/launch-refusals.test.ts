// Launches that can never work fail once (not for ever), a dry run of a later wave shows it and
// what blocks it instead of failing, watch-handoff says what it waits for, logs.keep, and reset
// of running specs (with --discard).
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStateOf, tempDir, dispatchIn } from './helpers.js';
import { GIT_ENV, gitOk, commitAll } from './fixtures/git.js';
import { AGENTS, NODE, engineProject, journal, live, pidAlive, starts, tracePath, waitFor } from './fixtures/engine.js';

const run = (dir: string, ...args: string[]) => dispatchIn(dir, args);
const errLines = (s: string) => s.trimEnd().split('\n');

describe('launches that can never work', () => {
  it('are refused by the preflight: a missing agent binary and a missing spec.md (in a later wave) are both named, nothing launched', async () => {
    const dir = engineProject({
      specs: [{ id: '000', name: 'fine', wave: 0 }, { id: '001', name: 'nobin', wave: 1, agent: 'ghost' }, { id: '002', name: 'nospec', wave: 2 }],
      agents: { ghost: { command: ['/nonexistent/agent-binary', '{specFile}'], prompt: 'none' } },
    });
    rmSync(join(dir, '.auto-claude', 'specs', '002-nospec', 'spec.md'));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(errLines(r.stderr)).toEqual([
      "FAIL  spec files   no spec.md in the folder of 002 — each spec needs .auto-claude/specs/<id>-<name>/spec.md ('dispatch list' shows the folders expected)",
      "FAIL  ghost        '/nonexistent/agent-binary' is not an executable file (used by 001) — install it, or fix agents.ghost.command in the config",
      "dispatch: 2 problems found before launching anything; nothing launched — fix them, then run again ('dispatch run --dry-run' shows every check)",
    ]);
    expect(readStateOf(dir)).toBeUndefined();
    expect(starts(dir)).toEqual([]);
    // The dry run shows the same checks, and exits 1 for them.
    const d = await run(dir, 'run', '--dry-run');
    expect(d.code).toBe(1);
    expect(d.stdout).toContain("  FAIL  ghost        '/nonexistent/agent-binary' is not an executable file (used by 001)");
    expect(d.stdout).toMatch(/^ {2}ok {4}multiplexer {2}headless/m);
    // And doctor, which said all was well with a missing custom agent binary.
    const doc = await run(dir, 'doctor');
    expect(doc.code).toBe(1);
    expect(doc.stdout).toMatch(/^FAIL {2}ghost {8}'\/nonexistent\/agent-binary' is not an executable file/m);
    expect(doc.stdout).toMatch(/^FAIL {2}spec files {3}no spec\.md in the folder of 002/m);
  });

  it('a binary or spec.md gone after the preflight (removed by an earlier wave): each fails once, with the reason, never relaunched', async () => {
    const dir = engineProject({
      specs: [
        { id: '000', name: 'remover', wave: 0, body: 'remove ghost-agent\nremove .auto-claude/specs/002-nospec/spec.md\n' },
        { id: '001', name: 'nobin', wave: 1, agent: 'ghost' },
        { id: '002', name: 'nospec', wave: 1 },
      ],
      extra: { retry: { maxAttempts: 3 } },
      agents: { ghost: { command: ['__DIR__/ghost-agent', '{specFile}'], prompt: 'none' } },
    });
    const ghost = join(dir, 'ghost-agent');
    writeFileSync(ghost, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const cfgFile = join(dir, 'specs.config.json');
    writeFileSync(cfgFile, readFileSync(cfgFile, 'utf8').replace('__DIR__/ghost-agent', ghost));
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/relaunching/);
    expect(r.stdout).toContain(`failed 001: cannot start '${ghost}': not found`);
    expect(r.stdout).toMatch(/failed 002: no spec\.md at /);
    const st = readStateOf(dir);
    expect(st.completed).toEqual(['000']);
    expect([st.dispatch.specs['001'].kind, st.dispatch.specs['002'].kind]).toEqual(['launch-error', 'launch-error']);
    expect(journal(dir).filter((e) => e.to === 'running').map((e) => e.spec).sort()).toEqual(['000', '001', '002']);
    expect(starts(dir).map((e) => e.id)).toEqual(['000']);
  });
});

describe('a dry run of a later wave', () => {
  it('shows what the wave would launch and names what blocks it now: exit 0, nothing changed', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'first', wave: 1 }, { id: '002', name: 'second', wave: 2, dependsOn: ['001'] }] });
    const r = await run(dir, 'run', '--wave', '2', '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wave 2 — 1 launch, pacing 0 s$/m);
    expect(r.stdout).toMatch(/002-second/);
    expect(r.stdout).toMatch(/^blocked now: wave 2 cannot start: 001 \(wave 1: pending\) — run wave 1 first \('dispatch run --wave 1 --yes'\)/m);
    const j = JSON.parse((await run(dir, '--json', 'run', '--wave', '2', '--dry-run')).stdout);
    expect(j.blocked).toEqual({ wave: 2, blockers: [{ id: '001', wave: 1, state: 'pending' }] });
    expect(j.waves[0].launches.map((l: { id: string }) => l.id)).toEqual(['002']);
    expect(readStateOf(dir)).toBeUndefined();
    // The real run is still refused.
    expect((await run(dir, 'run', '--wave', '2', '--yes', '--no-plan')).code).toBe(1);
  });
});

describe('watch-handoff says what it waits for', () => {
  it('names the unfinished specs and who drives the wave, again whenever that changes', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 1 }, { id: '003', name: 'c', wave: 2, dependsOn: ['001'] }] });
    expect((await run(dir, 'mark-done', '001')).code).toBe(0);
    const w = live(dir, ['watch-handoff', '--from-wave', '1', '--to-wave', '2', '--dry-run']);
    await waitFor('the first waiting line', () => w.stderr().includes('\n') || undefined, 15_000);
    expect(w.stderr()).toContain("waiting for wave 1: 1 pending (002), nobody is running it — start it with 'dispatch run --wave 1 --yes'\n");
    expect((await run(dir, 'mark-failed', '002')).code).toBe(0);
    await waitFor('the changed line', () => w.stderr().includes('1 failed (002)'), 15_000);
    expect(w.stderr()).toContain("waiting for wave 1: 1 failed (002), nobody is running it — 'dispatch retry' puts failed specs back, then 'dispatch run --wave 1 --yes'\n");
    expect((await run(dir, 'mark-done', '002')).code).toBe(0);
    const r = await w.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/^waiting for wave 1/gm)).toHaveLength(2);
    expect(r.stdout).toMatch(/003-c/);
  });
});

describe('logs.keep', () => {
  it('keeps only the newest launches\' logs of a spec', async () => {
    const dir = tempDir();
    engineProject({
      dir,
      specs: [{ id: '001', name: 'flaky', wave: 0, agent: 'flaky' }],
      extra: { retry: { maxAttempts: 3 }, logs: { keep: 2 } },
      agents: { flaky: { command: [NODE, join(AGENTS, 'fail-once.mjs'), tracePath(dir), '2'], prompt: 'none' } },
    });
    const r = await run(dir, 'run', '--yes', '--no-plan');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(readdirSync(join(dir, '.codex', 'logs')).sort()).toEqual(['001.attempt-2.log', '001.attempt-3.log', '001.log']);
    expect((await run(dir, 'logs', '001', '--attempt', '3')).stdout).toContain('fail-once: all 12 tests pass');
  });

  it('must be a whole number ≥ 1 (exit 2)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'a', wave: 0 }], extra: { logs: { keep: 0 } } });
    const r = await run(dir, 'list');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/logs\.keep: expected at least 1, got 0/);
  });
});

describe('reset and running specs, and --discard', () => {
  it('a spec whose runner is alive is not put back to pending (a second agent would start beside it): exit 1, nothing changed', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 0, agent: 'hang' }] });
    expect((await run(dir, 'run', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    await waitFor('the runner', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    // The runner's last write of its start (the agent's group): after it, nothing changes until the stop.
    await waitFor('the agent group on record', () => readStateOf(dir)?.dispatch?.running['001']?.agent);
    const before = readFileSync(join(dir, '.codex', 'dispatch-state.json'), 'utf8');
    for (const args of [['reset', '--spec', '001'], ['reset', '--yes']]) {
      const r = await run(dir, ...args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^dispatch: 001 is running; nothing was changed — stop it first with 'dispatch stop 001'\n$/);
    }
    expect(readFileSync(join(dir, '.codex', 'dispatch-state.json'), 'utf8')).toBe(before);
    expect((await run(dir, 'stop', '001')).code).toBe(0);
    expect((await run(dir, 'reset', '--spec', '001')).stdout).toBe('001: failed → pending\n');
  });

  it('a spec decided by hand while its runner still works is not put back to pending either, and says how to end it', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'h', wave: 0, agent: 'hang' }] });
    expect((await run(dir, 'run', '--yes', '--no-wait', '--no-plan')).code).toBe(0);
    const pid = await waitFor('the runner', () => readStateOf(dir)?.dispatch?.running['001']?.pid);
    await waitFor('the agent group on record', () => readStateOf(dir)?.dispatch?.running['001']?.agent);
    expect((await run(dir, 'mark-done', '001')).code).toBe(0);
    const r = await run(dir, 'reset', '--spec', '001');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`dispatch: 001 was decided by hand while its runner (pid ${pid}) is still at work; nothing was changed — a relaunch would start a second agent beside it: wait until it ends, or end it with 'kill ${pid}' (its agent stops with it)\n`);
    expect(readStateOf(dir).completed).toEqual(['001']);
    process.kill(pid, 'SIGTERM');
    await waitFor('the runner gone', () => !pidAlive(pid), 15_000);
    expect((await run(dir, 'reset', '--spec', '001')).stdout).toBe('001: done → pending\n');
  });

  it('reset --spec ID --discard throws away the worktree and branch dispatch made (asks; --yes skips)', async () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'iso', wave: 0, mode: 'isolated', body: 'write made.txt by the agent\n' }] });
    commitAll(dir);
    const gitRun = (...args: string[]) => dispatchIn(dir, args, { env: GIT_ENV });
    expect((await gitRun('run', '--yes', '--no-plan')).code).toBe(0);
    const wt = join(dir, '.codex', 'worktrees', '001');
    expect(existsSync(join(wt, 'made.txt'))).toBe(true);
    // Off a terminal, throwing work away needs --yes; nothing changes without it.
    const refused = await gitRun('reset', '--spec', '001', '--discard');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/needs confirmation — pass --yes/);
    expect(existsSync(wt)).toBe(true);
    const r = await gitRun('reset', '--spec', '001', '--discard', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`001: done → pending\n001: discarded ${wt} and the branch dispatch/001\n`);
    expect(existsSync(wt)).toBe(false);
    expect(gitOk(dir, 'rev-parse', '--verify', '--quiet', 'refs/heads/dispatch/001')).toBe(false);
    expect(readStateOf(dir).dispatch.specs['001']?.worktree).toBeUndefined();
    // Again: nothing to discard, said so.
    const again = await gitRun('reset', '--spec', '001', '--discard', '--yes');
    expect(again.stderr).toBe('001 has no worktree made by dispatch; nothing to discard\n');
    expect((await gitRun('reset', '--discard')).code).toBe(2);
  });
});
