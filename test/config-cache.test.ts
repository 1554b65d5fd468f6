// The compiled-config cache (.codex/cache, src/config/compile.ts and cache-seal.ts): a repository
// may commit it and others may write it, so nothing in it runs or is trusted unless this user's
// dispatch sealed it from the config as it is now; a read-only project compiles to a private
// temp folder, never to a fixed name in the shared temp folder.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
