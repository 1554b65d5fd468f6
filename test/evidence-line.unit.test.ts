// The evidence behind a verdict in one line (the end of an attempt's log and
// `logs`' header), and as a hook's DISPATCH_* variables: the same words and
// figures for every way an attempt can end.
import { describe, expect, it } from 'vitest';
import { evidenceLine, evidenceVars, verifySummary } from '../src/attempt/evidence-line.js';

const pass = (argv: string[]) => ({ argv, ok: true, seconds: 1, exitCode: 0 });
const fail = (argv: string[], more: Record<string, unknown> = { exitCode: 1 }) => ({ argv, ok: false, seconds: 2, ...more });

describe('evidenceLine', () => {
  it('an agent that never started', () => {
    expect(evidenceLine({}, 600)).toBe('not started');
  });
  it('the exit code, or the signal that killed it', () => {
    expect(evidenceLine({ exit: { code: 0 } }, 600)).toBe('exit 0');
    expect(evidenceLine({ exit: { code: 3 } }, 600)).toBe('exit 3');
    expect(evidenceLine({ exit: { signal: 'SIGTERM' } }, 600)).toBe('killed by SIGTERM');
  });
  it("Auto-Claude's QA, the checks, and the changes, in that order", () => {
    expect(evidenceLine({ exit: { code: 0 }, qa: 'approved', verify: [pass(['npm', 'test']), pass(['npm', 'run', 'lint'])], git: { files: 1, insertions: 4, deletions: 2, changed: true } }, 600))
      .toBe('exit 0 · QA approved · verify: 2 passed · 1 file changed (+4 -2)');
  });
  it('the check that failed, how and which', () => {
    expect(evidenceLine({ exit: { code: 0 }, verify: [pass(['a']), fail(['npm', 'test'])] }, 600)).toBe('exit 0 · verify exited 1: npm test');
    expect(evidenceLine({ exit: { code: 0 }, verify: [fail(['slow check'], { timedOut: true })] }, 90)).toBe("exit 0 · verify timed out after 90 s: 'slow check'");
  });
  it('changes counted in a tree shared with other specs say so; no changes too', () => {
    expect(evidenceLine({ exit: { code: 0 }, git: { files: 3, insertions: 1, deletions: 0, changed: true, shared: true } }, 600)).toBe('exit 0 · 3 files changed (+1 -0), shared tree');
    expect(evidenceLine({ exit: { code: 0 }, git: { files: 0, insertions: 0, deletions: 0, changed: false } }, 600)).toBe('exit 0 · no changes');
    expect(evidenceLine({ exit: { code: 0 }, git: { files: 0, insertions: 0, deletions: 0, changed: false, shared: true } }, 600)).toBe('exit 0 · no changes (shared tree)');
  });
});

describe('verifySummary and evidenceVars', () => {
  it('passed N, or which check failed (its number and command)', () => {
    expect(verifySummary([pass(['a']), pass(['b'])])).toBe('passed 2');
    expect(verifySummary([pass(['a']), fail(['npm', 'test'])])).toBe('failed check 2: npm test');
  });
  it("a hook's evidence variables, from the attempt's record", () => {
    expect(evidenceVars({ exit: { code: 0 }, verify: [pass(['a'])], git: { files: 2, insertions: 5, deletions: 1, changed: true }, tokens: { input: 10, cachedInput: 0, output: 5, total: 15 } }))
      .toEqual({ EXIT_CODE: 0, VERIFY: 'passed 1', FILES_CHANGED: 2, INSERTIONS: 5, DELETIONS: 1, TOKENS: 15 });
    expect(evidenceVars({})).toEqual({ EXIT_CODE: undefined, VERIFY: undefined, FILES_CHANGED: undefined, INSERTIONS: undefined, DELETIONS: undefined, TOKENS: undefined });
  });
});
