// Telling a live runner from a dead one (src/attempt/liveness.ts): which running entries are
// lost and why, what a runner's pid file says, and waiting for runners that gave a verdict to exit.
// Real processes stand in for runners: their command line ends in `exec-spec -- <id>`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findLost, isRunner, runnerPidFile, runnerPidOf, settleRunners } from '../src/attempt/liveness.js';
import { emptyState, extra, markRunning, type RunnerInfo, type StateDoc } from '../src/state/doc.js';
import { tempDir } from './helpers.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
});

/** A process whose command line is a runner's for `id` (it lives until killed, or `ms`). */
function runner(id: string, ms = 60_000): ChildProcess {
  const c = spawn(process.execPath, ['-e', `setTimeout(() => {}, ${ms})`, 'exec-spec', '--', id], { stdio: 'ignore' });
  started.push(c);
  return c;
}
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;
const iso = (ms: number) => new Date(ms).toISOString();

function docWith(entries: Record<string, Partial<RunnerInfo>>): StateDoc {
  const d = emptyState();
  for (const [id, r] of Object.entries(entries)) markRunning(d, id, { pid: 0, host: hostname(), startedAt: iso(Date.now()), ...r } as RunnerInfo);
  return d;
}

function writePid(stateDir: string, id: string, text: string) {
  mkdirSync(dirname(runnerPidFile(stateDir, id)), { recursive: true });
  writeFileSync(runnerPidFile(stateDir, id), text);
}

describe('isRunner', () => {
  it("is true for a live process running that spec's runner, false for another spec's, a plain process or a dead pid", async () => {
    const r = runner('007');
    await new Promise((res) => setTimeout(res, 100));
    expect(isRunner(r.pid!, '007')).toBe(true);
    expect(isRunner(r.pid!, '07')).toBe(false);
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    started.push(other);
    expect(isRunner(other.pid!, '007')).toBe(false);
    expect(isRunner(deadPid(), '007')).toBe(false);
  });
});

describe('runnerPidFile', () => {
  it('is runs/<id>/runner.pid in the state folder (where runners of every version write it)', () => {
    expect(runnerPidFile('/p/.codex', '001')).toBe('/p/.codex/runs/001/runner.pid');
  });
});

describe('runnerPidOf', () => {
  it('reads "<pid> <time>"; nothing, a pid of 0, a negative or a fraction is no runner', () => {
    const dir = tempDir('pidfile-');
    expect(runnerPidOf(dir, '001')).toBeUndefined();
    writePid(dir, '001', '4242 2026-12-07T10:00:00.000Z\n');
    expect(runnerPidOf(dir, '001')).toEqual({ pid: 4242, at: Date.parse('2026-12-07T10:00:00.000Z') });
    writePid(dir, '001', '4242');
    expect(runnerPidOf(dir, '001')).toEqual({ pid: 4242, at: NaN });
    for (const bad of ['0 2026-12-07T10:00:00Z', '-5 2026-12-07T10:00:00Z', '1.5 x', 'abc', '']) {
      writePid(dir, '001', bad);
      expect(runnerPidOf(dir, '001'), bad).toBeUndefined();
    }
  });
});

