// `reset --spec` of a spec a run has claimed but whose runner has not reported in yet (pid 0):
// put back to pending then, the runner would start nothing and the run would watch it for ever.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { dispatch, makeProject, readStateOf, statePathOf } from './helpers.js';

const launchingState = (startedAt: string) => ({
  completed: [],
  failed: [],
  skipped: [],
  dispatch: { version: 1, running: { '001': { pid: 0, host: hostname(), startedAt, attempt: 1, runId: 'r1' } }, specs: { '001': { attempts: 1, history: [{ n: 1, startedAt }] } } },
});

describe('reset --spec of a spec still launching', () => {
  it('is refused within the start time limit, naming dispatch stop; the state is left byte for byte', () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }], state: launchingState(new Date().toISOString()) });
    const before = readFileSync(statePathOf(dir), 'utf8');
    const r = dispatch(dir, ['reset', '--spec', '001']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/001 is running; nothing was changed/);
    expect(r.stderr).toMatch(/dispatch stop 001/);
    expect(readFileSync(statePathOf(dir), 'utf8')).toBe(before);
  });

  it('past the start time limit, with no runner started for it, is put back to pending', () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }], state: launchingState(new Date(Date.now() - 3_600_000).toISOString()) });
    const r = dispatch(dir, ['reset', '--spec', '001']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/001: running → pending/);
    expect(readStateOf(dir).dispatch.running).toEqual({});
  });
});
