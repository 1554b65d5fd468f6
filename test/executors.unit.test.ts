// What every local executor answers through the one interface: how a sentence
// names where runs go, whether its panes need our environment handed over, its
// own preflight line (installed, session running or to be created), and that a
// local run has nothing to collect, ask or reach.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { headlessMux } from '../src/executors/headless.js';
import { tmuxMux } from '../src/executors/tmux.js';
import { zellijMux } from '../src/executors/zellij.js';
import { emptyState } from '../src/state/doc.js';
import { tempDir } from './helpers.js';

const STANDIN = join(import.meta.dirname, 'fixtures/bin/zellij');
const config = () => resolveConfig({ project: 'exu', specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }] }, join(tempDir('exu'), 'specs.config.ts'));
const req = (more: { createSession?: boolean; doctor?: boolean } = {}) => ({ programs: ['codex'], ids: ['001'], doc: emptyState(), ...more });
const socket = `dispatch-exu-${process.pid}`;
afterAll(() => spawnSync('tmux', ['-L', socket, 'kill-server']));

describe('the headless executor', () => {
  it('says where runs go, needs no environment handed over, and its one check is ok', async () => {
    const c = await config();
    const h = headlessMux('exu', c);
    expect(h.describe).toEqual({ launchesIn: 'in the background (headless)', stillRunningIn: 'in the background' });
    expect(h.needsRunnerEnv).toBe(false);
    expect(h.remote).toBe(false);
    expect(await h.checks(req())).toEqual([{ name: 'multiplexer', status: 'ok', detail: 'headless (background processes; output in .codex/logs)' }]);
  });

  it('a local run is always reachable, has nothing to collect or ask, and finishes at once', async () => {
    const h = headlessMux('exu', await config());
    const r = { pid: 0, host: 'elsewhere', startedAt: '2026-12-07T10:00:00.000Z' };
    expect(h.unreachable('001', r)).toBeUndefined();
    expect(await h.collect({ command: 'status' })).toEqual([]);
    expect((await h.ask(() => true)).size).toBe(0);
    await expect(h.finish({ lastCheck: true })).resolves.toBeUndefined();
    // Another machine's runner (or one not reported in) is never signalled from here.
    expect(await h.stop('001', r, 'kill')).toEqual({ started: true });
    expect(await h.alive('001', r)).toBeUndefined();
  });
});

describe('the tmux executor', () => {
  it('names its session, hands the runner our environment, and creates a missing session itself', async () => {
    const c = await config();
    const t = tmuxMux('exu sess', { socket, rootDir: c.rootDir, config: c });
    expect(t.describe).toEqual({ launchesIn: "in tmux session 'exu sess'", stillRunningIn: 'in their tmux windows' });
    expect(t.needsRunnerEnv).toBe(true);
    // tmux makes a missing session itself (detached), whatever --create-session says.
    expect(await t.checks(req())).toEqual([{ name: 'multiplexer', status: 'ok', detail: "tmux session 'exu sess' will be created (detached)" }]);
    await t.ensureSession(false);
    expect(await t.checks(req())).toEqual([{ name: 'multiplexer', status: 'ok', detail: "tmux session 'exu sess' is running" }]);
  });

  it('not installed: its check fails with how to fix it', async () => {
    const c = await config();
    const t = tmuxMux('exu', { socket, rootDir: c.rootDir, config: c, bin: '/nonexistent/tmux' });
    expect(await t.checks(req())).toEqual([{ name: 'multiplexer', status: 'fail', detail: '/nonexistent/tmux is not installed', fix: 'install tmux (apt-get install -y tmux), or use --mux headless' }]);
  });
});

describe('the zellij executor', () => {
  const world = () => ({ ...process.env, ZELLIJ_STANDIN_DIR: tempDir('zw') });

  it('names its session and hands the runner our environment', async () => {
    const z = zellijMux('exu', STANDIN, await config());
    expect(z.describe).toEqual({ launchesIn: "in zellij session 'exu'", stillRunningIn: 'in their zellij panes' });
    expect(z.needsRunnerEnv).toBe(true);
  });

  it('a session that is not running fails a run, is a warning for doctor, and is fine with --create-session', async () => {
    const before = process.env.ZELLIJ_STANDIN_DIR;
    process.env.ZELLIJ_STANDIN_DIR = world().ZELLIJ_STANDIN_DIR;
    try {
      const z = zellijMux('exu', STANDIN, await config());
      const [run] = await z.checks(req());
      expect(run).toMatchObject({ name: 'multiplexer', status: 'fail', detail: "zellij session 'exu' is not running" });
      expect(run!.fix).toContain('--create-session');
      expect((await z.checks(req({ doctor: true })))[0]).toMatchObject({ status: 'warn', detail: "zellij session 'exu' is not running" });
      expect(await z.checks(req({ createSession: true }))).toEqual([{ name: 'multiplexer', status: 'ok', detail: "zellij session 'exu' will be created (detached)" }]);
      await z.ensureSession(true);
      expect(await z.checks(req())).toEqual([{ name: 'multiplexer', status: 'ok', detail: "zellij session 'exu' is running" }]);
    } finally {
      if (before === undefined) delete process.env.ZELLIJ_STANDIN_DIR;
      else process.env.ZELLIJ_STANDIN_DIR = before;
    }
  });
});
