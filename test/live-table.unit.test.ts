// The live table a run draws on a terminal: finished specs keep how long they ran.
import { describe, expect, it } from 'vitest';
import { renderLive } from '../src/ui/live-table.js';
import { rowsFor } from '../src/run/engine.js';
import { palette } from '../src/ui/style.js';
import type { ResolvedConfig } from '../src/config/load.js';
import type { StateDoc } from '../src/state/doc.js';

const spec = (id: string) => ({ id, name: `s${id}`, wave: 1, cost: 1 as const, agent: 'codex', mode: 'direct' as const, dependsOn: [] });
const config = { specs: [spec('001'), spec('002'), spec('003')], stall: { minutes: { 1: 10, 2: 15, 3: 20, 4: 30 }, action: 'warn' }, stateDir: '/nonexistent' } as unknown as ResolvedConfig;
// Relative to now: the table's elapsed column reads the real clock (a fixed date made this test fail an hour later).
const t0 = Math.floor(Date.now() / 1000) * 1000 - 130_000;
const iso = (s: number) => new Date(t0 + s * 1000).toISOString();

describe('live table', () => {
  it('a finished spec shows its last launch\'s duration; a running one its elapsed time; launch numbers past 1 shown', () => {
    const doc = {
      completed: ['001'],
      failed: ['002'],
      skipped: [],
      dispatch: {
        version: 1,
        running: { '003': { pid: 1, host: 'h', startedAt: iso(100), attempt: 1 } },
        specs: {
          '001': { history: [{ n: 1, startedAt: iso(0), endedAt: iso(65), state: 'done' }] },
          '002': { reason: 'agent exited with code 1', kind: 'agent-failed', history: [{ n: 1, startedAt: iso(0), endedAt: iso(3), state: 'failed' }, { n: 2, startedAt: iso(10), endedAt: iso(3730), state: 'failed' }] },
        },
      },
    } as unknown as StateDoc;
    const rows = rowsFor(config, doc, ['001', '002', '003'], t0 + 130_000);
    expect(rows.map((r) => r.durationSeconds)).toEqual([65, 3720, undefined]);
    const lines = renderLive(palette(false), 1, rows, '').split('\n');
    expect(lines[2]).toMatch(/^001-s001\s+codex\s+done\s+1m05s\s*$/);
    expect(lines[3]).toMatch(/^002-s002\s+codex\s+failed #2\s+1h02m\s+agent exited with code 1$/);
    expect(lines[4]).toMatch(/^003-s003\s+codex\s+running\s+\d+(s|m\d\ds)\s*$/);
  });

  it('a hostile name and reason are drawn as escapes, on their own row: no ESC, CR or newline of theirs reaches the screen', () => {
    const rows = [
      { id: '001', name: 'al\x1b[31mpha', agent: 'co\x9bdex', state: 'failed', reason: 'boom\x1b]0;pwned\x07\r\n002-fake  codex  done' },
      { id: '002', name: 'beta', agent: 'codex', state: 'pending' },
    ];
    for (const colour of [false, true]) {
      const text = renderLive(palette(colour), 1, rows, '');
      const lines = text.trimEnd().split('\n');
      expect(lines).toHaveLength(4);
      expect(lines.some((l) => l.startsWith('002-fake'))).toBe(false);
      expect(text.replace(/\x1b\[(1|2|22|31|39)m/g, '')).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      expect(text).toContain('001-al\\x1b[31mpha');
      expect(text).toContain('co\\u009bdex');
      expect(text).toContain('boom\\x1b]0;pwned\\x07\\r\\n002-fake');
    }
  });
});
