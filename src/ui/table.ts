/** A borderless cli-table3 table; loaded lazily by the verbs that print one. */
export async function renderTable(head: string[], rows: string[][], color: boolean): Promise<string> {
  const { default: Table } = await import('cli-table3');
  const table = new Table({
    head,
    style: { head: color ? ['bold'] : [], border: [], 'padding-left': 0, 'padding-right': 2, compact: true },
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
    },
  });
  table.push(...rows);
  return `${table.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`;
}
