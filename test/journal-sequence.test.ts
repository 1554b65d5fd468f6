// The journal's sequence numbers through the CLI: a reason pasted by hand is bounded in the state and
// the journal, and a journal that already holds a line longer than any window (written by an older
// dispatch) never makes the next command number an event twice.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch, makeProject, readStateOf } from './helpers.js';

const journalOf = (dir: string) => readFileSync(join(dir, '.codex', 'dispatch-events.jsonl'), 'utf8').split('\n').filter(Boolean);
const seqs = (dir: string) => journalOf(dir).map((l) => (JSON.parse(l) as { seq: number }).seq);

describe('the journal numbers every event once', () => {
  it('mark-failed with a 600 KB reason, then mark-done: no seq appears twice', () => {
    const dir = makeProject();
    for (const args of [['mark-done', '003'], ['skip', '003'], ['mark-done', '003']]) expect(dispatch(dir, args).code).toBe(0);
    // A command line holds at most 128 KB per argument on Linux: the 600 KB reason is put where an
    // older dispatch (or a runner's verdict) left it, in the state and as the journal's last line.
    const big = 'r'.repeat(600_000);
    const event = { seq: 4, time: '2026-01-01T00:00:00.000Z', pid: 1, command: 'mark-failed', spec: '001', from: 'pending', to: 'failed', kind: 'manual', reason: big };
    const journal = join(dir, '.codex', 'dispatch-events.jsonl');
    writeFileSync(journal, readFileSync(journal, 'utf8') + `${JSON.stringify(event)}\n`);
    const state = readStateOf(dir);
    state.failed.push('001');
    state.dispatch.specs['001'] = { updatedAt: event.time, reason: big, kind: 'manual' };
    state.dispatch.seq = 4;
    state.dispatch.lastEvents = [event];
    writeFileSync(join(dir, '.codex', 'dispatch-state.json'), JSON.stringify(state, null, 2));

    const r = dispatch(dir, ['mark-done', '002']);
    expect(r.code, r.stderr).toBe(0);
    expect(seqs(dir)).toEqual([1, 2, 3, 4, 5]);
    expect(readStateOf(dir).dispatch.seq).toBe(5);
  });

  it('a reason longer than 4096 characters is cut, with a marker, in the state, the journal and the signal file, and mark-failed says so', () => {
    const dir = makeProject();
    // The longest one argument can be (Linux: 128 KB).
    const reason = 'why '.repeat(30_000);
    const r = dispatch(dir, ['mark-failed', '001', '--reason', reason]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('001: pending → failed\n');
    expect(r.stderr).toBe('dispatch: warning: the reason is 120000 characters long; the state, the journal and the signal file keep its first 4096 characters, marked as cut\n');
    const marker = '… [cut: 120000 characters in all]';
    const kept = `${reason.slice(0, 4096 - marker.length)}${marker}`;
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe(kept);
    const line = journalOf(dir).at(-1)!;
    expect(JSON.parse(line).reason).toBe(kept);
    expect(line.length).toBeLessThan(5000);
    expect(readFileSync(join(dir, 'signals', 'demo-failed-001'), 'utf8')).toBe(`${kept}\n`);
    // Then the count goes on from it.
    expect(dispatch(dir, ['mark-done', '002']).code).toBe(0);
    expect(seqs(dir)).toEqual([1, 2]);
  });
});
