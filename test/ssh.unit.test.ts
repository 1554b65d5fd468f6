// The SSH executor's pure parts: the one quoting function (checked through
// real shells), placement by free slots, the forwarded environment, host
// health, and the config's executor section with its bad values.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js';
import { quoteRemote, remoteCommand } from '../src/executors/ssh/quote.js';
import { sshExecutor } from '../src/executors/ssh/executor.js';
import { forwardedEnv } from '../src/executors/ssh/pool.js';
import { HostHealth } from '../src/executors/ssh/health.js';
import type { StateDoc } from '../src/state/doc.js';

const HOSTILE = [
  '$(touch pwned)', '`touch pwned`', 'a;b', "it's", '"dq"', 'new\nline', '#(touch pwned)', '#{session_name}', '__proto__',
  'x'.repeat(250), '-rf', '', ' lead', 'tab\there', '\\back', '$HOME', '~user', 'a*b?', '!bang', '%', '&& echo no', 'ünï',
];

describe('quoteRemote', () => {
  // Each shell must hand every word back as the bytes it was.
  const shells = ['sh', 'bash', 'dash'].filter((s) => spawnSync(s, [...(s === 'bash' ? ['--norc', '--noprofile'] : []), '-c', 'true']).status === 0);
  for (const shell of shells) {
    it(`passes hostile words through ${shell} as themselves`, () => {
      const cmd = remoteCommand(['printf', '%s\\0', ...HOSTILE]);
      // bash reads ~/.bashrc when its stdin looks like a network connection (node's pipes are socket pairs) and
      // SHLVL is low: this machine's rc files must not decide the test (a stale pyenv lock held it 60 s).
      const r = spawnSync(shell, [...(shell === 'bash' ? ['--norc', '--noprofile'] : []), '-c', cmd], { encoding: 'utf8', cwd: '/tmp' });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE);
      expect(existsSync('/tmp/pwned')).toBe(false);
    });
  }
  it('keeps ~/ meaning the remote home, and nothing else', () => {
    const r = spawnSync('sh', ['-c', remoteCommand(['printf', '%s\\0', '~/proj dir', '~', 'a~/b'])], { encoding: 'utf8', env: { HOME: "/h o'me", PATH: process.env.PATH } });
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(["/h o'me/proj dir", "/h o'me", 'a~/b']);
  });
  it('leaves plain words bare', () => {
    expect(quoteRemote('=sshp-001-1')).toBe('=sshp-001-1');
    expect(quoteRemote('a b')).toBe("'a b'");
  });
});

const HOSTS = [
  { host: 'build1', slots: 2, dir: '/srv/p' },
  { host: 'dev@10.0.0.7', port: 2222, slots: 1, dir: '~/p' },
];
const config = async (extra: Record<string, unknown> = {}, specs: Record<string, unknown>[] = [{ id: '001', name: 'a', cost: 1, agent: 'codex' }]) =>
  resolveConfig({ project: 'p', executor: { kind: 'ssh', hosts: HOSTS }, specs, ...extra }, '/proj/specs.config.ts');

const running = (hosts: string[]): StateDoc => ({
  completed: [], failed: [], skipped: [],
  dispatch: { version: 1, specs: {}, running: Object.fromEntries(hosts.map((h, i) => [`r${i}`, { pid: 1, host: h, startedAt: '', executor: 'ssh' }])) },
}) as unknown as StateDoc;

describe('placement over the pool', () => {
  it('goes to the host with the most free slots, and waits when all are busy', async () => {
    const c = await config();
    const ex = sshExecutor(c);
    const spec = c.specs[0]!;
    expect(ex.place(spec, running([]))).toEqual({ host: 'build1', record: { executor: 'ssh' } });
    expect(ex.place(spec, running(['build1']))).toEqual({ host: 'build1', record: { executor: 'ssh' } }); // 1 free each: the first
    expect(ex.place(spec, running(['build1', 'build1']))).toEqual({ host: 'dev@10.0.0.7:2222', record: { executor: 'ssh' } });
    expect(ex.place(spec, running(['build1', 'build1', 'dev@10.0.0.7:2222']))).toEqual({ wait: 'a free slot on an SSH host (3 busy)' });
    // Local runs (another executor) do not take a host's slot.
    const local = running(['build1', 'build1']);
    (local.dispatch!.running.r0 as { executor?: string }).executor = undefined;
    expect(ex.place(spec, local)).toEqual({ host: 'build1', record: { executor: 'ssh' } });
  });
  it('a launch placed as attempt N records where that attempt runs: address, port, checkout, folder, label and session', async () => {
    const c = await config();
    const p = sshExecutor(c).place(c.specs[0]!, running(['build1', 'build1']), 3);
    expect(p).toMatchObject({ host: 'dev@10.0.0.7:2222', record: { executor: 'ssh', place: { host: 'dev@10.0.0.7', port: 2222, dir: '~/p' } } });
    const place = 'record' in p ? p.record?.place : undefined;
    expect(place?.base).toMatch(/^~\/p\/\.dispatch\/p-/);
    expect(place?.label).toContain('001');
    expect(place?.label).toMatch(/3/);
    expect(place?.session).toContain('001');
  });
  it('a spec pinned with runOn waits for its host, even when another is free', async () => {
    const c = await config({}, [{ id: '001', name: 'a', cost: 1, agent: 'codex', runOn: 'build1' }]);
    const ex = sshExecutor(c);
    expect(ex.place(c.specs[0]!, running(['build1', 'build1']))).toEqual({ wait: 'a free slot on build1' });
  });
  it('a down host gets nothing until it answers again', async () => {
    const c = await config();
    const ex = sshExecutor(c);
    const lostAfter = c.executor!.lostAfterChecks;
    for (let i = 0; i < lostAfter; i++) ex.health.fail('build1');
    expect(ex.place(c.specs[0]!, running([]))).toEqual({ host: 'dev@10.0.0.7:2222', record: { executor: 'ssh' } });
    ex.health.ok('build1');
    expect(ex.place(c.specs[0]!, running([]))).toEqual({ host: 'build1', record: { executor: 'ssh' } });
  });
});

