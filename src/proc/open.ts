// Opens a file in the user's browser: the platform's opener, started detached
// (it may keep running), through the one launching module. `$BROWSER` is taken
// as a program, never as a shell string.
import { dirname } from 'node:path';
import { spawnDetached, type Argv } from './launch.js';

/** Undefined when the opener started; else why not. */
export async function openInBrowser(file: string): Promise<string | undefined> {
  const { onPath } = await import('../util/which.js');
  const browser = process.env.BROWSER?.trim();
  const opener = browser && !browser.includes(' ') ? browser : process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const bin = opener.includes('/') ? opener : onPath(opener);
  if (!bin) return `'${opener}' is not installed`;
  try {
    await spawnDetached([bin, file] as Argv, { cwd: dirname(file) });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
