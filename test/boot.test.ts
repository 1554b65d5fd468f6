// The entry's V8 code cache (src/boot.ts), on a copy of the built dist/:
// made once per verb, then used as it is; a cache that is damaged, from
// another build, unwritable or a symlink never changes what a command prints,
// never warns, and never writes outside the cache's own places.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ROOT, makeProject, tempDir } from './helpers.js';

let install: string;
let project: string;
let home: string;
const dist = () => join(install, 'dist');
const cacheOf = (verb: string) => join(dist(), '.cache', `${verb}.v8`);

beforeEach(() => {
  install = tempDir('dispatch-boot-');
  mkdirSync(join(install, 'dist'));
  for (const f of ['cli.js', 'dispatch.cjs', 'package.json']) copyFileSync(join(ROOT, 'dist', f), join(install, 'dist', f));
  // The bundle's lazily loaded dependencies (cli-table3, execa) resolve from the install's node_modules.
  symlinkSync(join(ROOT, 'node_modules'), join(install, 'node_modules'));
  home = tempDir('dispatch-boot-home-');
  project = makeProject({ specs: [{ id: '001', name: 'alpha', wave: 1 }, { id: '002', name: 'beta', wave: 2 }], format: 'json' });
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(dist(), 'cli.js'), ...args], {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', HOME: home, XDG_CACHE_HOME: join(home, 'xdg'), ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const header = () => readFileSync(cacheOf('status')).subarray(0, 200).toString('latin1').split('\n')[0]!;

describe('the code cache', () => {
  it('is made by the first run of a verb, headed by the build and Node, and then used unchanged', () => {
    const first = cli(['status']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    expect(header()).toMatch(new RegExp(`^dispatch-v8-cache 0\\.1\\.0-\\w+ ${process.version.replace(/\./g, '\\.')} ${process.arch}$`));
    expect(statSync(cacheOf('status')).size).toBeGreaterThan(10_000);
    const made = statSync(cacheOf('status')).mtimeMs;
    const second = cli(['status']);
    expect(second).toEqual(first);
    // Accepted by V8: not made again.
    expect(statSync(cacheOf('status')).mtimeMs).toBe(made);
    // Each verb its own; a word that is not a verb name shares one.
    expect(cli(['list']).code).toBe(0);
    expect(cli(['--version']).stdout).toBe('0.1.0\n');
    expect(readdirSync(join(dist(), '.cache')).sort()).toEqual(['list.v8', 'other.v8', 'status.v8']);
    expect(cli(['$(touch x)', '../../etc']).code).toBe(2);
    expect(readdirSync(join(dist(), '.cache')).sort()).toEqual(['list.v8', 'other.v8', 'status.v8']);
    // An option's value is not the verb (the runner starts as `--config <file> exec-spec <id>`).
    expect(cli(['--config', join(project, 'specs.config.json'), 'list']).code).toBe(0);
    expect(readdirSync(join(dist(), '.cache')).sort()).toEqual(['list.v8', 'other.v8', 'status.v8']);
  });

  it.each([
    ['garbage after the header', (f: string) => writeFileSync(f, Buffer.concat([readFileSync(f).subarray(0, header().length + 1), Buffer.from('not a cache at all')]))],
    ['cut short', (f: string) => writeFileSync(f, readFileSync(f).subarray(0, 5000))],
    ['from another build', (f: string) => writeFileSync(f, readFileSync(f).toString('latin1').replace(/^dispatch-v8-cache \S+/, 'dispatch-v8-cache 0.0.9-old'), 'latin1')],
    ['empty', (f: string) => writeFileSync(f, '')],
  ])('a cache %s: the same output, no warning, and a good cache made again', (_what, spoil) => {
    const clean = cli(['status']);
    spoil(cacheOf('status'));
    const r = cli(['status']);
    expect(r).toEqual(clean);
    expect(header()).toMatch(/^dispatch-v8-cache 0\.1\.0-/);
    const made = statSync(cacheOf('status')).mtimeMs;
    expect(cli(['status'])).toEqual(clean);
    expect(statSync(cacheOf('status')).mtimeMs).toBe(made);
  });

  it("an install folder that cannot hold it: kept in $XDG_CACHE_HOME/dispatch, or not at all; the command's output the same", () => {
    // A file where the cache folder should be (as root, a read-only folder would still take writes).
    writeFileSync(join(dist(), '.cache'), 'not a folder');
    const r = cli(['status']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const xdg = readdirSync(join(home, 'xdg', 'dispatch'));
    expect(xdg).toHaveLength(1);
    expect(xdg[0]).toMatch(new RegExp(`^0\\.1\\.0-\\w+-${process.version.replace(/\./g, '\\.')}-status\\.v8$`));
    expect(cli(['status'])).toEqual(r);
    // Nowhere to write at all: still the same, in silence.
    writeFileSync(join(home, 'nothing'), '');
    const none = cli(['status'], { XDG_CACHE_HOME: join(home, 'nothing', 'below') });
    expect(none).toEqual(r);
    const noHome = cli(['status'], { XDG_CACHE_HOME: '', HOME: '' });
    expect(noHome).toEqual(r);
  });

  it('a symlink where the cache should be is replaced, never written through', () => {
    mkdirSync(join(dist(), '.cache'));
    const victim = join(home, 'victim.txt');
    writeFileSync(victim, 'keep me');
    symlinkSync(victim, cacheOf('status'));
    const r = cli(['status']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(header()).toMatch(/^dispatch-v8-cache 0\.1\.0-/);
  });

  it('DISPATCH_CODE_CACHE=0: none read, none written', () => {
    const r = cli(['status'], { DISPATCH_CODE_CACHE: '0' });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dist(), '.cache'))).toBe(false);
    expect(existsSync(join(home, 'xdg'))).toBe(false);
  });

  it('20 first runs at once: each prints the same, and the cache left is whole', async () => {
    const clean = cli(['status'], { DISPATCH_CODE_CACHE: '0' });
    const runs = await Promise.all(Array.from({ length: 20 }, () => new Promise<{ code: number | null; out: string; err: string }>((res) => {
      const c = spawn(process.execPath, [join(dist(), 'cli.js'), 'status'], { cwd: project, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', HOME: home } });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.on('close', (code) => res({ code, out, err }));
    })));
    for (const r of runs) expect(r).toEqual({ code: 0, out: clean.stdout, err: '' });
    // No temp files left behind; the one cache is accepted as it is.
    expect(readdirSync(join(dist(), '.cache'))).toEqual(['status.v8']);
    const made = statSync(cacheOf('status')).mtimeMs;
    expect(cli(['status']).stdout).toBe(clean.stdout);
    expect(statSync(cacheOf('status')).mtimeMs).toBe(made);
  });

  it('a read-only install with no cache anywhere writable still runs every verb it is asked', () => {
    chmodSync(dist(), 0o555);
    try {
      const r = cli(['plan'], { XDG_CACHE_HOME: '/proc/nowhere' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/Wave 1/);
    } finally {
      chmodSync(dist(), 0o755);
    }
  });
});
