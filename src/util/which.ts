// Finding a program as a process start would, without starting one.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Whether `file` exists and this user may execute it. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks an executable up on PATH without starting a process. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}
