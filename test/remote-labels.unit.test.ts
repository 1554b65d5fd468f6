// The host side of an SSH run takes run labels from the dispatcher's command
// line: `.` and `..` name the runs folder and the project's folder, and a
// cleanup or stop of them would remove every run there. They are refused.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanAll, poll, stop } from '../src/remote/host.js';
import { tempDir } from './helpers.js';

function hostBase(): string {
  const base = join(tempDir('remote-base-'), '.dispatch', 'p-0123456789');
  mkdirSync(join(base, 'runs', 'p-001-1'), { recursive: true });
  writeFileSync(join(base, 'runs', 'p-001-1', 'job.json'), JSON.stringify({ label: 'p-001-1', id: '001', attempt: 1, project: 'p', config: { stateDir: join(base, 'runs', 'p-001-1', 'state') } }));
  return base;
}

describe('run labels on a host', () => {
  it.each(['.', '..', '+..', '+.', '!..'])('a cleanup of %j removes nothing', async (what) => {
    const base = hostBase();
    await cleanAll(base, join(base, '..', '..'), [what]);
    expect(existsSync(join(base, 'runs', 'p-001-1', 'job.json'))).toBe(true);
  });

  it.each(['.', '..'])('stop of %j is refused as not a run label', async (label) => {
    const base = hostBase();
    await expect(stop(base, label, { kill: true, discard: true })).rejects.toThrow(/not a run label/);
    expect(existsSync(join(base, 'runs'))).toBe(true);
  });

  it('a folder named .. or . under runs is never reported as a run', () => {
    const base = hostBase();
    expect(poll(base).runs.map((r) => r.label)).toEqual(['p-001-1']);
  });
});
