// The compiled-config cache (.codex/cache, src/config/compile.ts and cache-seal.ts): a repository
// may commit it and others may write it, so nothing in it runs or is trusted unless this user's
// dispatch sealed it from the config as it is now; a read-only project compiles to a private
// temp folder, never to a fixed name in the shared temp folder.
import { spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dispatch, makeProject, readStateOf, tempDir } from './helpers.js';

const cacheOf = (dir: string) => join(dir, '.codex', 'cache');
const cached = (dir: string, suffix: string) => readdirSync(cacheOf(dir)).filter((f) => f.endsWith(suffix));
const ids = (dir: string, env: Record<string, string>) => JSON.parse(dispatch(dir, ['--json', 'list'], { env }).stdout).specs.map((s: { id: string }) => s.id);
// Each test keeps its own key: the private folder of a home of its own.
const homeEnv = () => {
  const home = tempDir('dispatch-cc-home-');
  return { HOME: home, XDG_CACHE_HOME: join(home, 'xdg') };
};

describe('a planted compiled-config cache', () => {
  it('an index with no inputs pointing at a planted module: the module never runs, and edits to the config count', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    expect(dispatch(dir, ['list'], { env }).code).toBe(0);
    const marker = join(dir, 'planted-ran');
    writeFileSync(join(cacheOf(dir), 'evil.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\nexport default { project: 'evil', specs: [{ id: '666', name: 'evil', cost: 1, agent: 'codex' }] };\n`);
    const [index] = cached(dir, '.index.json');
    const text = readFileSync(join(cacheOf(dir), index!), 'utf8');
    // The index as an attacker would write it, seal line or not: what the old format held, with no inputs.
    const body = JSON.parse(text.slice(text.indexOf('{')));
    const forged = JSON.stringify({ ...body, inputs: [], output: 'evil.mjs', isStatic: false });
    writeFileSync(join(cacheOf(dir), index!), text.startsWith('{') ? forged : `${text.slice(0, 64)}\n${forged}`);
    expect(ids(dir, env)).toEqual(['001']);
    expect(existsSync(marker)).toBe(false);
    const f = join(dir, 'specs.config.ts');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"alpha"', '"alpha-edited"'));
    const r = dispatch(dir, ['--json', 'list'], { env });
    expect(JSON.parse(r.stdout).specs[0].name).toBe('alpha-edited');
    expect(existsSync(marker)).toBe(false);
  });

  it('a cached module whose bytes were changed is compiled again, not imported', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }], format: 'plain-ts' });
    // Not static (it reads the environment), so the module itself is imported on every command.
    writeFileSync(join(dir, 'specs.config.ts'), readFileSync(join(dir, 'specs.config.ts'), 'utf8').replace('const config = {', 'const config = { session: process.env.NOPE ?? "s",'));
    expect(dispatch(dir, ['list'], { env }).code).toBe(0);
    const [mjs] = cached(dir, '.mjs');
    const marker = join(dir, 'edited-ran');
    writeFileSync(join(cacheOf(dir), mjs!), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\nexport default { project: 'evil', specs: [] };\n`);
    expect(ids(dir, env)).toEqual(['001']);
    expect(existsSync(marker)).toBe(false);
  });

  it('a planted resolved config with an id that climbs out of the signal folder is never trusted', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    expect(dispatch(dir, ['list'], { env }).code).toBe(0);
    const [resolved] = cached(dir, '.resolved.json');
    const file = join(cacheOf(dir), resolved!);
    const text = readFileSync(file, 'utf8');
    const body = JSON.parse(text.slice(text.indexOf('{')));
    const escape = '../../../../../../../../tmp/dispatch-cc-escape';
    body.specs[0].id = escape;
    const forged = JSON.stringify(body);
    writeFileSync(file, text.startsWith('{') ? forged : `${text.slice(0, 64)}\n${forged}`);
    rmSync(join(tmpdir(), 'dispatch-cc-escape'), { force: true });
    const r = dispatch(dir, ['mark-done', escape], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown spec id/i);
    expect(existsSync(join(tmpdir(), 'dispatch-cc-escape'))).toBe(false);
    expect(readStateOf(dir)).toBeUndefined();
    expect(ids(dir, env)).toEqual(['001']);
  });

  it("another user's key does not open this user's caches: a cache made under another home is made again", () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    expect(dispatch(dir, ['list'], { env: homeEnv() }).code).toBe(0);
    const [index] = cached(dir, '.index.json');
    const before = readFileSync(join(cacheOf(dir), index!), 'utf8');
    expect(dispatch(dir, ['list'], { env: homeEnv() }).code).toBe(0);
    expect(readFileSync(join(cacheOf(dir), index!), 'utf8')).not.toBe(before);
  });

  it('with no private folder for a key, nothing is read from the cache and every command still works', () => {
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    const env = { HOME: '', XDG_CACHE_HOME: '' };
    expect(ids(dir, homeEnv())).toEqual(['001']);
    const f = join(dir, 'specs.config.ts');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"alpha"', '"alpha-2"'));
    const r = dispatch(dir, ['--json', 'list'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).specs[0].name).toBe('alpha-2');
  });
});

describe('a project where the cache cannot be written', () => {
  it("compiles to a private temp folder: a symlink another user left at the old fixed name is never written through", () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    expect(dispatch(dir, ['list'], { env }).code).toBe(0);
    const hash = /\.([0-9a-f]{12})\.mjs$/.exec(cached(dir, '.mjs')[0]!)![1];
    rmSync(cacheOf(dir), { recursive: true });
    // A file where the cache folder goes: the project cannot hold a cache (as root, modes would not stop a write).
    writeFileSync(cacheOf(dir), 'not a folder');
    const victim = join(tempDir(), 'victim.txt');
    writeFileSync(victim, 'keep me');
    const trap = join(tmpdir(), `dispatch-config-${hash}.mjs`);
    rmSync(trap, { force: true });
    symlinkSync(victim, trap);
    try {
      const before = readdirSync(tmpdir()).filter((f) => f.startsWith('dispatch-config-')).length;
      const r = dispatch(dir, ['--json', 'list'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).specs[0].id).toBe('001');
      expect(readFileSync(victim, 'utf8')).toBe('keep me');
      // Its private folder is gone once the module is loaded.
      expect(readdirSync(tmpdir()).filter((f) => f.startsWith('dispatch-config-')).length).toBe(before);
    } finally {
      rmSync(trap, { force: true });
    }
  });

  it('a file of someone else at the old fixed name does not stop any command', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    expect(dispatch(dir, ['list'], { env }).code).toBe(0);
    const hash = /\.([0-9a-f]{12})\.mjs$/.exec(cached(dir, '.mjs')[0]!)![1];
    rmSync(cacheOf(dir), { recursive: true });
    mkdirSync(join(dir, '.codex'), { recursive: true });
    writeFileSync(cacheOf(dir), 'not a folder');
    const squat = join(tmpdir(), `dispatch-config-${hash}.mjs`);
    mkdirSync(squat, { recursive: true });
    try {
      const r = dispatch(dir, ['--json', 'list'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).specs[0].id).toBe('001');
    } finally {
      rmSync(squat, { recursive: true, force: true });
    }
  });
});

// What the attack on the first version of these caches found: each case once broke it.
describe('the config cache attacked again', () => {
  const keyOf = (env: { XDG_CACHE_HOME: string }) => readFileSync(join(env.XDG_CACHE_HOME, 'dispatch', 'config-cache.key'));
  const sealWith = (key: Buffer, body: string) => `${createHmac('sha256', key).update(body).digest('hex')}\n${body}`;

  it('a cache folder others can write is never imported from, even where every seal is right', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }], format: 'plain-ts' });
    writeFileSync(join(dir, 'specs.config.ts'), readFileSync(join(dir, 'specs.config.ts'), 'utf8').replace('const config = {', 'const config = { session: process.env.NOPE ?? "s",'));
    expect(ids(dir, env)).toEqual(['001']);
    // What a racer who swaps the module between the check and the import achieves, made directly:
    // a module that is not the config's, under an index sealed with this user's own key.
    const marker = join(dir, 'swapped-ran');
    const evil = `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\nexport default { project: 'evil', specs: [] };\n`;
    const [index] = cached(dir, '.index.json');
    const text = readFileSync(join(cacheOf(dir), index!), 'utf8');
    const body = JSON.parse(text.slice(65));
    writeFileSync(join(cacheOf(dir), body.output), evil);
    writeFileSync(join(cacheOf(dir), index!), sealWith(keyOf(env), JSON.stringify({ ...body, outputSha256: createHash('sha256').update(evil).digest('hex') })));
    chmodSync(cacheOf(dir), 0o777);
    expect(ids(dir, env)).toEqual(['001']);
    expect(existsSync(marker)).toBe(false);
    // The same folder closed again: then (and only then) a file there is taken as this user's.
    chmodSync(cacheOf(dir), 0o755);
    expect(ids(dir, env)).toEqual([]);
    expect(existsSync(marker)).toBe(true);
  });

  it('a key that is a symlink (to a file of the right size another user can read) is never used', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    const keyDir = join(env.XDG_CACHE_HOME, 'dispatch');
    mkdirSync(keyDir, { recursive: true, mode: 0o700 });
    const known = join(tempDir(), 'readable-32-bytes');
    writeFileSync(known, Buffer.alloc(32, 7), { mode: 0o444 });
    symlinkSync(known, join(keyDir, 'config-cache.key'));
    expect(ids(dir, env)).toEqual(['001']);
    const [index] = cached(dir, '.index.json');
    const text = readFileSync(join(cacheOf(dir), index!), 'utf8');
    // Sealed with a key of its own, not the linked file's.
    expect(text.slice(0, 64)).not.toBe(createHmac('sha256', Buffer.alloc(32, 7)).update(text.slice(65)).digest('hex'));
    expect(lstatSync(join(keyDir, 'config-cache.key')).isSymbolicLink()).toBe(false);
    expect(readFileSync(known)).toEqual(Buffer.alloc(32, 7));
  });

  it('an older sealed resolved config put in place of the current one is not taken', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }, { id: '002', name: 'beta' }] });
    expect(ids(dir, env)).toEqual(['001', '002']);
    const [old] = cached(dir, '.resolved.json');
    const oldText = readFileSync(join(cacheOf(dir), old!));
    const f = join(dir, 'specs.config.ts');
    const cfg = JSON.parse(readFileSync(f, 'utf8').replace(/^[^(]*\(/s, '').replace(/\);\s*$/, ''));
    cfg.specs = cfg.specs.slice(0, 1);
    writeFileSync(f, `export default ${JSON.stringify(cfg)};\n`);
    expect(ids(dir, env)).toEqual(['001']);
    const current = cached(dir, '.resolved.json').find((n) => n !== old)!;
    writeFileSync(join(cacheOf(dir), current), oldText);
    expect(ids(dir, env)).toEqual(['001']);
    const r = dispatch(dir, ['mark-done', '002'], { env });
    expect(r.code).toBe(2);
  });

  it.each(['index', 'module', 'resolved'])('a FIFO where the %s file goes: the command neither hangs nor fails', (what) => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    expect(ids(dir, env)).toEqual(['001']);
    const name = cached(dir, what === 'index' ? '.index.json' : what === 'module' ? '.mjs' : '.resolved.json')[0]!;
    rmSync(join(cacheOf(dir), name));
    expect(spawnSync('mkfifo', [join(cacheOf(dir), name)]).status).toBe(0);
    const r = dispatch(dir, ['--json', 'list'], { env, timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).specs.map((s: { id: string }) => s.id)).toEqual(['001']);
  });

  it('an edit that keeps the size and puts the mtime back is seen', () => {
    const env = homeEnv();
    const dir = makeProject({ specs: [{ id: '001', name: 'alpha' }] });
    expect(ids(dir, env)).toEqual(['001']);
    const f = join(dir, 'specs.config.ts');
    const { atime, mtime } = statSync(f);
    writeFileSync(f, readFileSync(f, 'utf8').replace('"alpha"', '"ALPHA"'));
    utimesSync(f, atime, mtime);
    expect(JSON.parse(dispatch(dir, ['--json', 'list'], { env }).stdout).specs[0].name).toBe('ALPHA');
  });
});
