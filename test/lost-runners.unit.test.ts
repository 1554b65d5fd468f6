// A runner that died leaves its spec "running": whoever notices (reapLost)
// first stops the agent it left, then records the spec lost; an agent that
// cannot be stopped keeps the spec running (a relaunch would put a second
// agent in the same folder). Real processes; the stop can be refused by hand.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { reapLost } from '../src/attempt/liveness.js';
import { groupAlive, groupOf, stopGroup } from '../src/proc/group.js';
import { emptyState, extra, markRunning, stateOf, type AgentGroup } from '../src/state/doc.js';
import { readState, withState } from '../src/state/store.js';
import { tempDir } from './helpers.js';

/** A pid that was a process and is gone. */
const deadPid = () => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

async function project(agent?: AgentGroup, opts: { ids?: string[]; hooks?: Record<string, unknown> } = {}) {
  const dir = tempDir('lost');
  const ids = opts.ids ?? ['001'];
  const config = await resolveConfig({ project: 'lost', hooks: opts.hooks ?? {}, specs: ids.map((id) => ({ id, name: `s${id}`, cost: 1, agent: 'codex' })) }, join(dir, 'specs.config.ts'));
  await withState(config.stateDir, { command: 'test' }, (d) => {
    Object.assign(d, emptyState());
    for (const id of ids) {
      markRunning(d, id, { pid: deadPid(), host: hostname(), startedAt: new Date().toISOString(), attempt: 1, ...(agent ? { agent } : {}) });
      extra(d).specs[id]!.history = [{ n: 1, startedAt: new Date().toISOString() }];
    }
  });
  return config;
}

function agentGroup(): { group: AgentGroup; pid: number } {
  const child = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  child.unref();
  return { group: groupOf(child.pid!), pid: child.pid! };
}

describe('reapLost', () => {
  it("stops the dead runner's agent first, then records the spec lost", async () => {
    const { group } = agentGroup();
    const config = await project(group);
    let stateWhenStopped: string | undefined;
    const lost = await reapLost(config, readState(config.stateDir), 'status', {
      stop: async (g) => {
        stateWhenStopped = stateOf(readState(config.stateDir), '001');
        return stopGroup(g);
      },
    });
    expect(stateWhenStopped).toBe('running');
    expect(lost.map((l) => l.id)).toEqual(['001']);
    expect(groupAlive(group)).toBe(false);
    const doc = readState(config.stateDir);
    expect(stateOf(doc, '001')).toBe('failed');
    expect(doc.dispatch!.specs['001']).toMatchObject({ kind: 'lost', reason: 'lost (runner died)' });
  });

  it('an agent that cannot be stopped keeps its spec running, and is not reported lost', async () => {
    const { group } = agentGroup();
    try {
      const config = await project(group);
      const lost = await reapLost(config, readState(config.stateDir), 'status', { stop: async () => false });
      expect(lost).toEqual([]);
      expect(stateOf(readState(config.stateDir), '001')).toBe('running');
      expect(groupAlive(group)).toBe(true);
    } finally {
      await stopGroup(group);
    }
  });

  it('with nothing lost: an empty answer, and the state is not written', async () => {
    const config = await resolveConfig({ project: 'lost', hooks: {}, specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }] }, join(tempDir('lost'), 'specs.config.ts'));
    expect(await reapLost(config, emptyState(), 'status')).toEqual([]);
    expect(existsSync(join(config.stateDir, 'dispatch-state.json'))).toBe(false);
  });

  it('marks only what it saw lost, even when the state under the lock has more (seen later, judged later)', async () => {
    const config = await project(undefined, { ids: ['001', '002'] });
    const seen = readState(config.stateDir);
    delete extra(seen).running['002'];
    const lost = await reapLost(config, seen, 'status');
    expect(lost.map((l) => l.id)).toEqual(['001']);
    const doc = readState(config.stateDir);
    expect([stateOf(doc, '001'), stateOf(doc, '002')]).toEqual(['failed', 'running']);
  });

  it("tells the spec's onSpecFailed hook, as the dead runner would have: kind lost, its reason", async () => {
    const out = join(tempDir('lost-hook'), 'hook.txt');
    const hook = [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(out)}, [process.env.DISPATCH_SPEC_ID, process.env.DISPATCH_STATE, process.env.DISPATCH_REASON].join('|'))`];
    const config = await project(undefined, { hooks: { onSpecFailed: hook } });
    await reapLost(config, readState(config.stateDir), 'status');
    expect(readFileSync(out, 'utf8')).toBe('001|failed|lost (runner died)');
  });
});
