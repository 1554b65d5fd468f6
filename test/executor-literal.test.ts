// Whatever a folder, session or pane name holds reaches the multiplexer as
// itself. Real tmux on a private socket: tmux expands formats (`#{...}`, and
// `#(...)` runs a shell command) in window names, start directories and
// session names, and ends a command at an argument ending in ';'. The zellij
// stand-in: clap reads a value starting with '-' as a flag.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmuxMux } from '../src/executors/tmux.js';
import type { ResolvedConfig } from '../src/config/load.js';
import { dispatchAsync, readStateOf, ROOT, tempDir, dispatchIn } from './helpers.js';
import { NODE, STANDIN_BIN, engineProject, starts, waitFor } from './fixtures/engine.js';

const SOCKET = `dispatch-literal-${process.pid}`;
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const show = (target: string, format: string) => tmux('display-message', '-p', '-t', target, format).stdout.replace(/\n$/, '');

// tmux runs a `#(...)` job in its client's folder: the tests' own, so a job that ran leaves `pwned` where we look.
const home = process.cwd();
let work = '';
beforeAll(() => {
  work = tempDir('literal-cwd-');
  process.chdir(work);
});
afterAll(() => {
  process.chdir(home);
  // Only our private server: never the user's.
  tmux('kill-server');
});

function expectNoPwned(...dirs: string[]) {
  for (const where of [...dirs, work, tmpdir(), ROOT, homedir()]) expect(existsSync(join(where, 'pwned')), where).toBe(false);
}

const JOBS = '#(touch pwned) #{session_name} #S ## #[fg=red] #, $(touch pwned) `touch pwned`';
const QUOTES = `it's "quoted"; echo x`;

describe('tmux: values reach tmux literally', () => {
  it('session name, start folder, window name and command, with #(...), #{...}, ##, quotes and a trailing ;', async () => {
    const root = join(tempDir(), `root ${JOBS};`);
    const cwd = join(tempDir(), `cwd ${JOBS} ${QUOTES}\nline two;`);
    mkdirSync(root, { recursive: true });
    mkdirSync(cwd, { recursive: true });
    const out = join(tempDir(), 'argv.json');
    const mux = tmuxMux(`s ${JOBS} $HOME a.b:c\\d;`, { socket: SOCKET, rootDir: root, config: { stateDir: root } as ResolvedConfig });
    // What tmux would rewrite in a session name on its own is already rewritten; the rest stays.
    expect(mux.session).toBe('s #(touch pwned) #{session_name} #S ## #[fg=red] #, _(touch pwned) `touch pwned` _HOME a_b_c_d;');

    expect(await mux.ensureSession(true)).toMatchObject({ created: true });
    // Found again under the very name: not created twice.
    expect(await mux.ensureSession(true)).toEqual({ created: false, commands: [] });

    const args = [JOBS, QUOTES, '#{pane_id}', 'ends;', ';', 'back\\;', 'two\nlines', '', '-x', 'y'.repeat(250)];
    // Written whole, then moved into place: the test never reads a half-written file.
    const script = `const fs = require('fs'); fs.writeFileSync(process.argv[1] + '.tmp', JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd() })); fs.renameSync(process.argv[1] + '.tmp', process.argv[1]); setTimeout(() => {}, 60000)`;
    const name = `w ${JOBS} ${QUOTES} ${'n'.repeat(250)};`;
    const pane = await mux.open({ name, cwd, argv: [NODE, '-e', script, out, ...args] });
    expect(pane).toMatch(/^%\d+$/);
    await waitFor('the command to start', () => existsSync(out));
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual({ argv: args, cwd });
    expect(show(pane, '#{window_name}')).toBe(name);
    expect(show(pane, '#{session_name}')).toBe(mux.session);
    expect(show(pane, '#{session_path}')).toBe(root);
    tmux('kill-window', '-t', pane);
    expectNoPwned(root, cwd, dirname(cwd));
  });

  it('dispatch run --yes in a project folder named with #(...) and a session named with #{...}', async () => {
    const dir = join(tempDir(), `proj${JOBS};`);
    mkdirSync(dir, { recursive: true });
    const session = `s#(touch pwned)#{session_name}##`;
    engineProject({ dir, specs: [{ id: '001', name: 'a', wave: 1, body: 'sleep 1500\n' }], extra: { multiplexer: 'tmux', tmuxSocket: SOCKET, session } });
    const p = dispatchAsync(dir, ['run', '--yes', '--no-plan', '--mux', 'tmux']);
    await waitFor('the agent to start', () => starts(dir).length > 0);
    const windows = tmux('list-windows', '-t', `=${session}`, '-F', '#{window_name}|#{pane_current_path}');
    expect(windows.stdout).toContain(`demo-001|${dir}\n`);
    const r = await p;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`created tmux session '${session}' (detached)\n`);
    expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
    expect(readStateOf(dir).completed).toEqual(['001']);
    expect(show(`=${session}:`, '#{session_name}|#{session_path}')).toBe(`${session}|${dir}`);
    expectNoPwned(dir, dirname(dir));
  });
});

describe('zellij: names starting with "-" and odd characters stay one argument', () => {
  function zellijWorld() {
    const zdir = tempDir('zellij-standin-');
    const env = { PATH: `${STANDIN_BIN}:${process.env.PATH}`, ZELLIJ_STANDIN_DIR: zdir };
    const panes = (session: string): any[] =>
      existsSync(join(zdir, 'panes', session))
        ? readdirSync(join(zdir, 'panes', session)).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(zdir, 'panes', session, f), 'utf8')))
        : [];
    const sessions = (): string[] => JSON.parse(readFileSync(join(zdir, 'sessions.json'), 'utf8')).map((s: { name: string }) => s.name);
    return { env, panes, sessions };
  }

  for (const session of ['--help', '-s x', 'options', 'help', `it's "q" $(touch pwned)`]) {
    it(`project '-p', session ${JSON.stringify(session)}: created, and the pane opens there, named and placed as asked`, async () => {
      const w = zellijWorld();
      const dir = join(tempDir(), `-dir ${QUOTES}`);
      mkdirSync(dir, { recursive: true });
      engineProject({ dir, specs: [{ id: '001', name: 'a', wave: 1 }, { id: '002', name: 'b', wave: 2 }], extra: { project: '-p', multiplexer: 'zellij', session } });
      const r = await dispatchIn(dir, ['run', '--wave', '1', '--yes', '--no-plan', '--create-session'], { env: w.env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`created zellij session '${session}' (detached)\n`);
      expect(r.stdout).toBe('1 launched · 1 done · 0 failed\n');
      expect(w.sessions()).toEqual([session]);
      // The next run finds that session (it may not create one) and opens its pane there.
      const next = await dispatchIn(dir, ['run', '--wave', '2', '--yes', '--no-plan'], { env: w.env });
      expect(next.code, next.stderr).toBe(0);
      expect(w.panes(session).map((p) => ({ name: p.name, cwd: p.cwd })).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: '-p-001', cwd: dir },
        { name: '-p-002', cwd: dir },
      ]);
      expect(readStateOf(dir).completed).toEqual(['001', '002']);
      expectNoPwned(dir);
    });
  }
});
