// Everything dispatch captures of a process's output stays bounded: a command
// printing hundreds of megabytes (a verbose check, a broken or hostile host)
// neither kills the runner nor crashes the dispatcher, and what is kept is
// the head and the tail, with a line saying what was cut.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { capture, EDGE_BYTES } from '../../src/proc/launch.js';
import { groupAlive } from '../../src/proc/group.js';
import { sshProblem } from '../../src/executors/ssh/pool.js';
import { CodexEvents } from '../../src/run/runner.js';
import { BIN, dispatch, readStateOf, tempDir } from '../helpers.js';
import { NODE, engineProject } from '../fixtures/engine.js';
import { GIT_ENV, git } from '../fixtures/git.js';

const MB = 1024 * 1024;
/** A node one-liner that writes `mb` megabytes of 'x' to `fd` between a first and a last line, then exits `code`. */
const loud = (mb: number, fd: 1 | 2 | '1,2', code: number) =>
  `const fs=require('fs');const b=Buffer.alloc(${MB},120);for(const fd of [${fd}]){fs.writeSync(fd,'first line\\n');for(let i=0;i<${mb};i++)fs.writeSync(fd,b);fs.writeSync(fd,'\\nlast line\\n')}process.exit(${code})`;

describe('capture keeps a bounded head and tail', () => {
  it('a command printing 300 MB on each of stdout and stderr: both kept as their first and last 256 KB, with a marker, and memory stays low', async () => {
    const before = process.memoryUsage().rss;
    const r = await capture([NODE, '-e', loud(300, '1,2', 3)], { timeoutMs: 60_000 });
    expect(r.exitCode).toBe(3);
    for (const s of [r.stdout, r.stderr]) {
      expect(s.length).toBeLessThan(2 * EDGE_BYTES + 200);
      expect(s.startsWith('first line\n')).toBe(true);
      expect(s.endsWith('\nlast line\n')).toBe(true);
      expect(s).toMatch(/\n\[… 299\.5 MB cut by dispatch: the first and last 256 KB are kept …\]\n/);
    }
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * MB);
  }, 60_000);

  it('output within the bound is kept whole, byte for byte', async () => {
    const r = await capture([NODE, '-e', `process.stdout.write('a'.repeat(${2 * EDGE_BYTES}) + '\\nend')`]);
    expect(r.stdout).toBe(`${'a'.repeat(2 * EDGE_BYTES)}\nend`);
  });

  it('an answer parsed whole (wholeUpTo): past the bound the command is stopped and the answer is marked too large', async () => {
    let group: { pgid: number; start?: number } | undefined;
    const started = Date.now();
    const r = await capture([NODE, '-e', "const b=Buffer.alloc(65536,120);for(;;)require('fs').writeSync(1,b)"], { wholeUpTo: 4 * MB, timeoutMs: 30_000, onGroup: (g) => (group = g) });
    expect(r.tooLarge).toBe(true);
    expect(r.timedOut).toBeUndefined();
    expect(r.stdout.length).toBe(4 * MB);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(groupAlive(group!)).toBe(false);
  }, 30_000);

  it('stdoutTo: the output goes to a file whole, none of it in memory', async () => {
    const file = join(tempDir(), 'answer');
    const r = await capture([NODE, '-e', loud(64, 1, 0)], { stdoutTo: file, raw: true });
    expect(r.exitCode).toBe(0);
    expect(r.stdoutRaw?.length ?? 0).toBe(0);
    expect(statSync(file).size).toBe(64 * MB + 'first line\n\nlast line\n'.length);
    expect(readFileSync(file).subarray(-10).toString()).toBe('last line\n');
  });
});

