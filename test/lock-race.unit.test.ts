// The state lock against a release that lands between a waiter's failed
// attempt and its read of the holder: the waiter finds no lock file and must
// simply try again (it cannot be made to happen on cue with real processes,
// so the read is wrapped to release the lock at that moment).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from './helpers.js';

const race = vi.hoisted(() => ({ releaseOnRead: undefined as string | undefined, removeAfterRead: undefined as string | undefined, reads: 0 }));
vi.mock('../src/state/owned-file.js', async (load) => {
  const real = await load<typeof import('../src/state/owned-file.js')>();
  return {
    ...real,
    readOwned: (path: string) => {
      race.reads++;
      if (race.releaseOnRead === path) {
        race.releaseOnRead = undefined;
        rmSync(path); // the holder lets go just now
      }
      const seen = real.readOwned(path);
      if (race.removeAfterRead === path) {
        race.removeAfterRead = undefined;
        rmSync(path); // a hand removes it just after it was read
      }
      return seen;
    },
  };
});

const { lockState } = await import('../src/state/lock.js');

/** A live holder (this very process, nonce 'n'): never broken, only waited for. */
const holdAsThisProcess = (file: string) =>
  writeFileSync(`${file}.lock`, `${JSON.stringify({ pid: process.pid, host: hostname(), since: '2026-01-01T00:00:00Z', nonce: 'n' })}\n`);

describe('a lock released while a waiter looks at it', () => {
  it('is taken on the next try, with no error and no wait', async () => {
    const file = join(tempDir('dispatch-lock-race-'), 'dispatch-state.json');
    holdAsThisProcess(file);
    race.releaseOnRead = `${file}.lock`;
    const release = await lockState(file, { waitLimitMs: 5000 });
    expect(race.releaseOnRead).toBeUndefined();
    expect(JSON.parse(readFileSync(`${file}.lock`, 'utf8')).nonce).not.toBe('n');
    await release();
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});

describe('a waiter behind a live holder', () => {
  it('looks less and less often: a few dozen looks in 400 ms, not hundreds', async () => {
    const file = join(tempDir('dispatch-lock-poll-'), 'dispatch-state.json');
    holdAsThisProcess(file);
    setTimeout(() => rmSync(`${file}.lock`), 400);
    race.reads = 0;
    const release = await lockState(file, { waitLimitMs: 5000 });
    // 1 ms, then half again each time up to 25 ms (jittered): about 25 looks in 400 ms; a loaded machine looks less.
    expect(race.reads).toBeGreaterThanOrEqual(3);
    expect(race.reads).toBeLessThan(60);
    await release();
  });
});

describe('a lock removed by a hand while its holder lets go', () => {
  it('the release stays quiet: the lock is gone either way', async () => {
    const file = join(tempDir('dispatch-lock-gone-'), 'dispatch-state.json');
    const release = await lockState(file, { waitLimitMs: 5000 });
    race.removeAfterRead = `${file}.lock`;
    await expect(release()).resolves.toBeUndefined();
    expect(race.removeAfterRead).toBeUndefined();
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});
