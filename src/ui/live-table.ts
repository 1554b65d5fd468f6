// The live view while a wave runs. On a terminal it redraws a small table in
// place; elsewhere the run command prints one line per event instead.
import type { LiveRow } from '../run/engine.js';
import { columns, paintState, type Palette } from './style.js';
import { visible } from '../util/visible.js';

export function elapsed(fromIso: string | undefined, now = Date.now()): string {
  if (!fromIso) return '';
  return duration((now - Date.parse(fromIso)) / 1000);
}

/** A length of time: "42s", "3m05s", "1h02m". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Time left until an ISO time: "42s", "3m05s". */
export function remaining(untilIso: string, now = Date.now()): string {
  return elapsed(new Date(now - Math.max(0, Date.parse(untilIso) - now)).toISOString(), now);
}

/** `title`: the wave driven, or a label when several run at once (eager). */
export function renderLive(c: Palette, title: number | string, rows: LiveRow[], footer: string): string {
  const body = columns([
    ['spec', 'agent', 'state', 'elapsed', ''].map((h) => c.bold(h)),
    // A spec's name and a failure's reason come from outside: shown, not obeyed.
    ...rows.map((r) => [
      `${visible(r.id)}-${visible(r.name)}`,
      visible(r.agent),
      paintState(c, r.state) + (r.attempt && r.attempt > 1 ? c.dim(` #${r.attempt}`) : ''),
      r.state === 'running' || r.state === 'stalled' ? elapsed(r.startedAt) : r.until ? `retry in ${remaining(r.until)}` : r.durationSeconds !== undefined ? duration(r.durationSeconds) : '',
      r.reason ? c.dim(visible(r.reason).slice(0, 60)) : '',
    ]),
  ]);
  return `${c.bold(typeof title === 'number' ? `wave ${title}` : title)}\n${body}${footer ? `${c.dim(footer)}\n` : ''}`;
}

/** Redraws a block of text in place on a terminal stream. */
export class InPlace {
  private lines = 0;
  constructor(private write: (s: string) => void) {}
  draw(text: string): void {
    const up = this.lines ? `\x1b[${this.lines}F\x1b[J` : '';
    this.write(up + text);
    this.lines = text.split('\n').length - 1;
  }
  /** Leaves the last drawing on screen; the next output starts below it. */
  done(): void {
    this.lines = 0;
  }
}
