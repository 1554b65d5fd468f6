// A runner killed between starting its agent and writing the agent's group down: the agent carries a
// random token (written to the run folder before the start) in its environment, and whoever finds the
// runner lost stops that group by it — never a second agent beside an orphan.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch, makeProject, readStateOf, until } from './helpers.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('an agent whose runner died before recording its group', () => {
  it('is found by its token and stopped when the runner is found lost; the spec is failed lost, once', async () => {
    const startedAt = new Date().toISOString();
    const dead = 4_000_000; // above pid_max: no runner lives there
    const dir = makeProject({
      specs: [{ id: '001', name: 'alpha' }],
      state: { completed: [], failed: [], skipped: [], dispatch: { version: 1, running: { '001': { pid: dead, host: hostname(), startedAt, attempt: 1 } }, specs: { '001': { attempts: 1, history: [{ n: 1, startedAt }] } } } },
    });
    const token = 'ab'.repeat(12);
    mkdirSync(join(dir, '.codex', 'runs', '001'), { recursive: true });
    writeFileSync(join(dir, '.codex', 'runs', '001', 'agent.json'), `${JSON.stringify({ runner: dead, token })}\n`);
    // The agent as the runner started it: a group of its own, the token in its environment.
    const agent = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore', env: { ...process.env, DISPATCH_AGENT_TOKEN: token } });
    agent.unref();
    // A bystander with another token is not ours: never stopped.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore', env: { ...process.env, DISPATCH_AGENT_TOKEN: 'cd'.repeat(12) } });
    other.unref();
    try {
      await until(() => alive(agent.pid!) && alive(other.pid!));
      const r = dispatch(dir, ['status']);
      expect(r.code, r.stderr).toBe(0);
      await until(() => !alive(agent.pid!), 10_000);
      expect(alive(other.pid!)).toBe(true);
      const st = readStateOf(dir);
      expect(st.failed).toEqual(['001']);
      expect(st.dispatch.specs['001']).toMatchObject({ kind: 'lost' });
    } finally {
      for (const p of [agent.pid!, other.pid!]) {
        try {
          process.kill(-p, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
});
