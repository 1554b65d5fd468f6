// Remote runs on record: entries of the wrong shape are refused in one line with nothing touched, and ids
// that name an object's own properties (__proto__) are kept like any other.
// Real CLI processes on seeded state files; no host is reachable (port 1), which is what a removed pool looks like.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { statePathOf, dispatchIn } from './helpers.js';
import { engineProject } from './fixtures/engine.js';

const T = '2026-01-01T00:00:00.000Z';
const place = (label: string) => ({ host: '127.0.0.1', port: 1, dispatch: 'dispatch', dir: '/nonexistent', base: '/nonexistent/.dispatch/demo', label, session: `s-${label}` });
const sshEntry = (label: string) => ({ pid: 0, host: 'gone', startedAt: T, attempt: 1, executor: 'ssh', place: place(label) });
const hist = { attempts: 1, history: [{ n: 1, startedAt: T }] };

function project(ids: string[], state: unknown): string {
  return engineProject({ specs: ids.map((id) => ({ id, name: 'x', wave: 1, cost: 1 })), state });
}
const read = (dir: string) => JSON.parse(readFileSync(statePathOf(dir), 'utf8'));
const oneLine = (stderr: string) => {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(/^dispatch: /);
  expect(stderr).not.toMatch(/^\s+at /m);
};

describe('remote runs decided by hand, hostile ids', () => {
  // A map read back from the file has no prototype: an id `__proto__` (a valid spec id) is a key like any other.
  it('mark-done __proto__ while it runs on a host keeps its run as outlived (as it does for 001)', async () => {
    const dir = project(['__proto__', 'constructor'], {
      completed: ['constructor'], failed: [], skipped: [],
      dispatch: { version: 1, running: { __proto__: sshEntry('demo-p-1') }, outlived: { constructor: sshEntry('demo-c-1') }, specs: { __proto__: hist, constructor: hist } },
    });
    // JSON.stringify of a literal `__proto__` key would set the prototype: write the key as text.
    const raw = readFileSync(statePathOf(dir), 'utf8');
    expect(raw).not.toContain('__proto__');
    writeFileSync(statePathOf(dir), raw.replace('"running":{}', `"running":{"__proto__":${JSON.stringify(sshEntry('demo-p-1'))}}`).replace('"specs":{', `"specs":{"__proto__":${JSON.stringify(hist)},`));
    expect(Object.keys(read(dir).dispatch.running)).toEqual(['__proto__']);
    const r = await dispatchIn(dir, ['mark-done', '__proto__']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/__proto__: running → done/);
    const d = read(dir).dispatch;
    expect(Object.keys(d.running)).toEqual([]);
    expect(Object.keys(d.outlived).sort()).toEqual(['__proto__', 'constructor']);
  });
});

describe('remote entries of the wrong shape', () => {
  // Only a remote run outlives a decision by hand: an entry naming no executor is refused, not taken for a local one.
  it('an outlived entry without executor: stop does not claim to have ended an agent it never reached', async () => {
    const entry = { pid: 0, host: 'x', startedAt: T, attempt: 1 };
    const dir = project(['001'], { completed: ['001'], failed: [], skipped: [], dispatch: { version: 1, running: {}, outlived: { '001': entry }, specs: { '001': hist } } });
    const before = readFileSync(statePathOf(dir), 'utf8');
    const r = await dispatchIn(dir, ['stop', '001']);
    expect(r.stdout).not.toMatch(/was ended/);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(readFileSync(statePathOf(dir), 'utf8')).toBe(before);
  });

  // Each wrong shape is one line, exit 1, no stack trace, the file untouched, whatever the command.
  const shapes: [string, unknown][] = [
    ['executor "tmux"', { running: { '001': { pid: 0, host: 'x', startedAt: T, executor: 'tmux' } } }],
    ['executor 1', { running: { '001': { pid: 0, host: 'x', startedAt: T, executor: 1 } } }],
    ['recheck an array', { running: {}, recheck: [1] }],
    ['recheck entry a string', { running: {}, recheck: { k: 'x' } }],
    ['recheck entry without place', { running: {}, recheck: { k: { host: 'x' } } }],
    ['recheck place with port 0', { running: {}, recheck: { k: { host: 'x', place: { ...place('l'), port: 0 } } } }],
  ];
  for (const [what, d] of shapes) {
    it(`${what}: status, stop, reset, mark-done, run refuse with one line`, async () => {
      const dir = project(['001'], { completed: [], failed: [], skipped: [], dispatch: { version: 1, specs: {}, ...(d as object) } });
      const before = readFileSync(statePathOf(dir), 'utf8');
      for (const args of [['status'], ['stop', '001'], ['reset', '--spec', '001'], ['mark-done', '001'], ['run', '--yes', '--no-plan']]) {
        const r = await dispatchIn(dir, args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
        oneLine(r.stderr);
        expect(r.stderr).toMatch(/is corrupt/);
        expect(readFileSync(statePathOf(dir), 'utf8')).toBe(before);
      }
    });
  }
});
