// A hook never holds the run up for longer than its timeout, even when it
// leaves a background child holding its output pipes open.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/load.js';
import { runHook } from '../src/attempt/hooks.js';
import { tempDir } from './helpers.js';

const config = (onWaveComplete: string[], timeoutSeconds: number) => {
  const dir = tempDir();
  return resolveConfig({ project: 'demo', specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }], hooks: { onWaveComplete, timeoutSeconds } }, join(dir, 'specs.config.json'));
};

/** Live (not zombie) processes whose command line is exactly `argv`: a unique sleep length marks the hook's own. */
function running(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const state = /^\d+ \(.*\) (\S)/s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
      if (state !== 'Z' && readFileSync(`/proc/${pid}/cmdline`, 'utf8') === want) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - t0 };
}

describe('hook timeouts', () => {
  it('a hook that hangs with a background child is stopped at its timeout, the child with it', async () => {
    const marker = `${30 + Math.random()}`.slice(0, 9);
    const c = await config(['sh', '-c', `sleep ${marker} & sleep ${marker}`], 1);
    const { value, ms } = await timed(() => runHook(c, 'onWaveComplete', {}));
    expect(value).toEqual({ hook: 'onWaveComplete', ok: false, error: 'timed out after 1 s' });
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(6000);
    expect(running(['sleep', marker])).toEqual([]);
  }, 45_000);

  it('a hook that exits 0 while a background child keeps its output open counts as done, without waiting for the child', async () => {
    const marker = `${30 + Math.random()}`.slice(0, 9);
    const c = await config(['sh', '-c', `echo started; sleep ${marker} & exit 0`], 20);
    const { value, ms } = await timed(() => runHook(c, 'onWaveComplete', {}));
    expect(value).toEqual({ hook: 'onWaveComplete', ok: true });
    expect(ms).toBeLessThan(3000);
    for (const pid of running(['sleep', marker])) process.kill(pid, 'SIGKILL');
  }, 45_000);

  it('a hook that fails while a background child keeps its output open reports its exit code and last error line', async () => {
    const marker = `${30 + Math.random()}`.slice(0, 9);
    const c = await config(['sh', '-c', `sleep ${marker} & echo 'no display' >&2; exit 3`], 20);
    const { value, ms } = await timed(() => runHook(c, 'onWaveComplete', {}));
    expect(value).toEqual({ hook: 'onWaveComplete', ok: false, error: 'exited with code 3: no display' });
    expect(ms).toBeLessThan(3000);
    for (const pid of running(['sleep', marker])) process.kill(pid, 'SIGKILL');
  }, 45_000);
});
