import type { Check } from '../run/preflight.js';
import type { Palette } from './style.js';

/** One line per check, as doctor, `run --dry-run` and a refused run print them. */
export function checkLine(c: Palette, k: Check): string {
  const mark = { ok: c.green('ok  '), warn: c.yellow('warn'), fail: c.red('FAIL') }[k.status];
  return `${mark}  ${k.name.padEnd(12)} ${k.detail}${k.fix ? c.dim(` — ${k.fix}`) : ''}`;
}
