// The shape of what an SSH run leaves in the state (a running entry's `place`, runs outlived after a
// decision by hand, places to check again), checked as a user would meet it: the exact one-line
// message naming the first wrong field of a hand-edited or damaged file, and the right file accepted.
// Then the bounds and identities the state keeps: a long reason cut to size, one place under one key.
import { describe, expect, it } from 'vitest';
import {
  boundReason, emptyState, endOutlived, decideByHand, hasRemoteWork, markRunning, placeKey, recheckDone, recheckLater,
  normalize, REASON_MAX, setState, shapeProblem, type RunnerInfo,
} from '../src/state/doc.js';

const AT = '2026-12-07T10:00:00.000Z';
/** A place as `placement` records it: every field right. */
const place = (): Record<string, unknown> => ({
  host: '10.0.0.7', port: 2222, identityFile: '/home/u/.ssh/id_ed25519', options: ['-o', 'StrictHostKeyChecking=yes'],
  dispatch: ['npx', 'dispatch'], dir: '/srv/p', base: '/srv/p/.dispatch/p', label: 'p-001-2', session: 'p-001-2-abc',
});
const sshRunner = (p: unknown = place()) => ({ pid: 4242, host: 'h1', startedAt: AT, attempt: 2, executor: 'ssh', place: p });

/** A state file with one SSH run going on, its place edited by `edit`. */
function runningWith(edit: (p: Record<string, unknown>) => void): unknown {
  const p = place();
  edit(p);
  return { completed: [], failed: [], skipped: [], dispatch: { version: 1, running: { '001': sshRunner(p) }, specs: {} } };
}
/** A state file holding the given dispatch sections beside empty running and specs. */
const withSections = (sections: Record<string, unknown>): unknown => ({
  completed: [], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: {}, ...sections },
});

describe("a running SSH entry's place", () => {
  it('is accepted with every field right, and with only the fields it needs', () => {
    expect(shapeProblem(runningWith(() => {}))).toBeUndefined();
    expect(shapeProblem(runningWith((p) => {
      delete p.port;
      delete p.identityFile;
      delete p.options;
      p.dispatch = 'dispatch';
    }))).toBeUndefined();
    // a command given as a list, and ssh options that are none
    expect(shapeProblem(runningWith((p) => {
      p.dispatch = ['dispatch'];
      p.options = [];
    }))).toBeUndefined();
  });

  it.each([1, 22, 65535])('port %d is a port', (port) => {
    expect(shapeProblem(runningWith((p) => { p.port = port; }))).toBeUndefined();
  });

  const PLACE = 'dispatch.running.001.place';
  const cases: [string, (p: Record<string, unknown>) => void, string][] = [
    ['host missing', (p) => { delete p.host; }, `"${PLACE}.host" must be a string`],
    ['host a number', (p) => { p.host = 7; }, `"${PLACE}.host" must be a string`],
    ['host empty', (p) => { p.host = ''; }, `"${PLACE}.host" must be a string`],
    ['dir missing', (p) => { delete p.dir; }, `"${PLACE}.dir" must be a string`],
    ['dir a number', (p) => { p.dir = 7; }, `"${PLACE}.dir" must be a string`],
    ['dir empty', (p) => { p.dir = ''; }, `"${PLACE}.dir" must be a string`],
    ['base a list', (p) => { p.base = ['/srv/p']; }, `"${PLACE}.base" must be a string`],
    ['base empty', (p) => { p.base = ''; }, `"${PLACE}.base" must be a string`],
    ['label true', (p) => { p.label = true; }, `"${PLACE}.label" must be a string`],
    ['label empty', (p) => { p.label = ''; }, `"${PLACE}.label" must be a string`],
    ['session a number', (p) => { p.session = 1; }, `"${PLACE}.session" must be a string`],
    ['session missing', (p) => { delete p.session; }, `"${PLACE}.session" must be a string`],
    ['identityFile a number', (p) => { p.identityFile = 1; }, `"${PLACE}.identityFile" must be a string`],
    ['identityFile a list', (p) => { p.identityFile = ['/k']; }, `"${PLACE}.identityFile" must be a string`],
    ['port 0', (p) => { p.port = 0; }, `"${PLACE}.port" must be a port number`],
    ['port -22', (p) => { p.port = -22; }, `"${PLACE}.port" must be a port number`],
    ['port 65536', (p) => { p.port = 65536; }, `"${PLACE}.port" must be a port number`],
    ['port 70000', (p) => { p.port = 70000; }, `"${PLACE}.port" must be a port number`],
    ['port 22.5', (p) => { p.port = 22.5; }, `"${PLACE}.port" must be a port number`],
    ['port a string', (p) => { p.port = '22'; }, `"${PLACE}.port" must be a port number`],
    ['port null', (p) => { p.port = null; }, `"${PLACE}.port" must be a port number`],
    ['options a string', (p) => { p.options = '-o BatchMode=yes'; }, `"${PLACE}.options" must be a list of ssh options`],
    ['options holding a number', (p) => { p.options = ['-p', 22]; }, `"${PLACE}.options" must be a list of ssh options`],
    ['options holding null first', (p) => { p.options = [null, '-v']; }, `"${PLACE}.options" must be a list of ssh options`],
    ['options an object', (p) => { p.options = { BatchMode: 'yes' }; }, `"${PLACE}.options" must be a list of ssh options`],
    ['dispatch missing', (p) => { delete p.dispatch; }, `"${PLACE}.dispatch" must be a command`],
    ['dispatch a number', (p) => { p.dispatch = 5; }, `"${PLACE}.dispatch" must be a command`],
    ['dispatch an empty list', (p) => { p.dispatch = []; }, `"${PLACE}.dispatch" must be a command`],
    ['dispatch a list holding a number', (p) => { p.dispatch = ['npx', 5]; }, `"${PLACE}.dispatch" must be a command`],
    ['dispatch an object', (p) => { p.dispatch = { cmd: 'dispatch' }; }, `"${PLACE}.dispatch" must be a command`],
  ];
  it.each(cases)('%s is named', (_name, edit, message) => {
    expect(shapeProblem(runningWith(edit))).toBe(message);
  });

  it('a place that is not an object is named, and the first wrong field is the one named', () => {
    expect(shapeProblem({ completed: [], failed: [], skipped: [], dispatch: { version: 1, running: { '001': sshRunner('10.0.0.7') }, specs: {} } }))
      .toBe('"dispatch.running.001.place" must be an object (host, dir, base, label, session)');
    expect(shapeProblem({ completed: [], failed: [], skipped: [], dispatch: { version: 1, running: { '001': sshRunner([]) }, specs: {} } }))
      .toBe('"dispatch.running.001.place" must be an object (host, dir, base, label, session)');
    expect(shapeProblem(runningWith((p) => { p.port = 0; p.dispatch = []; }))).toBe('"dispatch.running.001.place.port" must be a port number');
  });
});