describe('HostHealth', () => {
  it('is down after N failed checks in a row, and back at the first answer', () => {
    const h = new HostHealth(3);
    expect([h.fail('a'), h.fail('a')]).toEqual([false, false]);
    h.ok('a'); // an answer resets the count
    expect([h.fail('a'), h.fail('a'), h.fail('a'), h.fail('a')]).toEqual([false, false, true, false]);
    expect(h.isDown('a')).toBe(true);
    expect(h.ok('a')).toBe(true);
    expect(h.isDown('a')).toBe(false);
  });
});

describe('forwarded environment', () => {
  it('sends only the named variables and prefixes', () => {
    const env = { OPENAI_API_KEY: 'k', DISPATCH_X: '1', DISPATCHER: 'no', HOME: '/root', AWS_SECRET: 's' };
    expect(forwardedEnv(['OPENAI_API_KEY', 'DISPATCH_*'], env)).toEqual({ OPENAI_API_KEY: 'k', DISPATCH_X: '1' });
  });
  it('defaults to the agents keys and DISPATCH_*', async () => {
    const c = await config();
    expect(c.executor!.forwardEnv).toEqual(expect.arrayContaining(['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'DISPATCH_*']));
  });
});

async function problemsOf(raw: Record<string, unknown>): Promise<string[]> {
  try {
    await resolveConfig({ project: 'p', specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }], ...raw }, '/proj/specs.config.ts');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    return (err as ConfigError).details;
  }
  throw new Error('no ConfigError');
}

describe('executor config', () => {
  it('names each bad value with its path', async () => {
    expect(await problemsOf({ executor: { kind: 'ssh', hosts: [] } })).toEqual([expect.stringMatching(/^executor\.hosts: expected at least 1/)]);
    const p = await problemsOf({ executor: { kind: 'ssh', hosts: [{ host: '-oProxyCommand=x', dir: '/d', slots: 0 }], forwardEnv: ['BAD-NAME'] } });
    expect(p.join('\n')).toMatch(/executor\.hosts\[0\]\.host: .*not starting with "-"/);
    expect(p.join('\n')).toMatch(/executor\.hosts\[0\]\.slots/);
    expect(p.join('\n')).toMatch(/executor\.forwardEnv\[0\]/);
    expect(await problemsOf({ executor: { kind: 'ssh', hosts: [{ host: 'a', dir: '/d' }, { host: 'b', name: 'a', dir: '/d' }] } })).toEqual(['executor.hosts[1]: two hosts are called "a" — give one a different name']);
  });
  it('runOn must name a host of the pool, and needs the pool', async () => {
    expect(await problemsOf({ specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex', runOn: 'x' }] })).toEqual([expect.stringMatching(/^specs\[0\]\.runOn: "x" needs executor: \{ kind: 'ssh'/)]);
    expect(await problemsOf({ executor: { kind: 'ssh', hosts: HOSTS }, specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex', runOn: 'build9' }] })).toEqual(['specs[0].runOn: no host "build9" — expected one of "build1", "dev@10.0.0.7:2222"']);
  });
  it('a host name is at most 64 characters (it names files and branches); 64 is fine', async () => {
    expect(await problemsOf({ executor: { kind: 'ssh', hosts: [{ host: 'a', name: 'x'.repeat(65), dir: '/d' }] } })).toEqual([expect.stringMatching(/^executor\.hosts\[0\]\.name: at most 64 characters/)]);
    const c = await resolveConfig({ project: 'p', executor: { kind: 'ssh', hosts: [{ host: 'a', name: 'x'.repeat(64), dir: '/d' }] }, specs: [{ id: '001', name: 'a', cost: 1, agent: 'codex' }] }, '/proj/specs.config.ts');
    expect(sshExecutor(c).hosts[0]!.name).toBe('x'.repeat(64));
  });
  it('host names default to host[:port]', async () => {
    const c: ResolvedConfig = await config();
    expect(sshExecutor(c).hosts.map((h) => h.name)).toEqual(['build1', 'dev@10.0.0.7:2222']);
  });
});
