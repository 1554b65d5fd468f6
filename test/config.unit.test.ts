import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { describeIssue, formatPath } from '../src/config/issues.js';
import { resolveConfig, type ResolvedConfig } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';
import { closest, computeWaves, type WaveInput } from '../src/config/waves.js';

const CONFIG = '/proj/specs.config.ts';

const spec = (id: string, dependsOn: string[] = [], wave?: number): WaveInput => ({ id, dependsOn, ...(wave !== undefined ? { wave } : {}) });

function wavesOf(specs: WaveInput[]): Record<string, number> {
  const { waves, problems } = computeWaves(specs);
  expect(problems).toEqual([]);
  return Object.fromEntries(waves);
}

/** The problem lines resolveConfig reports (it must throw a ConfigError). */
async function problemsOf(raw: unknown): Promise<string[]> {
  let caught: unknown;
  try {
    await resolveConfig(raw, CONFIG);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const e = caught as ConfigError;
  expect(e.exitCode).toBe(2);
  expect(e.message).toContain(CONFIG);
  expect(e.message).toContain(`(${e.details.length} problem${e.details.length > 1 ? 's' : ''})`);
  return e.details;
}

const row = (over: Record<string, unknown> = {}) => ({ id: '001', name: 'alpha', cost: 1, agent: 'codex', ...over });
const table = (...specs: Record<string, unknown>[]) => ({ project: 'demo', specs });

describe('computeWaves', () => {
  it('gives a spec without dependencies wave 0', () => {
    expect(wavesOf([spec('001'), spec('002')])).toEqual({ '001': 0, '002': 0 });
  });

  it('keeps explicit waves, even ones that leave gaps', () => {
    expect(wavesOf([spec('001', [], 0), spec('002', ['001'], 5), spec('003', [], 2)])).toEqual({ '001': 0, '002': 5, '003': 2 });
  });

  it('computes one more than the highest dependency wave', () => {
    const w = wavesOf([spec('001', [], 0), spec('002', [], 3), spec('003', ['001', '002']), spec('004', ['001'])]);
    expect(w['003']).toBe(4);
    expect(w['004']).toBe(1);
  });

  it('follows chains of computed waves whatever the order of the table', () => {
    // the dependents come first in the table: the computation must not depend on order
    expect(wavesOf([spec('004', ['003']), spec('003', ['002']), spec('002', ['001']), spec('001')])).toEqual({ '001': 0, '002': 1, '003': 2, '004': 3 });
  });

  it('builds on explicit waves of dependencies', () => {
    expect(wavesOf([spec('011', [], 1), spec('012', ['011']), spec('013', ['012', '011'])])).toEqual({ '011': 1, '012': 2, '013': 3 });
  });

  it('reports a two-spec cycle naming both specs', () => {
    const { problems } = computeWaves([spec('001', ['002']), spec('002', ['001'])]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/cycle/);
    expect(problems[0]).toContain('001');
    expect(problems[0]).toContain('002');
  });

  it('reports a longer cycle once, naming every spec on it and not the ones outside', () => {
    const { problems } = computeWaves([spec('000'), spec('001', ['003', '000']), spec('002', ['001']), spec('003', ['002']), spec('009', ['003'])]);
    const cycles = problems.filter((p) => /cycle/.test(p));
    expect(cycles).toHaveLength(1);
    for (const id of ['001', '002', '003']) expect(cycles[0]).toContain(id);
    expect(cycles[0]).not.toContain('000');
    expect(cycles[0]).not.toContain('009');
  });

  it('reports a spec that depends on itself', () => {
    const { problems } = computeWaves([spec('001', ['001'])]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/001 depends on itself/);
  });

  it('reports an unknown dependency naming the spec and the missing id, with the closest ids', () => {
    const { problems } = computeWaves([spec('011'), spec('012', ['11'])]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('012');
    expect(problems[0]).toContain("'11'");
    expect(problems[0]).toMatch(/did you mean '011'/);
  });

  it('reports duplicate ids with their position', () => {
    const { problems } = computeWaves([spec('001'), spec('002'), spec('001')]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^specs\[2\]\.id: duplicate id '001'/);
  });

  it('reports a dependency in the same wave, naming both specs and waves', () => {
    const { problems } = computeWaves([spec('001', [], 1), spec('002', ['001'], 1)]);
    expect(problems).toEqual(['spec 002 (wave 1) depends on 001 (wave 1) — a dependency must sit in an earlier wave']);
  });

  it('reports a dependency in a later wave, also when the dependency wave is computed', () => {
    const { problems } = computeWaves([spec('001', [], 0), spec('002', ['001']), spec('003', ['002'], 1)]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('spec 003 (wave 1) depends on 002 (wave 1)');
  });

  it('reports every kind of problem in one pass', () => {
    const { problems } = computeWaves([
      spec('001', ['002']),
      spec('002', ['001']),
      spec('003', ['zzz']),
      spec('003'),
      spec('004', [], 0),
      spec('005', ['004'], 0),
    ]);
    expect(problems.some((p) => /cycle/.test(p))).toBe(true);
    expect(problems.some((p) => p.includes("'zzz'"))).toBe(true);
    expect(problems.some((p) => p.includes("duplicate id '003'"))).toBe(true);
    expect(problems.some((p) => p.includes('spec 005 (wave 0) depends on 004 (wave 0)'))).toBe(true);
  });
});

describe('closest', () => {
  const ids = ['001', '002', '011', '012', '020'];

  it('puts the nearest id first', () => {
    expect(closest('11', ids)).toMatch(/^ \(did you mean '011'/);
    expect(closest('O12', ids)).toMatch(/^ \(did you mean '012'/);
    expect(closest('0011', ['011', '120'])).toBe(" (did you mean '011'?)");
  });

  it('suggests at most three ids', () => {
    expect(closest('01', ids).match(/'/g)).toHaveLength(6);
  });

  it('suggests nothing when no id is near', () => {
    expect(closest('core-commands', ids)).toBe('');
  });
});

describe('resolveConfig', () => {
  it('fills the defaults and computes waves for a valid table', async () => {
    const c: ResolvedConfig = await resolveConfig(
      table(row({ id: '011', wave: 1 }), row({ id: '012', name: 'llm', cost: 4, agent: 'ac', mode: 'isolated', dependsOn: ['011'], title: 'LLM client' })),
      CONFIG,
    );
    expect(c.project).toBe('demo');
    expect(c.session).toBe('demo');
    expect(c.rootDir).toBe('/proj');
    expect(c.specsDir).toBe('/proj/.auto-claude/specs');
    expect(c.stateDir).toBe('/proj/.codex');
    expect(c.signalDir).toBe(tmpdir());
    expect(c.waves).toEqual([1, 2]);
    expect(c.specs).toEqual([
      { id: '011', name: 'alpha', wave: 1, cost: 1, agent: 'codex', mode: 'direct', dependsOn: [] },
      { id: '012', name: 'llm', wave: 2, cost: 4, agent: 'ac', mode: 'isolated', dependsOn: ['011'], title: 'LLM client' },
    ]);
  });

  it('resolves specsDir, stateDir and signalDir relative to the config file', async () => {
    const c = await resolveConfig({ ...table(row()), session: 'wise-xylophone', specsDir: 'specs', stateDir: 'state/x', signalDir: '../sig' }, CONFIG);
    expect(c.session).toBe('wise-xylophone');
    expect(c.specsDir).toBe('/proj/specs');
    expect(c.stateDir).toBe('/proj/state/x');
    expect(c.signalDir).toBe('/sig');
  });

  it('says cost must be 1–4, naming the field path', async () => {
    const specs = [row({ id: '001' }), row({ id: '002' }), row({ id: '003' }), row({ id: '004', cost: 7 })];
    expect(await problemsOf(table(...specs))).toEqual(['specs[3].cost: expected 1–4, got 7']);
    expect(await problemsOf(table(row({ cost: 0 })))).toEqual(['specs[0].cost: expected 1–4, got 0']);
  });

  it('rejects a fractional or quoted cost', async () => {
    expect(await problemsOf(table(row({ cost: 2.5 })))).toEqual([expect.stringMatching(/^specs\[0\]\.cost: expected an integer, got 2\.5$/)]);
    expect(await problemsOf(table(row({ cost: '3' })))).toEqual([expect.stringMatching(/^specs\[0\]\.cost: expected .*, got "3"$/)]);
  });

  it('says a numeric id loses its leading zeros', async () => {
    const [line] = await problemsOf(table(row({ id: 11 })));
    expect(line).toMatch(/^specs\[0\]\.id: expected a string id, got the number 11/);
    expect(line).toContain('leading zeros');
    expect(line).toContain("'011'");
  });

  it('says the same of a numeric dependency', async () => {
    const [line] = await problemsOf(table(row({ id: '011' }), row({ id: '012', dependsOn: [11] })));
    expect(line).toMatch(/^specs\[1\]\.dependsOn\[0\]: expected a string id, got the number 11/);
    expect(line).toContain('leading zeros');
  });

  it('names unknown keys, in a spec and at the top level', async () => {
    const lines = await problemsOf({ ...table(row({ colour: 'red' })), projct: 'x' });
    expect(lines).toHaveLength(2);
    expect(lines).toContain('specs[0]: unknown key "colour" — check the spelling');
    expect(lines.find((l) => l.includes('"projct"'))).toMatch(/unknown key "projct"/);
  });

  it('lists the allowed modes', async () => {
    expect(await problemsOf(table(row({ mode: 'worktree' })))).toEqual(['specs[0].mode: expected one of "direct", "isolated", got "worktree"']);
  });

  it('reports a missing project and a missing spec table', async () => {
    const lines = await problemsOf({});
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.startsWith('project:'))).toMatch(/got nothing/);
    expect(lines.find((l) => l.startsWith('specs:'))).toMatch(/expected array, got nothing/);
  });

  it('reports a config that is not an object', async () => {
    expect(await problemsOf(null)).toEqual([expect.stringMatching(/^\(config\): expected object, got null$/)]);
  });

  it('rejects ids and names that would escape the specs folder', async () => {
    const lines = await problemsOf(table(row({ id: 'a/b' }), row({ id: '..', name: 'x' }), row({ id: '003', name: '../up' }), row({ id: '004', name: '' })));
    expect(lines.find((l) => l.startsWith('specs[0].id:'))).toMatch(/letters, digits.*got "a\/b"/);
    expect(lines.find((l) => l.startsWith('specs[1].id:'))).toMatch(/\.\./);
    expect(lines.find((l) => l.startsWith('specs[2].name:'))).toMatch(/path separators/);
    expect(lines.find((l) => l.startsWith('specs[3].name:'))).toMatch(/must not be empty/);
  });

  it('rejects a negative wave and a bad project name', async () => {
    const lines = await problemsOf({ project: 'my project', specs: [row({ wave: -1 })] });
    expect(lines).toContain('specs[0].wave: expected at least 0, got -1');
    expect(lines.find((l) => l.startsWith('project:'))).toContain('"my project"');
  });

  it('reports every schema problem at once, one line each', async () => {
    const lines = await problemsOf(table(row({ cost: 9 }), row({ id: 12, mode: 'x' }), row({ id: '003', name: 'c', typo: 1 })));
    expect(lines).toHaveLength(4);
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual(['specs[0].cost', 'specs[1].id', 'specs[1].mode', 'specs[2]']);
  });

  it('reports an unknown agent, naming the builtin ones', async () => {
    expect(await problemsOf(table(row({ agent: 'gemini' })))).toEqual([expect.stringMatching(/^specs\[0\]\.agent: unknown agent "gemini" — expected one of "codex", "ac", "claude"/)]);
  });

  it('reports wave problems as config problems naming the specs', async () => {
    const lines = await problemsOf(table(row({ id: '001', dependsOn: ['002'] }), row({ id: '002', dependsOn: ['001'] }), row({ id: '001', name: 'dup' })));
    expect(lines.some((l) => /cycle/.test(l) && l.includes('001') && l.includes('002'))).toBe(true);
    expect(lines.some((l) => l.includes("duplicate id '001'"))).toBe(true);
  });

  it('reports schema problems and table problems of other specs together', async () => {
    // "every problem reported at once": a bad cost must not hide an unknown dependency or agent elsewhere
    const lines = await problemsOf(table(row({ id: '001', cost: 7 }), row({ id: '002', dependsOn: ['009'] }), row({ id: '003', agent: 'gemini' })));
    expect(lines).toContain('specs[0].cost: expected 1–4, got 7');
    expect(lines.some((l) => l.includes("'009'"))).toBe(true);
    expect(lines.some((l) => l.includes('"gemini"'))).toBe(true);
  });
});

describe('describeIssue', () => {
  it('formats zod paths the way a config is written', () => {
    expect(formatPath(['specs', 3, 'cost'])).toBe('specs[3].cost');
    expect(formatPath(['planner', 'concurrency'])).toBe('planner.concurrency');
    expect(formatPath([])).toBe('(config)');
  });

  it('turns each zod issue into one line with the path, what was expected and what was given', () => {
    const raw = { project: 'demo', planner: { concurrency: 100, retries: -1 }, specs: [row()] };
    const parsed = configSchema.safeParse(raw);
    expect(parsed.success).toBe(false);
    const lines = parsed.error!.issues.map((i) => describeIssue(i, raw)).sort();
    expect(lines).toEqual(['planner.concurrency: expected at most 64, got 100', 'planner.retries: expected at least 0, got -1']);
  });
});

describe('scheduling keys', () => {
  it('default to waves, a manual merge and 5/15/30/60 minutes by cost', async () => {
    const c = await resolveConfig(table(row()), CONFIG);
    expect([c.schedule, c.merge, c.estimateMinutes]).toEqual(['waves', 'manual', { 1: 5, 2: 15, 3: 30, 4: 60 }]);
    const e = await resolveConfig({ ...table(row()), schedule: 'eager', merge: 'auto', estimateMinutes: { 4: 120 } }, CONFIG);
    expect([e.schedule, e.merge, e.estimateMinutes[4], e.estimateMinutes[1]]).toEqual(['eager', 'auto', 120, 5]);
  });

  it('name each bad value with its field', async () => {
    const problems = await problemsOf({ ...table(row()), schedule: 'fast', merge: 'yes', estimateMinutes: { 2: -1, 5: 3 } });
    expect(problems.join('\n')).toMatch(/schedule/);
    expect(problems.join('\n')).toMatch(/merge/);
    expect(problems.filter((p) => p.startsWith('estimateMinutes')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('project names', () => {
  // It names folders and branches on SSH hosts (`dispatch-remote/<project>-<key>/<id>`): refused here, not at launch.
  it.each(['a..b', 'x.lock', '.', '..', '.hidden', 'end.', 'p'.repeat(65)])('%j is a config error naming the project', async (project) => {
    const problems = await problemsOf({ ...table(row()), project });
    expect(problems).toEqual([expect.stringMatching(/^project: /)]);
  });
  it.each(['demo', 'a.b', 'my_proj-2', 'p'.repeat(64)])('%j is accepted', async (project) => {
    expect((await resolveConfig({ ...table(row()), project }, CONFIG)).project).toBe(project);
  });
});
