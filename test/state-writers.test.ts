// Several real `dispatch` processes writing one state file at once: no update is lost, and the
// original tool's keys survive. The counted versions (50 writers, SIGKILL mid-write, pauses)
// are in test/slow.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatchAsync, makeProject, readStateOf } from './helpers.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1).padStart(3, '0'));

describe('writers at once', () => {
  it("12 mark-done / mark-failed processes on the original tool's file: each exits 0, every update and unknown key is kept, one journal line each", async () => {
    const all = ids(12);
    const dir = makeProject({
      specs: all.map((id) => ({ id, name: `spec-${id}` })),
      writeSpecFiles: false,
      format: 'json',
      state: { completed: [], failed: [], skipped: [], owner: 'nushell', panes: { '001': 'triz-001' } },
    });
    const failing = new Set(all.filter((_, i) => i % 2 === 1));
    const results = await Promise.all(all.map((id) => dispatchAsync(dir, failing.has(id) ? ['mark-failed', id, '--reason', `reason ${id}`] : ['mark-done', id])));
    expect(results.map((r) => [r.code, r.stderr])).toEqual(all.map(() => [0, '']));
    const doc = readStateOf(dir);
    expect([...doc.completed].sort()).toEqual(all.filter((id) => !failing.has(id)));
    expect([...doc.failed].sort()).toEqual([...failing]);
    for (const id of failing) expect(doc.dispatch.specs[id].reason).toBe(`reason ${id}`);
    expect(doc.owner).toBe('nushell');
    expect(doc.panes).toEqual({ '001': 'triz-001' });
    const journal = readFileSync(join(dir, '.codex', 'dispatch-events.jsonl'), 'utf8').trimEnd().split('\n');
    expect(journal.map((l) => JSON.parse(l).spec).sort()).toEqual(all);
  });
});
