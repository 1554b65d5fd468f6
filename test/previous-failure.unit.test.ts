// What a relaunch's prompt is told of the attempt before it: the end of its
// log (where an agent's failure is, never the beginning of a long log), or the
// output of the check that failed; nothing for a stop, a decision by hand or a
// launch that never started.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { attemptLogPath } from '../src/attempt/paths.js';
import { previousFailure } from '../src/attempt/previous-failure.js';
import type { AttemptRecord } from '../src/state/doc.js';
import { tempDir } from './helpers.js';

const config = () => resolveConfig({ project: 'pf', specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }] }, join(tempDir('pf'), 'specs.config.ts'));
const failed = (rest: Partial<AttemptRecord> = {}): AttemptRecord => ({ n: 1, startedAt: 'x', endedAt: 'y', state: 'failed', kind: 'agent-failed', reason: 'agent exited 1', ...rest });

describe('previousFailure', () => {
  it('quotes the last 40 lines of a long failed log, not its beginning', async () => {
    const c = await config();
    const log = attemptLogPath(c, '001', 1);
    mkdirSync(dirname(log), { recursive: true });
    writeFileSync(log, `${Array.from({ length: 500 }, (_, i) => `line ${i + 1}`).join('\n')}\nError: the real cause\n\n`);
    const p = previousFailure(c, '001', [failed()])!;
    expect(p.reason).toBe('agent exited 1');
    const lines = p.logTail.split('\n');
    expect(lines).toHaveLength(40);
    expect(lines.at(-1)).toBe('Error: the real cause');
    expect(lines[0]).toBe('line 462');
    expect(p.logTail).not.toContain('line 1\n');
  });

  it('a failed check: its command and its own output, not the agent log', async () => {
    const c = await config();
    const p = previousFailure(c, '001', [failed({ kind: 'verify-failed', reason: 'verify failed', verify: [{ argv: ['npm', 'test'], ok: true, seconds: 1 }, { argv: ['npm', 'run', 'lint'], ok: false, exitCode: 2, seconds: 1, tail: 'lint: 3 problems' }] })])!;
    expect(p).toEqual({ reason: 'verify failed', logTail: '', check: { command: 'npm run lint', tail: 'lint: 3 problems' } });
  });

  it('nothing to say after a stop, a decision by hand, a launch error, a rate limit or a success', async () => {
    const c = await config();
    for (const kind of ['interrupted', 'manual', 'launch-error'] as const) expect(previousFailure(c, '001', [failed({ kind })])).toBeUndefined();
    expect(previousFailure(c, '001', [failed({ state: 'rate-limited', kind: 'rate-limited' })])).toBeUndefined();
    expect(previousFailure(c, '001', [failed({ state: 'done', kind: 'done', reason: undefined })])).toBeUndefined();
    expect(previousFailure(c, '001', [])).toBeUndefined();
  });

  it('a failure whose log is gone still gives its reason', async () => {
    const c = await config();
    expect(previousFailure(c, '001', [failed()])).toEqual({ reason: 'agent exited 1', logTail: '' });
  });
});
