/** Rows per cli-table3 table: its layout is quadratic in the number of cells, so long tables go in slices. */
const SLICE = 200;
/** Past this many rows even sliced cli-table3 costs seconds (about 30 µs a cell): the same lines are laid out directly. */
const DIRECT_FROM = 1000;

const ASCII = /^[\x20-\x7e]*$/;
/** Width on screen: colour codes take none, and a character outside ASCII counts once (not per UTF-16 unit). */
const plainWidth = (s: string) => {
  // Most cells are plain ASCII: measured without a copy (a 10,000-row list measures 160,000 cells).
  if (ASCII.test(s)) return s.length;
  return [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;
};
const PAD_RIGHT = 2;

/**
 * A borderless table, each column as wide as its widest cell plus two spaces.
 * cli-table3 (loaded lazily) lays out ordinary tables; a very long one is laid
 * out directly, to the same characters (a test holds the two together).
 */
export async function renderTable(head: string[], rows: string[][], color: boolean, opts: { engine?: 'cli-table3' | 'direct' } = {}): Promise<string> {
  const widths = head.map((h, i) => rows.reduce((w, r) => Math.max(w, plainWidth(r[i] ?? '')), plainWidth(h)) + PAD_RIGHT);
  const engine = opts.engine ?? (rows.length > DIRECT_FROM ? 'direct' : 'cli-table3');
  // The header is made bold here, for both engines: cli-table3's own head style
  // goes through @colors/colors, which decides by itself whether the output is a
  // terminal and so disagrees with --color / FORCE_COLOR.
  const { palette } = await import('./style.js');
  const bold = palette(color).bold;
  const styledHead = head.map((h) => bold(h));
  if (engine === 'direct') {
    const pad = (c: string, i: number) => c + ' '.repeat(Math.max(0, widths[i]! - plainWidth(c)));
    const line = (cells: string[]) => cells.map(pad).join('').trimEnd();
    let out = `${line(styledHead)}\n`;
    for (const r of rows) out += `${line(r)}\n`;
    return out;
  }
  const { default: Table } = await import('cli-table3');
  let out = '';
  for (let at = 0; at === 0 || at < rows.length; at += SLICE) {
    // Widths measured over all rows and fixed, so the slices line up as one table.
    const table = new Table({
      ...(at === 0 ? { head: styledHead } : {}),
      colWidths: widths,
      style: { head: [], border: [], 'padding-left': 0, 'padding-right': PAD_RIGHT, compact: true },
      chars: {
        top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
        left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
      },
    });
    table.push(...rows.slice(at, at + SLICE));
    const text = table.toString();
    if (text) out += `${text.split('\n').map((l) => l.trimEnd()).join('\n')}\n`;
  }
  return out;
}
