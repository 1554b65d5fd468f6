// The entry's V8 code cache (src/boot.ts), on a copy of the built dist/:
// made once per verb in the user's private cache folder, then used as it is; a
// cache that is damaged, from another build, planted by another user,
// unwritable or a symlink never runs, never changes what a command prints,
// never warns; nothing is ever written into the install folder.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { beforeEach, describe, expect, it } from 'vitest';
import { ROOT, makeProject, tempDir } from './helpers.js';

let install: string;
let project: string;
let home: string;
const dist = () => join(install, 'dist');
const cacheDir = () => join(home, 'xdg', 'dispatch');
const cachesIn = (dir = cacheDir()) => (existsSync(dir) ? readdirSync(dir).sort() : []);
/** The one cache file of a verb (named after the build, Node, arch and verb). */
function cacheOf(verb: string): string {
  const f = cachesIn().filter((n) => n.endsWith(`-${verb}.v8`));
  expect(f, `the cache of ${verb}`).toHaveLength(1);
  return join(cacheDir(), f[0]!);
}

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

const header = () => readFileSync(cacheOf('status')).subarray(0, 400).toString('latin1').split('\n')[0]!;
const verbs = () => cachesIn().map((n) => n.replace(/^.*-/, ''));

/**
 * A cache another user could plant: V8 code for a payload of exactly the bundle's wrapped length
 * (all a release V8 checks), under the real header line with its body's hash made to match.
 */
function plant(file: string, marker: string): void {
  const real = readFileSync(file);
  const headLine = real.subarray(0, real.indexOf(10)).toString('latin1');
  const bundle = readFileSync(join(dist(), 'dispatch.cjs'), 'latin1');
  const wrapped = `(function (exports, require, module, __filename, __dirname, __dispatch_import) {${bundle}\n})`;
  const payload = `(function (exports, require) { require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran'); console.log('FAKE STATUS'); })`;
  const code = payload + ' '.repeat(wrapped.length - payload.length);
  const body = new Script(code, { filename: join(dist(), 'dispatch.cjs') }).createCachedData();
  const fields = headLine.split(' ');
  // The header of the format under test, its last field the body's SHA-256 when it has one.
  if (/^[0-9a-f]{64}$/.test(fields.at(-1)!)) fields[fields.length - 1] = createHash('sha256').update(body).digest('hex');
  writeFileSync(file, Buffer.concat([Buffer.from(`${fields.join(' ')}\n`, 'latin1'), body]));
}