describe("an agent's Codex events after 600 MB without an end of line", () => {
  it('are still read, quickly: the line too long to be an event is skipped, not grown without end', () => {
    const ev = new CodexEvents();
    const chunk = 'x'.repeat(64 * 1024);
    const started = Date.now();
    for (let i = 0; i < (600 * MB) / chunk.length; i++) ev.push(chunk);
    ev.push(`\n${JSON.stringify({ type: 'turn.failed', error: { message: 'stream disconnected' } })}\n`);
    ev.end();
    expect(ev.failure).toBe('stream disconnected');
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);
});

describe('a verify command printing 600 MB', () => {
  it('exits 1: the spec is verify-failed (the runner lives), the evidence holds its last line, the log holds all of it', () => {
    const dir = engineProject({ specs: [{ id: '001', name: 'loud', wave: 1 }], extra: { verify: [[NODE, '-e', loud(600, 1, 1)]], retry: { maxAttempts: 1 } } });
    const r = dispatch(dir, ['run', '--yes', '--no-plan'], { env: GIT_ENV, timeout: 120_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^failed 001: verify failed: `.*` exited 1: last line$/m);
    const rec = readStateOf(dir).dispatch.specs['001'];
    expect(rec.history).toHaveLength(1);
    expect(rec.history[0]).toMatchObject({ state: 'failed', kind: 'verify-failed' });
    expect(rec.history[0].verify[0].tail).toMatch(/last line$/);
    const log = join(dir, '.codex', 'logs', '001.attempt-1.log');
    expect(statSync(log).size).toBeGreaterThan(600 * MB);
  }, 120_000);
});

/**
 * A stand-in for `ssh`: runs the remote command here (the host is this machine), except the verb named in
 * FAKE_HOST_LOUD, which answers 600 MB (`start`: on stdout, exit 0; `poll`: on stderr, exit 255).
 */
function fakeSsh(): string {
  const bin = join(tempDir(), 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ssh'), `#!${NODE}
const { spawnSync } = require('child_process');
const fs = require('fs');
const cmd = process.argv[process.argv.length - 1];
const verb = / remote (\\w+)/.exec(cmd)?.[1];
if (verb && verb === process.env.FAKE_HOST_LOUD) {
  const fd = verb === 'start' ? 1 : 2;
  const b = Buffer.alloc(${MB}, 120);
  try { for (let i = 0; i < 600; i++) fs.writeSync(fd, b); fs.writeSync(fd, '\\nthe host went on and on\\n'); } catch {}
  process.exit(fd === 1 ? 0 : 255);
}
process.exit(spawnSync('sh', ['-c', cmd], { stdio: 'inherit' }).status ?? 1);
`);
  chmodSync(join(bin, 'ssh'), 0o755);
  return bin;
}

function hostProject(project = 'bigans', more: { agents?: Record<string, unknown>; agent?: string } = {}): string {
  const host = join(tempDir(), 'host');
  const dir = engineProject({
    specs: [{ id: '001', name: 'far', wave: 1, ...(more.agent ? { agent: more.agent } : {}) }],
    ...(more.agents ? { agents: more.agents } : {}),
    extra: { project, executor: { kind: 'ssh', hosts: [{ host: 'fakehost', dir: host, dispatch: [NODE, BIN] }], checkSeconds: 0.3, lostAfterChecks: 2, timeoutSeconds: 30 }, retry: { maxAttempts: 1 } },
  });
  writeFileSync(join(dir, '.gitignore'), '.codex/\ntrace.jsonl\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'start');
  return dir;
}

describe('a host answering 600 MB', () => {
  it('to start: the launch fails with one line naming the host, no stack, and the dispatcher goes on to its verdict', () => {
    const dir = hostProject();
    const env = { ...GIT_ENV, PATH: `${fakeSsh()}:${process.env.PATH}`, FAKE_HOST_LOUD: 'start' };
    const r = dispatch(dir, ['run', '--yes', '--no-plan'], { env, timeout: 120_000 });
    expect(r.stderr).not.toMatch(/ERR_STRING_TOO_LONG|^\s+at /m);
    expect(r.stderr).toMatch(/fakehost could not start 001: its answer was larger than 16\.0 MB/);
    expect(r.code, r.stderr).toBe(1);
    expect(readStateOf(dir).dispatch.specs['001'].reason).toMatch(/fakehost could not start 001: its answer was larger than 16\.0 MB/);
  }, 120_000);

  it('on stderr to a check (poll): status still shows its run, no stack; the problem said in one short line', () => {
    const dir = hostProject();
    mkdirSync(join(dir, '.codex'), { recursive: true });
    const startedAt = new Date().toISOString();
    writeFileSync(join(dir, '.codex', 'dispatch-state.json'), JSON.stringify({
      completed: [], failed: [], skipped: [],
      dispatch: { version: 1, specs: { '001': { attempts: 1, history: [{ n: 1, startedAt }] } }, running: { '001': { pid: 1, host: 'fakehost', startedAt, attempt: 1, executor: 'ssh' } } },
    }));
    const env = { ...GIT_ENV, PATH: `${fakeSsh()}:${process.env.PATH}`, FAKE_HOST_LOUD: 'poll' };
    const r = dispatch(dir, ['status'], { env, timeout: 120_000 });
    expect(r.stderr).not.toMatch(/ERR_STRING_TOO_LONG|^\s+at /m);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/001/);
    for (const line of r.stderr.split('\n')) expect(line.length).toBeLessThan(1000);
    expect(existsSync(join(dir, '.codex', 'dispatch-state.json'))).toBe(true);
    // What a judging check says of such a host (lost after its checks): one line of at most a few hundred characters.
    const problem = sshProblem({ exitCode: 255, stdout: '', stderr: `first\n${'x'.repeat(MB)}\nlast ${'y'.repeat(MB)}` });
    expect(problem).toMatch(/^last y{295}…$/);
  }, 120_000);
});

describe('a run whose log is larger than a check may carry', () => {
  it('comes home through a file: the whole log kept here, the branch fetched, the spec done', () => {
    // 20 MB of output, then a file committed as its work: the check's answer is cut at 16 MB, so the run is collected on its own.
    const agent = { command: [NODE, '-e', `${loud(20, 1, 0).replace('process.exit(0)', '')};fs.mkdirSync('out',{recursive:true});fs.writeFileSync('out/far.txt','far\\n')`], prompt: 'none' };
    const dir = hostProject('bigans2', { agents: { loud: agent }, agent: 'loud' });
    const env = { ...GIT_ENV, PATH: `${fakeSsh()}:${process.env.PATH}` };
    const r = dispatch(dir, ['run', '--yes', '--no-plan'], { env, timeout: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(readStateOf(dir).completed).toEqual(['001']);
    const log = readFileSync(join(dir, '.codex', 'logs', '001.attempt-1.log'));
    expect(log.length).toBeGreaterThan(20 * MB);
    expect(log.toString('latin1')).toMatch(/\nlast line\n/);
    expect(git(dir, 'show', 'dispatch/001:out/far.txt')).toBe('far\n');
  }, 120_000);
});
