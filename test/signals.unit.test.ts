// The signal files the original tool wrote for other scripts: a spec's new
// state writes its own file and removes the opposite one (never both at once);
// going back to pending removes both.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clearSignals, signalPath, writeSignal } from '../src/state/signals.js';
import { tempDir } from './helpers.js';

describe('writeSignal', () => {
  it('done then failed then done: each flips the other away', () => {
    const dir = tempDir('sig');
    const done = signalPath(dir, 'p', 'done', '001');
    const failed = signalPath(dir, 'p', 'failed', '001');
    expect(done).toBe(`${dir}/p-done-001`);
    expect(writeSignal(dir, 'p', 'done', '001')).toBeUndefined();
    expect([existsSync(done), existsSync(failed)]).toEqual([true, false]);
    expect(writeSignal(dir, 'p', 'failed', '001', 'verify failed\n')).toBeUndefined();
    expect([existsSync(done), existsSync(failed)]).toEqual([false, true]);
    expect(readFileSync(failed, 'utf8')).toBe('verify failed\n');
    writeSignal(dir, 'p', 'done', '001');
    expect([existsSync(done), existsSync(failed)]).toEqual([true, false]);
    // Another spec's files are its own.
    writeSignal(dir, 'p', 'failed', '002');
    expect(existsSync(done)).toBe(true);
  });

  it('clearSignals removes both of one spec', () => {
    const dir = tempDir('sig');
    writeSignal(dir, 'p', 'done', '001');
    writeSignal(dir, 'p', 'failed', '002');
    expect(clearSignals(dir, 'p', '001')).toBeUndefined();
    expect(existsSync(signalPath(dir, 'p', 'done', '001'))).toBe(false);
    expect(existsSync(signalPath(dir, 'p', 'failed', '002'))).toBe(true);
  });

  it('a file with no body says when it was written', () => {
    const dir = tempDir('sig');
    writeSignal(dir, 'p', 'done', '001');
    expect(readFileSync(signalPath(dir, 'p', 'done', '001'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
  });
});