describe('findLost', () => {
  const stateDir = tempDir('findlost-');
  const now = Date.now();

  it('a recorded runner that is dead is lost ("runner died"); a live one is not', async () => {
    const live = runner('002');
    await new Promise((res) => setTimeout(res, 100));
    const doc = docWith({ '001': { pid: deadPid() }, '002': { pid: live.pid! } });
    expect(findLost(doc, stateDir, 60, now)).toEqual([{ id: '001', why: 'runner died', reason: 'lost (runner died)' }]);
  });

  it('a state without a dispatch section has nothing lost', () => {
    expect(findLost({ completed: [], failed: [], skipped: [] } as StateDoc, stateDir, 60, now)).toEqual([]);
  });

  it("another machine's entries and remote runs are never judged here", () => {
    const doc = docWith({ '001': { pid: deadPid(), host: 'elsewhere' }, '002': { pid: deadPid(), executor: 'ssh' } as Partial<RunnerInfo> });
    expect(findLost(doc, stateDir, 60, now)).toEqual([]);
  });

  it('a runner not on record yet: not lost within startTimeoutSeconds, lost after it, naming its pane', () => {
    const doc = docWith({ '001': { pid: 0, startedAt: iso(now - 30_000), pane: 'demo-001' }, '002': { pid: 0, startedAt: iso(now - 90_000) } });
    expect(findLost(doc, stateDir, 60, now)).toEqual([{ id: '002', why: 'runner never started within 60 s', reason: 'lost (runner never started within 60 s)' }]);
    // At exactly the limit it is still waited for.
    expect(findLost(docWith({ '003': { pid: 0, startedAt: iso(now - 60_000) } }), stateDir, 60, now)).toEqual([]);
    expect(findLost(doc, stateDir, 20, now).map((l) => l.reason)).toEqual(['lost (runner never started within 20 s in demo-001)', 'lost (runner never started within 20 s)']);
  });

  it('past the limit, a runner that wrote its pid file since the launch and lives is waiting for the lock, not lost', async () => {
    const dir = tempDir('findlost-pid-');
    const launched = now - 90_000;
    const live = runner('001');
    await new Promise((res) => setTimeout(res, 100));
    const doc = docWith({ '001': { pid: 0, startedAt: iso(launched) } });
    // Written within a second before the launch time (clocks of two processes): still this launch's runner.
    writePid(dir, '001', `${live.pid} ${iso(launched - 900)}`);
    expect(findLost(doc, dir, 60, now)).toEqual([]);
    writePid(dir, '001', `${live.pid} ${iso(launched - 1000)}`);
    expect(findLost(doc, dir, 60, now)).toEqual([]);
    // A pid file from an earlier launch does not count.
    writePid(dir, '001', `${live.pid} ${iso(launched - 5000)}`);
    expect(findLost(doc, dir, 60, now).map((l) => l.id)).toEqual(['001']);
    // Nor does a dead runner's, or a live process that is not this spec's runner.
    writePid(dir, '001', `${deadPid()} ${iso(launched)}`);
    expect(findLost(doc, dir, 60, now).map((l) => l.id)).toEqual(['001']);
    const other = runner('002');
    await new Promise((res) => setTimeout(res, 100));
    writePid(dir, '001', `${other.pid} ${iso(launched)}`);
    expect(findLost(doc, dir, 60, now).map((l) => l.id)).toEqual(['001']);
  });
});

describe('settleRunners', () => {
  function docOf(history: Record<string, unknown>[]): StateDoc {
    const d = emptyState();
    extra(d).specs['001'] = { history } as never;
    return d;
  }

  it('waits for a runner that gave its verdict since the run began to exit', async () => {
    const r = runner('001', 400);
    await new Promise((res) => setTimeout(res, 100));
    const since = Date.now() - 1000;
    const t0 = Date.now();
    await settleRunners(docOf([{ n: 1, runner: r.pid, endedAt: iso(Date.now()) }]), ['001'], since, 10_000);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThan(150);
    expect(waited).toBeLessThan(5000);
    expect(isRunner(r.pid!, '001')).toBe(false);
  });

  it('an attempt that ended at the very moment the run began is waited for', async () => {
    const r = runner('001', 400);
    await new Promise((res) => setTimeout(res, 100));
    const since = Date.now();
    await settleRunners(docOf([{ n: 1, runner: r.pid, endedAt: iso(since) }]), ['001'], since, 10_000);
    expect(isRunner(r.pid!, '001')).toBe(false);
  });

  it('a state without a dispatch section waits for nothing', async () => {
    await settleRunners({ completed: [], failed: [], skipped: [] } as StateDoc, ['001'], 0, 5000);
  });

  it('gives up after its time limit', async () => {
    const r = runner('001');
    await new Promise((res) => setTimeout(res, 100));
    const t0 = Date.now();
    await settleRunners(docOf([{ n: 1, runner: r.pid, endedAt: iso(Date.now()) }]), ['001'], Date.now() - 1000, 300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('does not wait for an attempt ended before the run, one still open, one without a runner, or another spec', async () => {
    const r = runner('001');
    await new Promise((res) => setTimeout(res, 100));
    const since = Date.now();
    const t0 = Date.now();
    await settleRunners(
      docOf([
        { n: 1, runner: r.pid, endedAt: iso(since - 5000) },
        { n: 2, runner: r.pid },
        { n: 3, endedAt: iso(since + 1) },
      ]),
      ['001', '002'],
      since,
      5000,
    );
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
