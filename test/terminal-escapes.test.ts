// Text from outside (a spec's name, a failure's reason, a host's answer, an
// agent's log) is shown, not obeyed: no terminal control it holds reaches the
// user's terminal raw, with colour or without, and the text stays readable as
// escapes (`\x1b`, `\r`, `\u202e`). `--json` stays JSON; `logs --raw` is the log as it is.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeProject, readStateOf, type RunResult, dispatchIn } from './helpers.js';
import { NODE, track } from './fixtures/engine.js';

const OSC = '\x1b]0;pwned\x07';
const RED = '\x1b[31m';
// A reason that, printed raw, retitles the terminal, turns it red, and draws a fake row over its own line.
const REASON = `boom ${OSC}${RED}red\r\n001  done  fake row`;
const SHOWN = 'boom \\x1b]0;pwned\\x07\\x1b[31mred\\r\\n001  done  fake row';
const NAME = `al${RED}pha`;
const NAME_SHOWN = 'al\\x1b[31mpha';

const plain = { FORCE_COLOR: '0', NO_COLOR: '1' };
const colour = { FORCE_COLOR: '1', NO_COLOR: undefined };

/** dispatch's own colours are the only escapes allowed; no CR, BEL, C1 nor bidi control at all. */
function expectNothingRaw(r: RunResult, opts: { colour: boolean }): void {
  for (const [stream, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    const own = opts.colour ? text.replace(/\x1b\[(1|22|2|31|32|33|34|35|36|39|90)m/g, '') : text;
    expect({ stream, raw: own.match(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g) ?? [] }).toEqual({ stream, raw: [] });
    // A hostile red looks like one of ours: it must be shown, so no raw `ESC[31m` sits right before text from outside.
    expect(text).not.toContain(`al${RED}`);
    expect(text).not.toContain(`${RED}red`);
    // No line of output is the fake row the reason carried.
    expect(text.split('\n').some((l) => l.startsWith('001  done  fake row'))).toBe(false);
  }
}

/** A project whose spec 001 has a hostile name and a failure recorded with a hostile reason; 002 rate-limited, 003 running on a host with hostile words. */
function hostileProject(): string {
  const dir = makeProject({
    format: 'json',
    specs: [
      { id: '001', name: NAME, wave: 0, cost: 1, agent: 'codex', title: `T${OSC}` },
      { id: '002', name: 'beta', wave: 1, cost: 1, agent: 'codex' },
      { id: '003', name: 'gamma', wave: 1, cost: 1, agent: 'codex' },
    ],
    state: {
      completed: [],
      failed: ['001'],
      skipped: [],
      dispatch: {
        version: 1,
        running: {},
        waiting: { '002': { until: '2999-01-01T00:00:00.000Z', agent: 'codex', reason: `limit\u202eevil${OSC}` } },
        specs: { '001': { reason: REASON, kind: 'agent-failed' }, '002': { state: 'rate-limited', reason: 'x' } },
      },
    },
  });
  return dir;
}

describe('terminal escapes from outside are shown, not obeyed', () => {
  for (const [label, env] of [['without colour', plain], ['with colour forced', colour]] as const) {
    it(`status shows a hostile failure reason and spec name as escapes (${label})`, async () => {
      const dir = hostileProject();
      const r = await dispatchIn(dir, ['status'], { env });
      expect(r.code).toBe(0);
      expectNothingRaw(r, { colour: env === colour });
      expect(r.stdout).toContain(NAME_SHOWN);
      expect(r.stdout).toContain(SHOWN);
      expect(r.stdout).toContain('limit\\u202eevil\\x1b]0;pwned\\x07');
    });

    it(`list and plan show a spec name holding escapes as escapes (${label})`, async () => {
      const dir = hostileProject();
      for (const verb of ['list', 'plan']) {
        const r = await dispatchIn(dir, [verb], { env });
        expect(r.code, r.stderr).toBe(0);
        expectNothingRaw(r, { colour: env === colour });
        expect(r.stdout).toContain(NAME_SHOWN);
      }
    });
  }

  it('--no-color status, mark-failed --reason and the error handler: nothing raw', async () => {
    const dir = makeProject({ format: 'json' });
    const marked = await dispatchIn(dir, ['mark-failed', '001', '--reason', REASON]);
    expect(marked.code).toBe(0);
    // The reason is kept as given: only its display changes.
    expect(readStateOf(dir).dispatch.specs['001'].reason).toBe(REASON);
    const r = await dispatchIn(dir, ['--no-color', 'status'], { env: colour });
    expectNothingRaw(r, { colour: false });
    expect(r.stdout).toContain(SHOWN);
    // An unknown id quoted back by the one error handler.
    const bad = await dispatchIn(dir, ['logs', `x${OSC}\r\n`]);
    expect(bad.code).toBe(2);
    expectNothingRaw(bad, { colour: false });
    expect(bad.stderr).toContain('x\\x1b]0;pwned\\x07\\r\\n');
    expect(bad.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--json keeps the reason exact and escapes C1 and bidi controls too', async () => {
    const dir = hostileProject();
    const r = await dispatchIn(dir, ['--json', 'status'], { env: colour });
    expect(r.code).toBe(0);
    expectNothingRaw(r, { colour: false });
    const s = JSON.parse(r.stdout);
    expect(s.failed[0].reason).toBe(REASON);
    expect(s.failed[0].name).toBe(NAME);
    expect(s.rateLimited[0].reason).toBe(`limit\u202eevil${OSC}`);
    expect(r.stdout).toContain('limit\\u202eevil');
  });

  for (const [label, env] of [['without colour', plain], ['with colour forced', colour]] as const) {
    it(`run prints an agent's hostile failure line as escapes (${label})`, async () => {
      const dir = track(makeProject({
        format: 'json',
        specs: [{ id: '001', name: 'alpha', wave: 0, cost: 1, agent: 'evil' }],
        extra: { multiplexer: 'headless', startTimeoutSeconds: 20, retry: { maxAttempts: 1 }, pacing: { cooldownSeconds: { 1: 0, 2: 0, 3: 0, 4: 0 } }, agents: { evil: { command: [NODE, '-e', `process.stderr.write(${JSON.stringify(`boom ${OSC}${RED}red\r001  done  fake row\n`)}); process.exit(3)`], prompt: 'none' } } },
      }));
      const r = await dispatchIn(dir, ['run', '--yes', '--no-plan'], { env });
      expect(r.code).toBe(1);
      expectNothingRaw(r, { colour: env === colour });
      // The summary on stdout and the event line on stderr both name it, escaped.
      expect(r.stdout).toContain('001: agent exited with code 3: boom \\x1b]0;pwned\\x07\\x1b[31mred\\r001  done  fake row');
      expect(r.stderr).toContain('001: agent exited with code 3: boom \\x1b]0;pwned\\x07\\x1b[31mred\\r001  done  fake row');
    });
  }

  it('logs shows escapes and keeps lines; --raw prints the log as it is', async () => {
    const dir = makeProject({ format: 'json' });
    mkdirSync(join(dir, '.codex', 'logs'), { recursive: true });
    const log = `line one ${OSC}\r\n${RED}red\x1b[0m line\r\nprogress\rdone \u202eevil\x9b2J\n`;
    writeFileSync(join(dir, '.codex', 'logs', '001.log'), log);
    const r = await dispatchIn(dir, ['logs', '001'], { env: colour });
    expect(r.code).toBe(0);
    expectNothingRaw(r, { colour: false });
    expect(r.stdout).toBe('line one \\x1b]0;pwned\\x07\n\\x1b[31mred\\x1b[0m line\nprogress\\rdone \\u202eevil\\u009b2J\n');
    const raw = await dispatchIn(dir, ['logs', '001', '--raw'], { env: colour });
    expect(raw.code).toBe(0);
    expect(raw.stdout).toBe(log);
  });

  it('review shows a spec.md holding escapes as escapes, its lines kept', async () => {
    const dir = makeProject({ format: 'json' });
    writeFileSync(join(dir, '.auto-claude', 'specs', '001-alpha', 'spec.md'), `# title${OSC}\nbody\r\n`);
    const r = await dispatchIn(dir, ['review', '001']);
    expect(r.code).toBe(0);
    expectNothingRaw(r, { colour: false });
    expect(r.stdout).toBe('# title\\x1b]0;pwned\\x07\nbody\n');
  });

  it('a dry run quotes an argument holding escapes as $\'...\' and shows a hostile name as escapes', async () => {
    const dir = makeProject({
      format: 'json',
      specs: [{ id: '001', name: NAME, wave: 0, cost: 1, agent: 'evil' }],
      extra: { multiplexer: 'headless', agents: { evil: { command: ['echo', `hi${OSC}`], prompt: 'none' } } },
    });
    const r = await dispatchIn(dir, ['run', '--dry-run', '--no-plan'], { env: colour });
    expectNothingRaw(r, { colour: true });
    expect(r.stdout).toContain(`001-${NAME_SHOWN}`);
    expect(r.stdout).toContain("echo $'hi\\x1b]0;pwned\\x07'");
  });
});