describe('the code cache', () => {
  it('is made by the first run of a verb in the private cache folder, headed by the build, Node and hashes, and then used unchanged', () => {
    const first = cli(['status']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    expect(header()).toMatch(new RegExp(`^dispatch-v8-cache 0\\.1\\.0-\\w+ ${process.version.replace(/\./g, '\\.')} ${process.arch} [0-9a-f]{64} [0-9a-f]{64}$`));
    expect(statSync(cacheOf('status')).size).toBeGreaterThan(10_000);
    // Private: the folder 0700, the file 0600; the install folder holds nothing new.
    expect(statSync(cacheDir()).mode & 0o777).toBe(0o700);
    expect(statSync(cacheOf('status')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dist()).sort()).toEqual(['cli.js', 'dispatch.cjs', 'package.json']);
    const made = statSync(cacheOf('status')).mtimeMs;
    const second = cli(['status']);
    expect(second).toEqual(first);
    // Accepted by V8: not made again.
    expect(statSync(cacheOf('status')).mtimeMs).toBe(made);
    // Each verb its own; a word that is not a verb name shares one.
    expect(cli(['list']).code).toBe(0);
    expect(cli(['--version']).stdout).toBe('0.1.0\n');
    expect(verbs()).toEqual(['list.v8', 'other.v8', 'status.v8']);
    expect(cli(['$(touch x)', '../../etc']).code).toBe(2);
    expect(verbs()).toEqual(['list.v8', 'other.v8', 'status.v8']);
    // An option's value is not the verb (the runner starts as `--config <file> exec-spec <id>`).
    expect(cli(['--config', join(project, 'specs.config.json'), 'list']).code).toBe(0);
    expect(verbs()).toEqual(['list.v8', 'other.v8', 'status.v8']);
  });

  it.each([
    ['garbage after the header', (f: string) => writeFileSync(f, Buffer.concat([readFileSync(f).subarray(0, header().length + 1), Buffer.from('not a cache at all')]))],
    ['cut short', (f: string) => writeFileSync(f, readFileSync(f).subarray(0, 5000))],
    ['from another build', (f: string) => writeFileSync(f, readFileSync(f).toString('latin1').replace(/^dispatch-v8-cache \S+/, 'dispatch-v8-cache 0.0.9-old'), 'latin1')],
    ['empty', (f: string) => writeFileSync(f, '')],
    ['with 20 bytes flipped', (f: string) => {
      const b = readFileSync(f);
      const start = b.indexOf(10) + 1;
      for (let i = 0; i < 20; i++) b[start + 200 + i * Math.floor((b.length - start - 400) / 20)]! ^= 0xff;
      writeFileSync(f, b, { mode: 0o600 });
    }],
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

  it('one byte flipped anywhere in the body, 10 places: every run prints the same and exits 0', () => {
    const clean = cli(['status']);
    const good = readFileSync(cacheOf('status'));
    const start = good.indexOf(10) + 1;
    for (let i = 0; i < 10; i++) {
      const b = Buffer.from(good);
      b[start + Math.floor(((b.length - start) * (i + 0.5)) / 10)]! ^= 0x01 << (i % 8);
      writeFileSync(cacheOf('status'), b, { mode: 0o600 });
      expect(cli(['status'])).toEqual(clean);
    }
  });

  // Another owner needs root to make (chown).
  it.skipIf(process.getuid?.() !== 0)("another user's cache is never run: planted in the cache folder (even with a matching header), or in a folder others can write", () => {
    const clean = cli(['status']);
    const marker = join(home, 'planted-ran');
    const f = cacheOf('status');
    plant(f, marker);
    // Our own planted file would be trusted (we could as well edit the bundle): the point is another owner.
    chownSync(f, 65534, 65534);
    const r = cli(['status']);
    expect(existsSync(marker)).toBe(false);
    expect(r).toEqual(clean);
    // A folder left writable by others (an older build under umask 000): what they put there is not
    // read, and the folder is closed again.
    const again = cacheOf('status');
    plant(again, marker);
    chownSync(again, 65534, 65534);
    chmodSync(cacheDir(), 0o777);
    expect(cli(['status'])).toEqual(clean);
    expect(existsSync(marker)).toBe(false);
    expect(statSync(cacheDir()).mode & 0o777).toBe(0o700);
  });

  it("older builds' caches beyond the latest few are removed when a new build makes its own; other files are not", () => {
    mkdirSync(cacheDir(), { recursive: true, mode: 0o700 });
    const t = Date.now() / 1000;
    // Six older builds, the newest last; two verbs each.
    for (let i = 0; i < 6; i++) {
      for (const verb of ['status', 'run']) {
        const f = join(cacheDir(), `0.0.${i}-old${i}-v20.0.0-x64-${verb}.v8`);
        writeFileSync(f, 'old', { mode: 0o600 });
        utimesSync(f, t - 1000 + i * 10, t - 1000 + i * 10);
      }
    }
    writeFileSync(join(cacheDir(), 'notes.txt'), 'not a cache');
    expect(cli(['status']).code).toBe(0);
    const left = cachesIn().sort();
    // This build's, and the three latest others (4 builds in all).
    expect(left.filter((n) => n.startsWith('0.0.')).map((n) => n.split('-')[0]).filter((v, i, a) => a.indexOf(v) === i)).toEqual(['0.0.3', '0.0.4', '0.0.5']);
    expect(left.some((n) => n.startsWith('0.1.0-') && n.endsWith('-status.v8'))).toBe(true);
    expect(readdirSync(cacheDir())).toContain('notes.txt');
  });

  it('under umask 000 the cache folder and files are still private', () => {
    const r = spawnSync('sh', ['-c', 'umask 000 && exec "$0" "$@"', process.execPath, join(dist(), 'cli.js'), 'status'], {
      cwd: project,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', HOME: home, XDG_CACHE_HOME: join(home, 'xdg') },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(cacheDir()).mode & 0o777).toBe(0o700);
    expect(statSync(cacheOf('status')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dist()).sort()).toEqual(['cli.js', 'dispatch.cjs', 'package.json']);
  });

  it('no private folder to keep it in: no cache, never a write elsewhere, the same output', () => {
    const r = cli(['status']);
    writeFileSync(join(home, 'nothing'), '');
    expect(cli(['status'], { XDG_CACHE_HOME: join(home, 'nothing', 'below') })).toEqual(r);
    expect(cli(['status'], { XDG_CACHE_HOME: '', HOME: '' })).toEqual(r);
    expect(cli(['status'], { XDG_CACHE_HOME: 'relative/path', HOME: 'also/relative' })).toEqual(r);
    expect(existsSync(join(project, 'relative'))).toBe(false);
    // A symlink where the folder should be: not followed.
    const elsewhere = tempDir('dispatch-boot-elsewhere-');
    symlinkSync(elsewhere, join(home, 'linked'));
    mkdirSync(join(home, 'xdg2'));
    symlinkSync(elsewhere, join(home, 'xdg2', 'dispatch'));
    expect(cli(['status'], { XDG_CACHE_HOME: join(home, 'xdg2') })).toEqual(r);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readdirSync(dist()).sort()).toEqual(['cli.js', 'dispatch.cjs', 'package.json']);
  });

  it('a symlink where the cache file should be is replaced, never written through or read', () => {
    cli(['status']);
    const f = cacheOf('status');
    const victim = join(home, 'victim.txt');
    writeFileSync(victim, 'keep me');
    rmSync(f);
    symlinkSync(victim, f);
    const r = cli(['status']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(lstatSync(cacheOf('status')).isSymbolicLink()).toBe(false);
    expect(header()).toMatch(/^dispatch-v8-cache 0\.1\.0-/);
  });

  it('a FIFO, a hard link or a device where a cache or the key goes: the same output, never a hang', () => {
    const clean = cli(['status']);
    const f = cacheOf('status');
    rmSync(f);
    expect(spawnSync('mkfifo', [f]).status).toBe(0);
    const key = join(cacheDir(), 'config-cache.key');
    rmSync(key, { force: true });
    expect(spawnSync('mkfifo', [key]).status).toBe(0);
    const r = spawnSync(process.execPath, [join(dist(), 'cli.js'), 'status'], { cwd: project, encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', HOME: home, XDG_CACHE_HOME: join(home, 'xdg') } });
    expect(r.signal).toBeNull();
    expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual(clean);
    // A second name for a file of ours (a hard link someone made) or a device: not read either.
    const list = cli(['list']);
    const lf = cacheOf('list');
    rmSync(lf);
    symlinkSync('/dev/zero', lf);
    expect(cli(['list'])).toEqual(list);
  });

  it('DISPATCH_CODE_CACHE=0: none read, none written', () => {
    const r = cli(['status'], { DISPATCH_CODE_CACHE: '0' });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(home, 'xdg'))).toBe(false);
    expect(readdirSync(dist()).sort()).toEqual(['cli.js', 'dispatch.cjs', 'package.json']);
  });

  it('20 first runs at once: each prints the same, and the cache left is whole', async () => {
    const clean = cli(['status'], { DISPATCH_CODE_CACHE: '0' });
    const runs = await Promise.all(Array.from({ length: 20 }, () => new Promise<{ code: number | null; out: string; err: string }>((res) => {
      const c = spawn(process.execPath, [join(dist(), 'cli.js'), 'status'], { cwd: project, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', HOME: home, XDG_CACHE_HOME: join(home, 'xdg') } });
      let out = '';
      let err = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (err += d));
      c.on('close', (code) => res({ code, out, err }));
    })));
    for (const r of runs) expect(r).toEqual({ code: 0, out: clean.stdout, err: '' });
    // No temp files left behind; the one cache is accepted as it is.
    expect(verbs()).toEqual(['status.v8']);
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