describe('maps read back from the file', () => {
  it('have no prototype: an id __proto__ is a key of outlived and recheck like any other', () => {
    const raw = JSON.parse(`{"completed":[],"failed":[],"skipped":[],"dispatch":{"version":1,"running":{},"specs":{},"outlived":{"__proto__":${JSON.stringify(sshRunner())}},"recheck":{"__proto__":{"host":"h1","place":${JSON.stringify(place())}}}}}`);
    const doc = normalize(raw);
    expect(Object.keys(doc.dispatch!.outlived!)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(doc.dispatch!.outlived)).toBeNull();
    expect(Object.keys(doc.dispatch!.recheck!)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(doc.dispatch!.recheck)).toBeNull();
    // A second run decided by hand is kept beside it.
    markRunning(doc, '002', sshRunner() as RunnerInfo);
    decideByHand(doc, '002', 'done');
    expect(Object.keys(doc.dispatch!.outlived!).sort()).toEqual(['002', '__proto__']);
  });
});

describe('a run outlived after a decision by hand', () => {
  it('is checked as a running entry is, under its own name', () => {
    expect(shapeProblem(withSections({ outlived: { '001': sshRunner() } }))).toBeUndefined();
    expect(shapeProblem(withSections({ outlived: { '001': 'gone' } }))).toBe('"dispatch.outlived.001" must be an object (a runner: pid, startedAt)');
    expect(shapeProblem(withSections({ outlived: { '001': { ...sshRunner(), startedAt: 5 } } }))).toBe('"dispatch.outlived.001.startedAt" must be a time string');
    expect(shapeProblem(withSections({ outlived: { '001': { ...sshRunner(), executor: 'tmux' } } }))).toBe('"dispatch.outlived.001.executor" must be one of "ssh"');
    // Only a remote run outlives a decision by hand: one naming no executor is not taken for a local one.
    const { executor: _e, ...local } = sshRunner();
    expect(shapeProblem(withSections({ outlived: { 'a b': local } }))).toBe('"dispatch.outlived["a b"].executor" must be one of "ssh"');
    expect(shapeProblem(withSections({ outlived: { '001': sshRunner({ ...place(), port: 65536 }) } }))).toBe('"dispatch.outlived.001.place.port" must be a port number');
    expect(shapeProblem(withSections({ outlived: { 'a b': sshRunner({ ...place(), session: '' }) } }))).toBe('"dispatch.outlived["a b"].place.session" must be a string');
  });

  it('a right one does not hide a wrong spec record after it', () => {
    expect(shapeProblem(withSections({ outlived: { '001': sshRunner() }, specs: { '001': { attempts: 'two' } } })))
      .toBe('"dispatch.specs.001.attempts" must be a number');
  });
});

