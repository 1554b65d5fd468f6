import type { Check } from '../run/preflight.js';
import type { Palette } from './style.js';
import { visible } from '../util/visible.js';

/** One line per check, as doctor, `run --dry-run` and a refused run print them; a detail quoting a path or a host's answer is shown, not obeyed. */
export function checkLine(c: Palette, k: Check): string {
  const mark = { ok: c.green('ok  '), warn: c.yellow('warn'), fail: c.red('FAIL') }[k.status];
  return `${mark}  ${visible(k.name).padEnd(12)} ${visible(k.detail)}${k.fix ? c.dim(` — ${visible(k.fix)}`) : ''}`;
}
