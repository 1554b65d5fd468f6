// Text from outside (a failure reason, a host's answer, a spec's name, a log) is
// shown, never obeyed: a terminal acts on ESC/OSC sequences (a title, the
// clipboard, a cleared screen), CR rewinds a line to fake a row, and bidi
// overrides reorder what is read. Each such character is printed as an escape.

// C0 (with ESC, CR, BEL, backspace); then DEL, C1, the bidi marks, overrides and isolates, and the line/paragraph separators.
const C0 = '\\x00-\\x1f';
const C0_BUT_LINES = '\\x00-\\x08\\x0b-\\x1f';
const ABOVE = '\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069';
const ANY = new RegExp(`[${C0}${ABOVE}]`);
const ONE_LINE = new RegExp(`[${C0}${ABOVE}]`, 'g');
// Text of many lines keeps its newlines and tabs.
const ANY_BUT_LINES = new RegExp(`[${C0_BUT_LINES}${ABOVE}]`);
const MULTI_LINE = new RegExp(`[${C0_BUT_LINES}${ABOVE}]`, 'g');
// JSON.stringify has escaped C0 already (and its layout's newlines must stay).
const ANY_ABOVE = new RegExp(`[${ABOVE}]`);
const JSON_RAW = new RegExp(`[${ABOVE}]`, 'g');
// dispatch's own sequences: colours (the palette), the live table's redraw, pre-plan's progress line.
const OWN_OR_CONTROL = new RegExp(`(\\x1b\\[[0-9;]*m|\\x1b\\[\\d*F\\x1b\\[J|\\r\\x1b\\[2K)|[${C0_BUT_LINES}${ABOVE}]`, 'g');

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
/** `\x1b`, `\r`, `\u202e`: what a reader recognises, and what a shell's $'...' reads back. */
export function escapeChar(ch: string): string {
  const n = ch.charCodeAt(0);
  return NAMED[ch] ?? (n < 0x80 ? `\\x${hex(n, 2)}` : `\\u${hex(n, 4)}`);
}

/** Whether `s` holds a character a terminal would act on rather than show. */
export function hasControl(s: string): boolean {
  return ANY.test(s);
}

/** A one-line field (a reason, a name, a host, a path): every control shown as an escape, a newline too. */
export function visible(s: string): string {
  return ANY.test(s) ? s.replace(ONE_LINE, escapeChar) : s;
}

/** Text of many lines (a log, spec.md, a check's output): newlines and tabs kept, CR+LF read as a newline, every other control shown. */
export function visibleText(s: string): string {
  return ANY_BUT_LINES.test(s) ? s.replace(/\r\n/g, '\n').replace(MULTI_LINE, escapeChar) : s;
}

/**
 * The last guard before stdout and stderr: dispatch's own colour and redraw
 * sequences pass, any other control is shown. Outside values are made visible
 * where they are rendered (a colour they carry looks like ours here, and a
 * newline in a one-line field cannot be told from a real one).
 */
export function terminalSafe(s: string): string {
  return ANY_BUT_LINES.test(s) ? s.replace(OWN_OR_CONTROL, (m, own: string | undefined) => own ?? escapeChar(m)) : s;
}

/** `--json`: JSON.stringify escapes C0 but leaves DEL, C1 and bidi controls raw; as \u escapes they parse back to the same value. */
export function jsonVisible(json: string): string {
  return ANY_ABOVE.test(json) ? json.replace(JSON_RAW, (ch) => `\\u${hex(ch.charCodeAt(0), 4)}`) : json;
}

/**
 * Data for a text view with every string in it (keys too) made visible: what a
 * service returns is printed field by field, and one call here covers every
 * field. What holds no control is returned as it is, not copied.
 */
export function visibleAll<T>(v: T): T {
  if (typeof v === 'string') return visible(v) as T;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = visibleAll(v[i] as unknown);
      if (x !== v[i]) (out ??= v.slice())[i] = x;
    }
    return (out ?? v) as T;
  }
  if (v && typeof v === 'object' && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null)) {
    let out: Record<string, unknown> | undefined;
    for (const k of Object.keys(v)) {
      const was = (v as Record<string, unknown>)[k];
      const x = visibleAll(was);
      const key = visible(k);
      if (x === was && key === k) continue;
      out ??= Object.assign(Object.create(Object.getPrototypeOf(v)) as Record<string, unknown>, v);
      if (key !== k) delete out[k];
      out[key] = x;
    }
    return (out ?? v) as T;
  }
  return v;
}