describe('a place to check again', () => {
  const key = placeKey('10.0.0.7', 2222, '/srv/p/.dispatch/p');
  const quoted = `dispatch.recheck[${JSON.stringify(key)}]`;

  it('is accepted as recheckLater writes it, under its place key', () => {
    const doc = emptyState();
    recheckLater(doc, { pid: 0, host: 'h1', startedAt: AT, place: place() as never });
    expect(Object.keys(doc.dispatch!.recheck!)).toEqual([key]);
    expect(shapeProblem(JSON.parse(JSON.stringify(doc)))).toBeUndefined();
  });

  it.each([
    ['a string', 'soon', `"${quoted}" must be an object (host, place)`],
    ['a list', [], `"${quoted}" must be an object (host, place)`],
    ['without its host', { place: place() }, `"${quoted}" must be an object (host, place)`],
    ['with a numeric host', { host: 1, place: place() }, `"${quoted}" must be an object (host, place)`],
    ['without its place', { host: 'h1' }, `"${quoted}.place" must be an object (host, dir, base, label, session)`],
    ['with a place without a label', { host: 'h1', place: { ...place(), label: undefined } }, `"${quoted}.place.label" must be a string`],
    ['with a place whose port is 0', { host: 'h1', place: { ...place(), port: 0 } }, `"${quoted}.place.port" must be a port number`],
    ['with a place whose command is empty', { host: 'h1', place: { ...place(), dispatch: [] } }, `"${quoted}.place.dispatch" must be a command`],
  ])('%s is named with its key quoted', (_name, entry, message) => {
    expect(shapeProblem(withSections({ recheck: { [key]: entry } }))).toBe(message);
  });

  it('a right one does not hide a wrong outlived run, spec record or wait after it', () => {
    const recheck = { [key]: { host: 'h1', place: place() } };
    expect(shapeProblem(withSections({ recheck, outlived: { '001': { pid: -1, startedAt: AT } } }))).toBe('"dispatch.outlived.001.pid" must be a whole number');
    expect(shapeProblem(withSections({ recheck, specs: { '001': 'done' } }))).toBe('"dispatch.specs.001" must be an object');
    expect(shapeProblem(withSections({ recheck, waiting: { '001': { until: 'later' } } }))).toBe('"dispatch.waiting.001.until" must be a time string');
  });
});

describe("an attempt's runner", () => {
  const withRunner = (runner: unknown) => withSections({ specs: { '001': { history: [{ n: 1, startedAt: AT, runner }] } } });
  it('is a process id: 1 and up, whole', () => {
    expect(shapeProblem(withRunner(1))).toBeUndefined();
    expect(shapeProblem(withRunner(4242))).toBeUndefined();
    for (const runner of [0, -3, 1.5, '4242', null]) expect(shapeProblem(withRunner(runner)), String(runner)).toBe('"dispatch.specs.001.history[0].runner" must be a process id');
  });
});

describe('one place, one key', () => {
  it('a trailing slash on the project folder is the same place; another port is another place', () => {
    expect(placeKey('h', 22, '/srv/p/.dispatch/p/')).toBe(placeKey('h', 22, '/srv/p/.dispatch/p'));
    expect(placeKey('h', 22, '/srv/p/.dispatch/p//')).toBe(placeKey('h', 22, '/srv/p/.dispatch/p'));
    expect(placeKey('h', 22, '/srv/p/.dispatch/p')).toBe('["h",22,"/srv/p/.dispatch/p"]');
    expect(placeKey('h', undefined, '/srv/p/.dispatch/p')).toBe('["h",null,"/srv/p/.dispatch/p"]');
    expect(placeKey('h', 2222, '/srv/p')).not.toBe(placeKey('h', 2223, '/srv/p'));
  });

  it('recheckLater keeps one entry per place, the latest host name for it', () => {
    const doc = emptyState();
    recheckLater(doc, { pid: 0, host: 'h1', startedAt: AT, place: { ...place(), base: '/srv/p/.dispatch/p/' } as never });
    recheckLater(doc, { pid: 0, host: 'renamed', startedAt: AT, place: place() as never });
    recheckLater(doc, { pid: 0, host: 'h3', startedAt: AT, place: { ...place(), port: 2223 } as never });
    expect(Object.keys(doc.dispatch!.recheck!)).toEqual([placeKey('10.0.0.7', 2222, '/srv/p/.dispatch/p'), placeKey('10.0.0.7', 2223, '/srv/p/.dispatch/p')]);
    expect(doc.dispatch!.recheck![placeKey('10.0.0.7', 2222, '/srv/p/.dispatch/p')]).toEqual({ host: 'renamed', place: place() });
    recheckDone(doc, placeKey('10.0.0.7', 2222, '/srv/p/.dispatch/p/'));
    expect(Object.keys(doc.dispatch!.recheck!)).toEqual([placeKey('10.0.0.7', 2223, '/srv/p/.dispatch/p')]);
  });

  it('a run with no place on record has nothing to check again', () => {
    const doc = emptyState();
    recheckLater(doc, { pid: 0, host: 'h1', startedAt: AT });
    expect(doc).toEqual(emptyState());
    expect(hasRemoteWork(doc)).toBe(false);
  });
});

