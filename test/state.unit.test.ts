import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimLaunch, emptyState, extra, launchBasis, setState, stateIndex, stateOf, type StateDoc } from '../src/state/doc.js';
import { CorruptStateError, EVENTS_FILE, journalRunEvent, readState, statePath, withState } from '../src/state/store.js';
import { writeFileAtomic } from '../src/util/write-atomic.js';
import { tempDir } from './helpers.js';
import { LockTimeoutError, lockState } from '../src/state/lock.js';
import { tokenOf } from '../src/state/owned-file.js';

/** A state folder holding `text` as its state file (or nothing). */
function stateDirWith(text?: string): string {
  const dir = join(tempDir('dispatch-state-'), '.codex');
  mkdirSync(dir, { recursive: true });
  if (text !== undefined) writeFileSync(statePath(dir), text);
  return dir;
}

const readDoc = (dir: string) => JSON.parse(readFileSync(statePath(dir), 'utf8'));
const events = (dir: string) => {
  const f = join(dir, EVENTS_FILE);
  return existsSync(f) ? readFileSync(f, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)) : [];
};
/** Content and mtime, to prove a file was not rewritten. */
const fingerprint = (file: string) => ({ text: readFileSync(file, 'utf8'), mtimeMs: statSync(file).mtimeMs });

const NUSHELL_STATE = '{"completed": ["001", "002"], "failed": [], "skipped": []}';

describe('readState', () => {
  it('reads a missing file as an empty state and creates nothing', () => {
    const dir = stateDirWith();
    expect(readState(dir)).toEqual({ completed: [], failed: [], skipped: [] });
    expect(existsSync(statePath(dir))).toBe(false);
  });

  it("reads the original tool's file as is", () => {
    expect(readState(stateDirWith(NUSHELL_STATE))).toEqual({ completed: ['001', '002'], failed: [], skipped: [] });
  });

  it('fills in arrays the file leaves out', () => {
    expect(readState(stateDirWith('{"failed": ["003"]}'))).toEqual({ completed: [], failed: ['003'], skipped: [] });
  });

  const corrupt: [string, string, RegExp][] = [
    ['bad JSON', '{"completed": ["001",', /bad JSON/],
    ['an empty file', '', /empty file/],
    ['only whitespace', '  \n', /empty file/],
    ['an array', '["001"]', /expected a JSON object/],
    ['null', 'null', /expected a JSON object/],
    ['a string where an array belongs', '{"completed": "001"}', /"completed" must be an array of id strings/],
    ['numbers in an array', '{"failed": [1, 2]}', /"failed" must be an array of id strings/],
    ['a dispatch key that is not an object', '{"completed": [], "dispatch": []}', /"dispatch" must be an object/],
    ['a running map that is not an object', '{"dispatch": {"running": 3}}', /"dispatch.running" must be an object/],
  ];
  for (const [what, text, why] of corrupt) {
    it(`throws CorruptStateError for ${what}, naming the file and the way out`, () => {
      const dir = stateDirWith(text);
      let caught: unknown;
      try {
        readState(dir);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CorruptStateError);
      const e = caught as CorruptStateError;
      expect(e.exitCode).toBe(1);
      expect(e.file).toBe(statePath(dir));
      expect(e.message).toContain(statePath(dir));
      expect(e.message).toMatch(why);
      expect(e.hint).toContain('dispatch reset --yes');
    });
  }
});

