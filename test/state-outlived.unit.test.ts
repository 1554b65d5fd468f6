// The state transitions of decisions by hand on SSH runs: a run that goes on
// after its spec was decided is kept (outlived) until it ends, and only that
// very run ends it; places given up are kept to be checked again; a state
// file whose new fields have the wrong shape is named, not trusted.
import { describe, expect, it } from 'vitest';
import { decideByHand, emptyState, endOutlived, extra, hasRemoteWork, markRunning, requestStop, shapeProblem, stallReason, stateOf, type RunnerInfo, type StateDoc } from '../src/state/doc.js';

const place = { host: '10.0.0.7', port: 2222, dispatch: 'dispatch', dir: '/srv/p', base: '/srv/p/.dispatch/p', label: 'p-001-1', session: 'p-001-1-abc' };
const sshRun = (attempt = 1): RunnerInfo => ({ pid: 4242, host: 'h1', startedAt: '2026-12-07T10:00:00.000Z', attempt, executor: 'ssh', place });

function running(r: RunnerInfo, id = '001'): StateDoc {
  const doc = emptyState();
  markRunning(doc, id, r);
  extra(doc).specs[id]!.history = [{ n: r.attempt ?? 1, startedAt: r.startedAt }];
  return doc;
}

describe('decideByHand', () => {
  it('keeps an SSH run that goes on as outlived; the spec takes the state given by hand, kind manual', () => {
    const doc = running(sshRun());
    expect(decideByHand(doc, '001', 'done')).toBe(true);
    expect(stateOf(doc, '001')).toBe('done');
    expect(doc.dispatch!.specs['001']!.kind).toBe('manual');
    expect(doc.dispatch!.outlived!['001']).toMatchObject({ attempt: 1, host: 'h1', place });
    expect(doc.dispatch!.running['001']).toBeUndefined();
    // The attempt stays open: its end is the run's to say.
    expect(doc.dispatch!.specs['001']!.history![0]!.endedAt).toBeUndefined();
    expect(hasRemoteWork(doc)).toBe(true);
  });

  it('a local run is not kept: its runner closes its own attempt', () => {
    const doc = running({ pid: 4242, host: 'here', startedAt: '2026-12-07T10:00:00.000Z', attempt: 1 });
    decideByHand(doc, '001', 'skipped');
    expect(doc.dispatch!.outlived).toBeUndefined();
    expect(hasRemoteWork(doc)).toBe(false);
  });

  it('a second decision keeps the outlived run as it is', () => {
    const doc = running(sshRun());
    decideByHand(doc, '001', 'done');
    decideByHand(doc, '001', 'skipped');
    expect(stateOf(doc, '001')).toBe('skipped');
    expect(doc.dispatch!.outlived!['001']!.attempt).toBe(1);
  });
});

describe('endOutlived', () => {
  it('closes that very attempt and forgets the run; the spec keeps the state given by hand', () => {
    const doc = running(sshRun());
    decideByHand(doc, '001', 'failed', 'going wrong');
    expect(endOutlived(doc, '001', 1, { state: 'done', kind: 'done' })).toBe(true);
    expect(doc.dispatch!.outlived).toBeUndefined();
    expect(doc.dispatch!.specs['001']!.history![0]).toMatchObject({ n: 1, state: 'done', kind: 'done' });
    expect(stateOf(doc, '001')).toBe('failed');
    expect(doc.dispatch!.specs['001']!.reason).toBe('going wrong');
  });

  it('another attempt ends nothing', () => {
    const doc = running(sshRun(2));
    decideByHand(doc, '001', 'done');
    expect(endOutlived(doc, '001', 1, { state: 'failed', kind: 'lost' })).toBe(false);
    expect(doc.dispatch!.outlived!['001']).toBeDefined();
  });
});

describe('shapeProblem of the new fields', () => {
  const base = { completed: [], failed: [], skipped: [], dispatch: { version: 1, running: {}, specs: {} } };
  it.each([
    [{ outlived: [] }, /"dispatch.outlived" must be an object/],
    [{ outlived: { '001': { pid: 'x', startedAt: 'now' } } }, /"dispatch.outlived.001.pid" must be a whole number/],
    [{ outlived: { '001': { pid: 1, startedAt: 'now', place: { host: 'h' } } } }, /"dispatch.outlived.001.place.dir" must be a string/],
    [{ recheck: 'soon' }, /"dispatch.recheck" must be an object/],
    [{ recheck: { k: { host: 'h1' } } }, /"dispatch.recheck.k.place" must be an object/],
    [{ recheck: { k: { place } } }, /"dispatch.recheck.k" must be an object \(host, place\)/],
  ])('%j is named', (extraFields, message) => {
    expect(shapeProblem({ ...base, dispatch: { ...base.dispatch, ...extraFields } })).toMatch(message);
  });

  it('well-formed ones pass', () => {
    expect(shapeProblem({ ...base, dispatch: { ...base.dispatch, outlived: { '001': sshRun() }, recheck: { k: { host: 'h2', place } } } })).toBeUndefined();
  });
});

describe('requestStop', () => {
  it("names why and as what on a running spec's record, only for the very launch asked about", () => {
    const doc = running(sshRun(2));
    expect(requestStop(doc, '001', 'interrupted: stopped by hand', 'interrupted', (r) => r.attempt === 1)).toBe(false);
    expect(doc.dispatch!.specs['001']!.stopReason).toBeUndefined();
    expect(requestStop(doc, '001', stallReason(30, false), 'stalled', (r) => r.attempt === 2)).toBe(true);
    expect(doc.dispatch!.specs['001']).toMatchObject({ stopReason: 'stalled: no output for 30 s', stopKind: 'stalled' });
    expect(requestStop(emptyState(), '001', 'x', 'interrupted')).toBe(false);
  });

  it('a stall reason in seconds, in minutes from two minutes on, and says a restart', () => {
    expect(stallReason(119.6, false)).toBe('stalled: no output for 120 s');
    expect(stallReason(600, true)).toBe('stalled: no output for 10 min (restarting)');
  });
});