describe('the original tool\'s file has no remote work', () => {
  it('no dispatch key: nothing remote, no outlived run to end, a hand decision just decides', () => {
    expect(hasRemoteWork({ completed: ['001'], failed: [], skipped: [] })).toBe(false);
    const doc = { completed: ['001'], failed: [], skipped: [] };
    expect(endOutlived(doc, '001', 1, { state: 'done', kind: 'done' })).toBe(false);
    expect(doc).toEqual({ completed: ['001'], failed: [], skipped: [] });
    expect(decideByHand(doc, '002', 'skipped')).toBe(true);
    expect(doc.skipped).toEqual(['002']);
    expect((doc as { dispatch?: { outlived?: unknown } }).dispatch?.outlived).toBeUndefined();
  });
});

describe('ending one outlived run of two', () => {
  it('keeps the other watched', () => {
    const doc = emptyState();
    for (const id of ['001', '002']) {
      markRunning(doc, id, sshRunner() as RunnerInfo);
      doc.dispatch!.specs[id]!.history = [{ n: 2, startedAt: AT }];
      decideByHand(doc, id, 'done');
    }
    expect(Object.keys(doc.dispatch!.outlived!)).toEqual(['001', '002']);
    expect(endOutlived(doc, '001', 2, { state: 'done', kind: 'done' })).toBe(true);
    expect(Object.keys(doc.dispatch!.outlived!)).toEqual(['002']);
    expect(hasRemoteWork(doc)).toBe(true);
  });
});

describe('a long reason is cut to REASON_MAX, saying how long it was', () => {
  const markerOf = (len: number) => `… [cut: ${len} characters in all]`;

  it('text of REASON_MAX characters or fewer is kept whole', () => {
    expect(REASON_MAX).toBe(4096);
    const exact = 'x'.repeat(4096);
    expect(boundReason(exact)).toBe(exact);
    expect(boundReason('short')).toBe('short');
    expect(boundReason(undefined)).toBeUndefined();
  });

  it('longer text keeps its start and ends with the marker, REASON_MAX characters in all; cutting again changes nothing', () => {
    const text = 'a'.repeat(3000) + 'b'.repeat(3000);
    const marker = markerOf(6000);
    const cut = boundReason(text);
    expect(cut).toBe(text.slice(0, 4096 - marker.length) + marker);
    expect(cut).toHaveLength(4096);
    expect(boundReason(cut)).toBe(cut);
    expect(boundReason('y'.repeat(4097))).toBe('y'.repeat(4096 - markerOf(4097).length) + markerOf(4097));
  });

  it('never cuts a character in half (a surrogate pair at the cut goes whole)', () => {
    const marker = markerOf(5000);
    const end = 4096 - marker.length;
    // The pair straddles the cut: its high half would be the last character kept.
    const text = 'a'.repeat(end - 1) + '😀' + 'b'.repeat(5000 - end - 1);
    expect(text).toHaveLength(5000);
    expect(boundReason(text)).toBe('a'.repeat(end - 1) + marker);
    // A pair just before the cut is kept whole.
    const before = 'a'.repeat(end - 2) + '😀' + 'b'.repeat(5000 - end);
    expect(boundReason(before)).toBe('a'.repeat(end - 2) + '😀' + marker);
  });

  it('a spec failed with a long reason keeps it cut, as its launch on record does', () => {
    const doc = emptyState();
    setState(doc, '001', 'failed', 'e'.repeat(10_000), 'agent-failed');
    expect(doc.dispatch!.specs['001']!.reason).toBe('e'.repeat(4096 - markerOf(10_000).length) + markerOf(10_000));
  });
});