describe('withState', () => {
  it('creates the state file with the three arrays on the first change', async () => {
    const dir = join(tempDir(), 'nested', '.codex');
    await withState(dir, { command: 'mark-done' }, (doc) => void setState(doc, '001', 'done'));
    const doc = readDoc(dir);
    expect(doc.completed).toEqual(['001']);
    expect(doc.failed).toEqual([]);
    expect(doc.skipped).toEqual([]);
  });

  it('keeps unknown keys everywhere in the document', async () => {
    const original = {
      completed: ['001'],
      failed: [],
      skipped: [],
      owner: 'nushell',
      history: [{ at: 1 }],
      dispatch: { version: 1, running: {}, specs: { '001': { note: 'keep me' } }, future: { x: 1 } },
    };
    const dir = stateDirWith(JSON.stringify(original));
    await withState(dir, { command: 'mark-failed', reason: 'pane died' }, (doc) => void setState(doc, '002', 'failed', 'pane died'));
    const doc = readDoc(dir);
    expect(doc.owner).toBe('nushell');
    expect(doc.history).toEqual([{ at: 1 }]);
    expect(doc.dispatch.future).toEqual({ x: 1 });
    expect(doc.dispatch.specs['001']).toEqual({ note: 'keep me' });
    expect(doc.completed).toEqual(['001']);
    expect(doc.failed).toEqual(['002']);
  });

  it('keeps the three arrays even when every spec goes back to pending', async () => {
    const dir = stateDirWith('{"completed": ["001"], "failed": ["002"], "skipped": ["003"]}');
    await withState(dir, { command: 'reset' }, (doc) => {
      for (const id of ['001', '002', '003']) setState(doc, id, 'pending');
    });
    const doc = readDoc(dir);
    expect(doc).toMatchObject({ completed: [], failed: [], skipped: [] });
  });

  it('writes the arrays an old file left out once it changes', async () => {
    const dir = stateDirWith('{"completed": ["001"]}');
    await withState(dir, { command: 'skip' }, (doc) => void setState(doc, '002', 'skipped'));
    expect(readDoc(dir)).toMatchObject({ completed: ['001'], failed: [], skipped: ['002'] });
  });

  it('moves a spec between arrays: it is never in two at once', async () => {
    const dir = stateDirWith(NUSHELL_STATE);
    await withState(dir, { command: 'mark-failed' }, (doc) => void setState(doc, '001', 'failed'));
    await withState(dir, { command: 'skip' }, (doc) => void setState(doc, '001', 'skipped'));
    expect(readDoc(dir)).toMatchObject({ completed: ['002'], failed: [], skipped: ['001'] });
  });

  it('journals each change: time, pid, command, spec, from → to and reason', async () => {
    const dir = stateDirWith(NUSHELL_STATE);
    const before = Date.now();
    await withState(dir, { command: 'mark-failed', reason: 'pane died' }, (doc) => {
      setState(doc, '003', 'failed', 'pane died');
      setState(doc, '001', 'failed', 'pane died');
    });
    await withState(dir, { command: 'reset' }, (doc) => void setState(doc, '003', 'pending'));
    const ev = events(dir);
    expect(ev).toHaveLength(3);
    expect(ev.map(({ time: _time, pid: _pid, ...rest }) => rest)).toEqual([
      { seq: 1, command: 'mark-failed', spec: '001', from: 'done', to: 'failed', kind: 'agent-failed', reason: 'pane died' },
      { seq: 2, command: 'mark-failed', spec: '003', from: 'pending', to: 'failed', kind: 'agent-failed', reason: 'pane died' },
      { seq: 3, command: 'reset', spec: '003', from: 'failed', to: 'pending' },
    ]);
    // The state carries the last event's number: the journal and the state can be reconciled after a crash.
    expect(JSON.parse(readFileSync(join(dir, 'dispatch-state.json'), 'utf8')).dispatch.seq).toBe(3);
    for (const e of ev) {
      expect(e.pid).toBe(process.pid);
      expect(Date.parse(e.time)).toBeGreaterThanOrEqual(before - 1000);
    }
  });

  it('journals a new reason on a spec that stays failed', async () => {
    const dir = stateDirWith(NUSHELL_STATE);
    await withState(dir, { command: 'mark-failed' }, (doc) => void setState(doc, '003', 'failed', 'first'));
    await withState(dir, { command: 'mark-failed' }, (doc) => void setState(doc, '003', 'failed', 'second'));
    const last = events(dir).at(-1);
    expect(last).toMatchObject({ spec: '003', from: 'failed', to: 'failed', reason: 'second' });
    expect(readDoc(dir).dispatch.specs['003'].reason).toBe('second');
  });

  it("numbers a run's own lines with the spec events, and the state file stays the original tool's", async () => {
    const dir = stateDirWith(NUSHELL_STATE);
    await withState(dir, { command: 'mark-done' }, (d) => void setState(d, '003', 'done'));
    await journalRunEvent(dir, { event: 'run-start', run: 'r1', schedule: 'eager', specs: 3 });
    await withState(dir, { command: 'run', runEvents: [{ event: 'batch-pause', run: 'r1', from: 'a', until: 'b' }] }, (d) => void setState(d, '004', 'failed', 'x'));
    const ev = events(dir);
    expect(ev.map((e) => [e.seq, e.event ?? e.spec])).toEqual([[1, '003'], [2, 'run-start'], [3, '004'], [4, 'batch-pause']]);
    expect(ev[1]).toMatchObject({ command: 'run', run: 'r1', schedule: 'eager', specs: 3 });
    const doc = readDoc(dir);
    expect(doc.completed).toEqual(['001', '002', '003']);
    expect(doc.dispatch.seq).toBe(4);
    // A writer killed after its state and before its journal line: the next writer appends the run's line too.
    const f = join(dir, EVENTS_FILE);
    writeFileSync(f, readFileSync(f, 'utf8').split('\n').slice(0, 2).join('\n') + '\n');
    await withState(dir, { command: 'skip' }, (d) => void setState(d, '005', 'skipped'));
    expect(events(dir).map((e) => [e.seq, e.event ?? e.spec])).toEqual([[1, '003'], [2, 'run-start'], [3, '004'], [4, 'batch-pause'], [5, '005']]);
  });

  it('returns what the change returns', async () => {
    const dir = stateDirWith(NUSHELL_STATE);
    expect(await withState(dir, { command: 'status' }, (doc) => doc.completed.length)).toBe(2);
  });

  it('writes nothing and journals nothing when the change changes nothing', async () => {
    const dir = stateDirWith(`${JSON.stringify({ completed: ['001'], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: {} } }, null, 2)}\n`);
    const before = fingerprint(statePath(dir));
    await new Promise((r) => setTimeout(r, 20));
    await withState(dir, { command: 'noop' }, () => undefined);
    expect(fingerprint(statePath(dir))).toEqual(before);
    expect(existsSync(join(dir, EVENTS_FILE))).toBe(false);
  });

  it("writes nothing when a spec is set to the state it already has (the original tool's file)", async () => {
    // `dispatch mark-done 001` on a spec already done must leave the Nushell file byte for byte
    const dir = stateDirWith(NUSHELL_STATE);
    const before = fingerprint(statePath(dir));
    await new Promise((r) => setTimeout(r, 20));
    const changed = await withState(dir, { command: 'mark-done' }, (doc) => setState(doc, '001', 'done'));
    expect(changed).toBe(false);
    expect(fingerprint(statePath(dir))).toEqual(before);
    expect(existsSync(join(dir, EVENTS_FILE))).toBe(false);
  });

  it('refuses a corrupt file and leaves it untouched', async () => {
    for (const text of ['{"completed": [', '', '{"skipped": {"a": 1}}']) {
      const dir = stateDirWith(text);
      const before = fingerprint(statePath(dir));
      let ran = false;
      await expect(withState(dir, { command: 'mark-done' }, () => void (ran = true))).rejects.toBeInstanceOf(CorruptStateError);
      expect(ran).toBe(false);
      expect(fingerprint(statePath(dir))).toEqual(before);
      expect(existsSync(join(dir, EVENTS_FILE))).toBe(false);
      // nothing left behind: no lock, no temp file
      expect(readdirSync(dir)).toEqual(['dispatch-state.json']);
    }
  });

  it('lets onCorrupt supply a fresh document', async () => {
    const dir = stateDirWith('{oops');
    let seen: CorruptStateError | undefined;
    await withState(dir, { command: 'reset', onCorrupt: (e) => ((seen = e), emptyState()) }, () => undefined);
    expect(seen?.file).toBe(statePath(dir));
    expect(readDoc(dir)).toEqual({ completed: [], failed: [], skipped: [] });
  });

  it('releases the lock when the change throws, and writes nothing', async () => {
    const dir = stateDirWith(NUSHELL_STATE);
    const before = fingerprint(statePath(dir));
    await expect(
      withState(dir, { command: 'x' }, (doc) => {
        setState(doc, '001', 'failed');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(fingerprint(statePath(dir))).toEqual(before);
    // the next writer gets the lock at once
    await withState(dir, { command: 'mark-done' }, (doc) => void setState(doc, '003', 'done'));
    expect(readDoc(dir).completed).toEqual(['001', '002', '003']);
  });

  it('serialises concurrent changes in one process', async () => {
    const dir = stateDirWith(NUSHELL_STATE);
    const ids = Array.from({ length: 20 }, (_, i) => `1${String(i).padStart(2, '0')}`);
    await Promise.all(
      ids.map((id) =>
        withState(dir, { command: 'mark-done' }, async (doc) => {
          await new Promise((r) => setTimeout(r, 2));
          setState(doc, id, 'done');
        }),
      ),
    );
    expect(readDoc(dir).completed.sort()).toEqual(['001', '002', ...ids]);
    expect(events(dir)).toHaveLength(20);
  });
});

describe('state document', () => {
  const doc = (): StateDoc => ({ completed: ['001'], failed: ['002'], skipped: ['003'], dispatch: { version: 1, running: { '004': { pid: 1, host: 'h', startedAt: 't' } }, specs: {} } });

  it('tells each spec state from the arrays and the running map', () => {
    const d = doc();
    const idx = stateIndex(d);
    for (const [id, s] of [['001', 'done'], ['002', 'failed'], ['003', 'skipped'], ['004', 'running'], ['005', 'pending']] as const) {
      expect(stateOf(d, id)).toBe(s);
      expect(idx(id)).toBe(s);
    }
  });

  it('keeps the reason of a failure and drops it when the spec moves on', () => {
    const d = doc();
    expect(setState(d, '001', 'failed', 'tests red')).toBe(true);
    expect(extra(d).specs['001']!.reason).toBe('tests red');
    expect(setState(d, '001', 'done')).toBe(true);
    expect(extra(d).specs['001']!.reason).toBeUndefined();
    expect(d.completed).toEqual(['001']);
    expect(d.failed).toEqual(['002']);
  });

  it('stops running when a spec gets a final state', () => {
    const d = doc();
    setState(d, '004', 'done');
    expect(d.dispatch!.running['004']).toBeUndefined();
    expect(stateOf(d, '004')).toBe('done');
  });

  it('reports no change when the state and reason stay the same', () => {
    const d = doc();
    expect(setState(d, '001', 'done')).toBe(false);
    expect(setState(d, '005', 'pending')).toBe(false);
  });
});

describe('claiming a launch', () => {
  const info = (attempt = 1) => ({ pid: 0, host: 'h', startedAt: new Date().toISOString(), attempt, runId: 'R' });
  const claim = (d: StateDoc, id: string, basis = launchBasis(d, id)) => {
    const before = JSON.stringify(d);
    const refused = claimLaunch(d, id, basis, info(), 0);
    if (refused) expect(JSON.stringify(d), 'a refused claim changes nothing').toBe(before);
    return refused;
  };

  it('claims a pending spec: launching, its attempt counted and opened in the history', () => {
    const d = emptyState();
    expect(claim(d, '001')).toBeUndefined();
    expect(stateOf(d, '001')).toBe('running');
    expect(extra(d).specs['001']).toMatchObject({ attempts: 1, history: [{ n: 1, runId: 'R', wave: 0 }] });
  });

  it('refuses, changing nothing, a spec chosen pending and decided since: skipped, done, failed by hand, running', () => {
    for (const [to, want] of [['skipped', 'skipped'], ['done', 'done'], ['failed', 'failed']] as const) {
      const d = emptyState();
      const chosen = launchBasis(d, '001');
      setState(d, '001', to, to === 'failed' ? 'not wanted' : undefined, 'manual');
      expect(claim(d, '001', chosen), to).toBe(want);
    }
    const d = emptyState();
    const chosen = launchBasis(d, '001');
    claimLaunch(d, '001', chosen, info(), 0);
    expect(claim(d, '001', chosen)).toBe('running');
  });

  it('relaunches the very failure it was chosen after, not one decided by hand since; a spec put back to pending goes', () => {
    const d = emptyState();
    setState(d, '001', 'failed', 'tests red', 'agent-failed');
    const chosen = launchBasis(d, '001');
    const copy = structuredClone(d);
    expect(claim(copy, '001', chosen)).toBeUndefined();
    // The same state and the same moment, but a hand's kind: the decision stands.
    extra(d).specs['001']!.kind = 'manual';
    expect(claim(d, '001', chosen)).toBe('failed');
    setState(d, '001', 'pending');
    expect(claim(d, '001', chosen)).toBeUndefined();
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file and leaves no temp file behind', () => {
    const dir = tempDir();
    const f = join(dir, 'x.json');
    writeFileSync(f, 'old');
    writeFileAtomic(f, 'new');
    expect(readFileSync(f, 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['x.json']);
  });
});

describe('the state lock takes over only from the dead', () => {
  const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;
  const holder = (pid: number) => `${JSON.stringify({ pid, host: hostname(), since: '2026-01-01T00:00:00Z', nonce: `n${pid}` })}\n`;

  it('a dead holder whose breaker died too (its marker left behind): both are broken, the lock is taken', async () => {
    const dir = tempDir();
    const file = join(dir, 'dispatch-state.json');
    const dead = holder(deadPid());
    writeFileSync(`${file}.lock`, dead);
    writeFileSync(`${file}.lock.break.${tokenOf(dead)}`, holder(deadPid()));
    const release = await lockState(file, { waitLimitMs: 5000 });
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8')).pid).toBe(process.pid);
    await release();
    expect(existsSync(`${file}.lock`)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a live breaker at work on a dead lock is waited for, then named at the wait limit', async () => {
    const dir = tempDir();
    const file = join(dir, 'dispatch-state.json');
    const dead = holder(deadPid());
    writeFileSync(`${file}.lock`, dead);
    // A breaker that lives (this very process stands in for one that was stopped mid-break).
    writeFileSync(`${file}.lock.break.${tokenOf(dead)}`, holder(process.pid));
    const t0 = Date.now();
    await expect(lockState(file, { waitLimitMs: 300 })).rejects.toBeInstanceOf(LockTimeoutError);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(dead);
  });

  it('a live holder is never broken, however old its lock', async () => {
    const dir = tempDir();
    const file = join(dir, 'dispatch-state.json');
    const live = holder(process.pid);
    writeFileSync(`${file}.lock`, live);
    const old = new Date(Date.now() - 3600_000);
    utimesSync(`${file}.lock`, old, old);
    await expect(lockState(file, { waitLimitMs: 300 })).rejects.toThrow(/could not lock .* pid \d+ has held it since .*nothing was changed/);
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(live);
  });
});
