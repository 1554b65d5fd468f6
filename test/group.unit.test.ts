// An agent's process group is signalled only while it is the group dispatch
// started: a later process that reuses the number (pids wrap within seconds
// on a busy machine) is never touched.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { groupAlive, signalGroup, stopGroup } from '../src/proc/group.js';
import { spawnAgent } from '../src/proc/launch.js';
import { pidAlive, procStat } from '../src/proc/identity.js';

function sleeper() {
  const c = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  return c;
}

describe('agent process groups', () => {
  it('a group recorded with another start time (a reused number) is not ours: never signalled', () => {
    const c = sleeper();
    try {
      const start = procStat(c.pid!)!.start;
      expect(groupAlive({ pgid: c.pid!, start })).toBe(true);
      expect(groupAlive({ pgid: c.pid!, start: start + 1 })).toBe(false);
      expect(signalGroup({ pgid: c.pid!, start: start - 1 }, 'SIGTERM')).toBe(false);
      // Recorded without a start time where /proc tells them: it cannot be told from a later group.
      expect(groupAlive({ pgid: c.pid! })).toBe(false);
      expect(pidAlive(c.pid!)).toBe(true);
    } finally {
      c.kill('SIGKILL');
    }
  });

  it('a group of one whose leader has ended is gone; one whose leader ended but whose member lives is not', async () => {
    const alone = sleeper();
    const start = procStat(alone.pid!)!.start;
    alone.kill('SIGKILL');
    await new Promise((r) => alone.once('exit', r));
    expect(groupAlive({ pgid: alone.pid!, start })).toBe(false);
    // The leader (sh) leaves at once; its child sleep keeps the group.
    const sh = spawn('sh', ['-c', 'sleep 30 & exit 0'], { detached: true, stdio: 'ignore' });
    const g = { pgid: sh.pid!, start: procStat(sh.pid!)!.start };
    await new Promise((r) => sh.once('exit', r));
    try {
      expect(groupAlive(g)).toBe(true);
    } finally {
      expect(await stopGroup(g)).toBe(true);
    }
    expect(groupAlive(g)).toBe(false);
  });

  it('stopGroup ends the recorded group, members included', async () => {
    const c = spawn('sh', ['-c', 'sleep 30 & sleep 30'], { detached: true, stdio: 'ignore' });
    const start = procStat(c.pid!)!.start;
    expect(await stopGroup({ pgid: c.pid!, start }, 1000)).toBe(true);
    expect(groupAlive({ pgid: c.pid!, start })).toBe(false);
  });

  it('an agent that exits at once still has its start time recorded (read before it is reaped)', async () => {
    for (let i = 0; i < 20; i++) {
      const { child, group } = await spawnAgent(['true'], { cwd: process.cwd(), env: process.env as Record<string, string> });
      await new Promise((r) => child.once('exit', r));
      expect(group?.pgid).toBe(child.pid);
      expect(typeof group?.start).toBe('number');
    }
  });
});
