// Signal files are created, never written through: a symlink planted at a
// signal's path (the signal folder is often the shared temp folder) is
// replaced by the signal, and the file it pointed at is left alone.
import { lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch, makeProject, tempDir } from './helpers.js';

const SPECS = [{ id: '001', name: 'alpha', wave: 1 }];

function planted(signalDir: string, name: string) {
  const victim = join(tempDir('victim-'), 'precious.txt');
  writeFileSync(victim, 'precious\n');
  symlinkSync(victim, join(signalDir, name));
  return victim;
}

describe('signal files', () => {
  for (const [verb, kind, args, body] of [
    ['mark-failed', 'failed', ['--reason', 'X'], 'X\n'],
    ['mark-done', 'done', [], undefined],
  ] as const) {
    it(`${verb}: a symlink at the ${kind} signal is replaced by a regular file; its target is unchanged`, () => {
      const dir = makeProject({ specs: SPECS });
      const signals = join(dir, 'signals');
      mkdirSync(signals);
      const victim = planted(signals, `demo-${kind}-001`);
      const r = dispatch(dir, [verb, '001', ...args]);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      const sig = join(signals, `demo-${kind}-001`);
      expect(lstatSync(sig).isFile()).toBe(true);
      if (body !== undefined) expect(readFileSync(sig, 'utf8')).toBe(body);
      else expect(readFileSync(sig, 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
      // No temp file left beside it.
      expect(readdirSync(signals)).toEqual([`demo-${kind}-001`]);
    });
  }
});
