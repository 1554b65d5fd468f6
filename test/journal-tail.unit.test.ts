// The journal's numbering across writers: each write to the state reads the journal's last `seq`
// from its end (cutting a torn last line first), and the next events go on from there. Read
// backwards in growing windows, so long lines and lines without a seq must not lose the count.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withState } from '../src/state/store.js';
import { tempDir } from './helpers.js';

const line = (seq: number, extra: Record<string, unknown> = {}) => `${JSON.stringify({ seq, time: '2026-01-01T00:00:00Z', spec: '001', from: 'pending', to: 'running', command: 'run', ...extra })}\n`;

/** A project whose journal holds `text` and which has no state file yet; returns the journal after one change. */
async function afterOneChange(text: string): Promise<string[]> {
  const stateDir = join(tempDir('dispatch-journal-'), '.codex');
  mkdirSync(stateDir, { recursive: true });
  const journal = join(stateDir, 'dispatch-events.jsonl');
  writeFileSync(journal, text);
  await withState(stateDir, { command: 'mark-done' }, (doc) => {
    doc.completed.push('002');
  });
  return readFileSync(journal, 'utf8').split('\n').filter(Boolean);
}

const seqOf = (l: string) => (JSON.parse(l) as { seq: number }).seq;

describe('the journal goes on from its last seq', () => {
  it('after whole lines: the next event is numbered one past the last', async () => {
    const lines = await afterOneChange(line(1) + line(2) + line(7));
    expect(lines.map(seqOf)).toEqual([1, 2, 7, 8]);
  });

  it('a torn last line (a writer killed mid-append) is cut off, and the count goes on from the last whole line', async () => {
    const lines = await afterOneChange(line(1) + line(2) + line(3).slice(0, 20));
    expect(lines.map(seqOf)).toEqual([1, 2, 3]);
  });

  it('a last line longer than the first window read (a 20 KB reason) is read whole', async () => {
    const lines = await afterOneChange(line(4) + line(5, { reason: 'x'.repeat(20_000) }));
    expect(lines.map(seqOf)).toEqual([4, 5, 6]);
  });

  it('a torn line longer than the first window is cut whole, back to the last newline', async () => {
    const lines = await afterOneChange(line(4) + line(9).repeat(1) + `{"seq":99,"reason":"${'y'.repeat(30_000)}`);
    expect(lines.map(seqOf)).toEqual([4, 9, 10]);
  });

  it('lines without a seq at the end (added by hand) are passed over for the last one that has one', async () => {
    const lines = await afterOneChange(line(11) + '{"note":"by hand"}\n'.repeat(500));
    expect(lines.filter((l) => l.includes('"seq"')).map(seqOf)).toEqual([11, 12]);
  });

  it('a journal of more than 256 KB goes on from its last line', async () => {
    const lines = await afterOneChange(line(1).repeat(3000) + line(50));
    expect(lines.slice(-2).map(seqOf)).toEqual([50, 51]);
  });

  it('a journal that ends exactly at the first window read (4096 bytes) is read whole', async () => {
    const pad = (seq: number, width: number) => {
      const base = line(seq, { reason: '' });
      return line(seq, { reason: 'p'.repeat(width - base.length) });
    };
    const text = pad(1, 2048) + pad(2, 2048);
    expect(Buffer.byteLength(text)).toBe(4096);
    expect((await afterOneChange(text)).map(seqOf)).toEqual([1, 2, 3]);
  });

  it('a last line longer than 256 KB (a 600 KB reason from an older dispatch) is read back to its start', async () => {
    const lines = await afterOneChange(line(11) + line(12, { reason: 'x'.repeat(600_000) }));
    expect(lines.map(seqOf)).toEqual([11, 12, 13]);
  });

  it('a torn last line longer than 256 KB is cut back to the last newline, not in its middle', async () => {
    const lines = await afterOneChange(line(11) + `{"seq":12,"reason":"${'y'.repeat(600_000)}`);
    expect(lines.map(seqOf)).toEqual([11, 12]);
  });

  it('a journal that is one torn line, with no newline at all, is emptied and starts at 1', async () => {
    const lines = await afterOneChange(`{"seq":12,"reason":"${'y'.repeat(10_000)}`);
    expect(lines.map(seqOf)).toEqual([1]);
  });

  it('lines without a seq over more than 256 KB are passed over, back to the last one that has one', async () => {
    const lines = await afterOneChange(line(20) + '{"note":"by hand"}\n'.repeat(20_000));
    expect(lines.filter((l) => l.includes('"seq"')).map(seqOf)).toEqual([20, 21]);
  });

  it('a journal cut at any byte (a writer killed mid-append, 120 random cuts, long lines among short) goes on from its last whole line, never repeating a seq', async () => {
    const lines = [line(1), line(2, { reason: 'a'.repeat(300_000) }), line(3), line(4, { reason: 'b'.repeat(5_000) }), line(5), line(6, { reason: 'c'.repeat(270_000) })];
    const text = Buffer.from(lines.join(''));
    const ends: number[] = [];
    for (let at = 0, i = 0; i < lines.length; i++) ends.push((at += Buffer.byteLength(lines[i]!)));
    let problems = 0;
    for (let trial = 0; trial < 120; trial++) {
      const cut = trial === 0 ? text.length : Math.floor(Math.random() * text.length);
      const whole = ends.filter((e) => e <= cut).length;
      const got = (await afterOneChange(text.subarray(0, cut).toString('latin1'))).map(seqOf);
      const want = [...Array(whole).keys()].map((k) => k + 1).concat(whole + 1);
      if (JSON.stringify(got) !== JSON.stringify(want)) problems++;
    }
    expect(problems).toBe(0);
  });

  it('a journal with no seq anywhere starts at 1', async () => {
    const lines = await afterOneChange('{"note":"by hand"}\n');
    expect(lines.filter((l) => l.includes('"seq"')).map(seqOf)).toEqual([1]);
  });
});
