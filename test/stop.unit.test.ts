// `dispatch stop` (stopSpecs) in-process with real processes: a spec whose
// runner is already dead still has its agent stopped, and is recorded
// interrupted by hand.
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { stopSpecs } from '../src/services/stop.js';
import { groupAlive, groupOf, stopGroup } from '../src/proc/group.js';
import { emptyState, extra, markRunning, stateOf } from '../src/state/doc.js';
import { readState, withState } from '../src/state/store.js';
import { tempDir } from './helpers.js';

const deadPid = () => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

describe('stopSpecs', () => {
  it("a spec whose runner is dead: its agent is stopped, and it is recorded interrupted", async () => {
    const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    child.unref();
    const group = groupOf(child.pid!);
    try {
      const dir = tempDir('stop');
      const config = await resolveConfig({ project: 'stop', specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }] }, join(dir, 'specs.config.ts'));
      await withState(config.stateDir, { command: 'test' }, (d) => {
        Object.assign(d, emptyState());
        markRunning(d, '001', { pid: deadPid(), host: hostname(), startedAt: new Date().toISOString(), attempt: 1, pane: 'pid:1', agent: group });
        extra(d).specs['001']!.history = [{ n: 1, startedAt: new Date().toISOString() }];
      });
      const [r] = await stopSpecs(config, ['001'], { waitMs: 200 });
      expect(r).toMatchObject({ id: '001', from: 'running', stopped: true });
      expect(groupAlive(group)).toBe(false);
      const doc = readState(config.stateDir);
      expect(stateOf(doc, '001')).toBe('failed');
      expect(doc.dispatch!.specs['001']).toMatchObject({ kind: 'interrupted', reason: 'interrupted: stopped by hand (dispatch stop)' });
    } finally {
      await stopGroup(group);
    }
  });
});
