import type { SpecState } from '../state/doc.js';

import { Chalk } from 'chalk';
import { visible } from '../util/visible.js';

/** Colours through one place; everything is plain when colour is off (NO_COLOR, --no-color, not a TTY). */
type Paint = (text: string) => string;
export interface Palette { bold: Paint; dim: Paint; red: Paint; green: Paint; yellow: Paint; blue: Paint; magenta: Paint; cyan: Paint; gray: Paint }

// Without colour every style is the text itself: a 10,000-spec dry run paints 30,000 strings.
const same: Paint = (t) => t;
const PLAIN: Palette = { bold: same, dim: same, red: same, green: same, yellow: same, blue: same, magenta: same, cyan: same, gray: same };

export function palette(color: boolean): Palette {
  if (!color) return PLAIN;
  const c = new Chalk({ level: 1 });
  return { bold: c.bold, dim: c.dim, red: c.red, green: c.green, yellow: c.yellow, blue: c.blue, magenta: c.magenta, cyan: c.cyan, gray: c.gray };
}

export function paintState(c: Palette, state: SpecState | string): string {
  switch (state) {
    case 'done':
      return c.green(state);
    case 'failed':
    case 'lost':
      return c.red(state);
    case 'running':
      return c.cyan(state);
    case 'skipped':
      return c.gray(state);
    case 'rate-limited':
    case 'stalled':
    case 'awaiting-merge':
      return c.yellow(state);
    default:
      // A state read from a hand-edited file.
      return visible(state);
  }
}

/** Simple aligned columns without a table library: the hot paths (status) stay light. */
export function columns(rows: string[][], gap = 2): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(cell))));
  return rows
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visible(cell) + gap))).join('').trimEnd())
    .join('\n') + (rows.length ? '\n' : '');
}
