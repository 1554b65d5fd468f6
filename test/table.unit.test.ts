// The list table: cli-table3 for ordinary tables, laid out directly past
// 1,000 rows (cli-table3's layout is quadratic). Both give the same characters.
import { describe, expect, it } from 'vitest';
import { renderTable } from '../src/ui/table.js';
import { palette } from '../src/ui/style.js';

const HEAD = ['id', 'name', 'wave', 'state'];
function rows(n: number, color: boolean): string[][] {
  const c = palette(color);
  return Array.from({ length: n }, (_, i) => [String(i + 1).padStart(4, '0'), `spec-${'x'.repeat(i % 13)}`, String(i % 7), i % 3 ? c.green('done') : c.red('failed')]);
}

describe('renderTable', () => {
  for (const color of [false, true]) {
    it(`cli-table3 (sliced) and the direct layout agree to the character${color ? ', in colour' : ''}`, async () => {
      const r = rows(450, color);
      const a = await renderTable(HEAD, r, color, { engine: 'cli-table3' });
      const b = await renderTable(HEAD, r, color, { engine: 'direct' });
      expect(b).toBe(a);
      // Colour follows the caller's choice, whatever the test runner's own terminal is.
      expect(a.startsWith('\x1b[1mid')).toBe(color);
      expect(a.split('\n')).toHaveLength(452);
      // One table: every row's columns start where the header's do.
      const plain = a.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.trimEnd());
      expect(plain[0]).toBe('id    name               wave  state');
      expect(plain[401]!.indexOf('done') >= 0 || plain[401]!.indexOf('failed') >= 0).toBe(true);
      for (const l of plain.slice(1, -1)) expect(l.indexOf(l.split(/\s+/)[3]!)).toBe(plain[0]!.indexOf('state'));
    });
  }
});
