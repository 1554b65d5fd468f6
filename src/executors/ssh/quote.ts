// The one place where values become words of a remote shell's command line.
// ssh hands the remote side a single string for the user's login shell:
// every word is single-quoted (POSIX; fish, bash, zsh and dash read it alike),
// so `$()`, `;`, quotes, newlines and `#()` arrive as the bytes they are.
import type { Argv } from '../../proc/launch.js';

/** One word, quoted: `it's` → `'it'\''s'`. A word that is `~` or starts with `~/` keeps meaning the remote home. */
export function quoteRemote(word: string): string {
  if (word === '~') return '"$HOME"';
  if (word.startsWith('~/')) return `"$HOME"/${quoteRemote(word.slice(2))}`;
  if (word === '') return "''";
  // Words of plain characters need no quotes (and read better in `attach --print`).
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command as the remote shell must receive it: each word quoted, joined by spaces. */
export const remoteCommand = (argv: Argv): string => argv.map(quoteRemote).join(' ');
